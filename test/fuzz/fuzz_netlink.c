/* libFuzzer target for the netlink reply parsers: arbitrary bytes are walked
 * as a received datagram (sequence number from the first header) and each
 * message, and the whole input, go to the route, controller and MPTCP
 * endpoint parsers, and to the address event check. The outputs are heap arrays of exactly the capacity
 * given, so a write past it is seen by the address sanitizer; the answers
 * must not depend on that capacity, and parsed entries must be sane. */

#include <netinet/in.h>

#include "fuzz.h"
#include "otb_netlink.h"

#define FUZZ_NL_CAP 4

static void fuzz_route(const void *msg, size_t len)
{
    struct otb_nl_route *one = malloc(sizeof(*one));
    struct otb_nl_route *some = malloc(FUZZ_NL_CAP * sizeof(*some));
    struct otb_nl_route sorted[FUZZ_NL_CAP];
    int n0, n1, n;
    size_t ns = 0;

    FUZZ_CHECK(one && some);
    n0 = otb_nl_parse_route(msg, len, NULL, 0);
    n1 = otb_nl_parse_route(msg, len, one, 1);
    n = otb_nl_parse_route(msg, len, some, FUZZ_NL_CAP);
    FUZZ_CHECK(n >= -1 && n0 == n && n1 == n);
    for (int i = 0; i < n && i < FUZZ_NL_CAP; i++) {
        FUZZ_CHECK(some[i].family == AF_INET || some[i].family == AF_INET6);
        FUZZ_CHECK(some[i].family == some[0].family && some[i].metric == some[0].metric);
        FUZZ_CHECK(some[i].ifname[0] == '\0');
        FUZZ_CHECK(some[i].gw.ss_family == 0 || some[i].gw.ss_family == AF_INET ||
                   some[i].gw.ss_family == AF_INET6);
        ns = otb_nl_route_insert(sorted, ns, FUZZ_NL_CAP, &some[i]);
    }
    if (n > 0)
        FUZZ_CHECK(ns == (size_t)(n < FUZZ_NL_CAP ? n : FUZZ_NL_CAP));
    free(one);
    free(some);
}

static void fuzz_genl(const void *msg, size_t len)
{
    struct otb_nl_endpoint *ep = malloc(sizeof(*ep));
    uint16_t id = 0;
    int rc;

    FUZZ_CHECK(ep != NULL);
    rc = otb_nl_parse_family_id(msg, len, &id);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    rc = otb_nl_parse_endpoint(msg, len, ep);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 1)
        FUZZ_CHECK(ep->addr.ss_family == AF_INET || ep->addr.ss_family == AF_INET6);
    free(ep);
}

static void fuzz_link(const void *msg, size_t len)
{
    uint32_t gso = 0, tso = 0;
    int rc = otb_nl_parse_link_segs(msg, len, &gso, &tso);

    FUZZ_CHECK(rc >= -1 && rc <= 1);
}

static int fuzz_msg(const void *msg, size_t len, void *ctx)
{
    size_t *calls = ctx;

    (*calls)++;
    fuzz_route(msg, len);
    fuzz_genl(msg, len);
    fuzz_link(msg, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    uint32_t seq = 0;
    size_t calls = 0;
    int rc;

    FUZZ_CHECK(copy != NULL);
    if (size)
        memcpy(copy, data, size);
    if (size >= 12)
        memcpy(&seq, copy + 8, sizeof(seq));
    rc = otb_nl_walk(copy, size, seq, fuzz_msg, &calls);
    FUZZ_CHECK(rc == OTB_NL_WALK_MORE || rc <= 0);
    FUZZ_CHECK(calls <= size / 16);
    fuzz_route(copy, size);
    fuzz_genl(copy, size);
    (void)otb_nl_addr_event(copy, size);
    free(copy);
    return 0;
}
