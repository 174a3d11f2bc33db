/* Unit tests of the address watcher's message check: which netlink
 * messages mean "this host's addresses changed". Buffers are built here;
 * no socket is opened. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "otb_ifwatch.h"

union test_buf {
    struct nlmsghdr h;
    char b[512];
};

/* Appends a message of type with plen payload bytes; returns the new length. */
static size_t test_put(union test_buf *buf, size_t off, uint16_t type, size_t plen)
{
    struct nlmsghdr *h = (struct nlmsghdr *)(void *)(buf->b + off);

    assert_true(off + NLMSG_SPACE(plen) <= sizeof(buf->b));
    memset(h, 0, NLMSG_SPACE(plen));
    h->nlmsg_len = (uint32_t)NLMSG_LENGTH(plen);
    h->nlmsg_type = type;
    return off + NLMSG_SPACE(plen);
}

static void test_addr_events(void **state)
{
    union test_buf buf;
    size_t n;

    (void)state;
    n = test_put(&buf, 0, RTM_NEWADDR, sizeof(struct ifaddrmsg));
    assert_true(otb_ifwatch_addr_event(&buf, n));
    n = test_put(&buf, 0, RTM_DELADDR, sizeof(struct ifaddrmsg) + 8);
    assert_true(otb_ifwatch_addr_event(&buf, n));
    /* Route and link messages do not change the addresses. */
    n = test_put(&buf, 0, RTM_NEWROUTE, sizeof(struct rtmsg));
    n = test_put(&buf, n, RTM_NEWLINK, sizeof(struct ifinfomsg));
    assert_false(otb_ifwatch_addr_event(&buf, n));
    /* An address event after another message is found. */
    n = test_put(&buf, n, RTM_DELADDR, sizeof(struct ifaddrmsg));
    assert_true(otb_ifwatch_addr_event(&buf, n));
}

static void test_malformed(void **state)
{
    union test_buf buf = { .b = { 0 } };
    size_t n;

    (void)state;
    assert_false(otb_ifwatch_addr_event(&buf, 0));
    n = test_put(&buf, 0, RTM_NEWADDR, sizeof(struct ifaddrmsg));
    /* Cut short: the header is not whole. */
    assert_false(otb_ifwatch_addr_event(&buf, sizeof(struct nlmsghdr) - 1));
    /* A length beyond what was read. */
    buf.h.nlmsg_len = (uint32_t)(n + 100);
    assert_false(otb_ifwatch_addr_event(&buf, n));
    /* A length below the header's own. */
    buf.h.nlmsg_len = 4;
    assert_false(otb_ifwatch_addr_event(&buf, n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_events),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
