/* libFuzzer target for the address watcher's walk over netlink messages:
 * arbitrary bytes as what a recv() on the rtnetlink socket returned. */
#include <linux/netlink.h>

#include "fuzz.h"
#include "otb_ifwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The watcher reads into an aligned buffer of this size. */
    static union {
        struct nlmsghdr h;
        uint8_t b[8192];
    } buf;

    if (size > sizeof(buf.b))
        size = sizeof(buf.b);
    memcpy(buf.b, data, size);
    (void)otb_ifwatch_addr_event(&buf, size);
    return 0;
}
