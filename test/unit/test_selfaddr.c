/* The box's own addresses (otb_selfaddr): the fixed part (loopback,
 * unspecified, their IPv4-mapped forms), every interface address, and the
 * lazy re-read. Addresses are values in memory; nothing is sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ifaddrs.h>
#include <string.h>

#include "otb_selfaddr.h"
#include "otb_sock.h"

static bool is_self(struct otb_selfaddr *s, const char *ip, ev_tstamp now)
{
    struct sockaddr_storage ss;
    socklen_t len;

    assert_int_equal(otb_sock_parse_ip(ip, 80, &ss, &len), 0);
    return otb_selfaddr_is_self(s, (struct sockaddr *)&ss, now);
}

static void test_fixed(void **state)
{
    struct otb_selfaddr s = { 0 };
    static const char *const own[] = { "127.0.0.1", "127.1.2.3", "0.0.0.0", "::1", "::",
                                       "::ffff:127.0.0.1", "::ffff:0.0.0.0" };
    static const char *const other[] = { "192.0.2.1", "198.51.100.7", "2001:db8::1",
                                         "::ffff:192.0.2.1", "126.255.255.255", "128.0.0.1" };

    (void)state;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        assert_true(is_self(&s, own[i], 1.));
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        assert_false(is_self(&s, other[i], 1.));
    otb_selfaddr_free(&s);
}

/* Every address getifaddrs shows is the host's. */
static void test_interfaces(void **state)
{
    struct otb_selfaddr s = { 0 };
    struct ifaddrs *ifa;
    size_t n = 0;

    (void)state;
    assert_int_equal(getifaddrs(&ifa), 0);
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
                             i->ifa_addr->sa_family != AF_INET6))
            continue;
        assert_true(otb_selfaddr_is_self(&s, i->ifa_addr, 1.));
        n++;
    }
    freeifaddrs(ifa);
    assert_true(n > 0);
    otb_selfaddr_free(&s);
}

/* The list is read at first use, kept for OTB_SELFADDR_TTL, then read again. */
static void test_refresh(void **state)
{
    struct otb_selfaddr s = { 0 };
    struct otb_acl *first;

    (void)state;
    assert_false(is_self(&s, "192.0.2.1", 10.));
    first = s.acl;
    assert_non_null(first);
    assert_true(s.read_at == 10.);
    assert_false(is_self(&s, "192.0.2.1", 10. + OTB_SELFADDR_TTL / 2));
    assert_ptr_equal(s.acl, first);
    assert_false(is_self(&s, "192.0.2.1", 10. + OTB_SELFADDR_TTL));
    assert_true(s.read_at == 10. + OTB_SELFADDR_TTL);
    assert_int_equal(otb_selfaddr_refresh(&s, 100.), 0);
    assert_true(s.read_at == 100.);
    otb_selfaddr_free(&s);
    assert_null(s.acl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_interfaces),
        cmocka_unit_test(test_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
