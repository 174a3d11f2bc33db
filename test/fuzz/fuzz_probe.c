/* libFuzzer target for the WAN health probe checks (otb_probe.h): any bytes
 * checked as a probe and as a reply never crash; what is accepted is
 * exactly what the sender functions make for its sequence number; a probe
 * is never accepted as a reply nor the reverse. */
#include <string.h>

#include "fuzz.h"
#include "otb_probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct otb_master m;
    static int ready;
    uint8_t again[OTB_PROBE_LEN];
    uint32_t seq;

    if (!ready) {
        otb_master_from_password(&m, OTB_AES_256_GCM, "fuzz");
        ready = 1;
    }
    if (otb_probe_check_request(&m, data, size, &seq)) {
        otb_probe_request(&m, seq, again);
        FUZZ_CHECK(size == OTB_PROBE_LEN && memcmp(again, data, size) == 0);
        FUZZ_CHECK(!otb_probe_check_reply(&m, data, size, &seq));
    }
    if (otb_probe_check_reply(&m, data, size, &seq)) {
        otb_probe_reply(&m, seq, again);
        FUZZ_CHECK(size == OTB_PROBE_LEN && memcmp(again, data, size) == 0);
    }
    if (size >= 4) { /* what a sender makes for these first bytes is accepted */
        memcpy(&seq, data, sizeof(seq));
        otb_probe_request(&m, seq, again);
        FUZZ_CHECK(otb_probe_check_request(&m, again, sizeof(again), &seq));
    }
    return 0;
}
