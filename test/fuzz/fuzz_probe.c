/* libFuzzer target for the WAN health probe checks (otb_probe.h): any bytes
 * checked as a probe and as a reply never crash; what is accepted is
 * exactly what the sender functions make for its sequence number; a probe
 * is never accepted as a reply nor the reverse; a probe with a download
 * rate is accepted exactly when it is what the sender makes for its
 * sequence number and rate. */
#include <string.h>

#include "fuzz.h"
#include "otb_probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct otb_master m;
    static int ready;
    uint8_t again[OTB_PROBE_RATE_LEN];
    uint32_t seq, kbit;
    int rc;

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
    rc = otb_probe_parse_request(&m, data, size, &seq, &kbit);
    FUZZ_CHECK(rc == 0 || size == OTB_PROBE_LEN || size == OTB_PROBE_RATE_LEN);
    if (rc == 1 && size == OTB_PROBE_RATE_LEN) {
        otb_probe_request_rate(&m, seq, kbit, again);
        FUZZ_CHECK(memcmp(again, data, size) == 0);
        FUZZ_CHECK(!otb_probe_check_request(&m, data, OTB_PROBE_LEN, &seq));
    }
    if (rc == 1 && size == OTB_PROBE_LEN)
        FUZZ_CHECK(kbit == 0 && otb_probe_check_request(&m, data, size, &seq));
    if (size >= 8) { /* a rate probe made from these first bytes is accepted, rate and all */
        uint32_t want;
        memcpy(&seq, data, sizeof(seq));
        memcpy(&want, data + 4, sizeof(want));
        otb_probe_request_rate(&m, seq, want, again);
        FUZZ_CHECK(otb_probe_parse_request(&m, again, OTB_PROBE_RATE_LEN, &seq, &kbit) == 1 &&
                   kbit == want);
    }
    if (size >= 4) { /* what a sender makes for these first bytes is accepted */
        memcpy(&seq, data, sizeof(seq));
        otb_probe_request(&m, seq, again);
        FUZZ_CHECK(otb_probe_check_request(&m, again, OTB_PROBE_LEN, &seq));
    }
    return 0;
}
