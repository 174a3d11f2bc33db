/* Download shaping (otb_shaper.h): the "shape_downloads" interface list, the shaped rate,
 * and the tc lines that add and remove a box WAN's classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "otb_shaper.h"

static void test_parse_ifaces(void **state)
{
    char ifs[OTB_SHAPER_IFACES][IFNAMSIZ], err[160];
    size_t n = 9;

    (void)state;
    assert_int_equal(otb_shaper_parse_ifaces("eth0", ifs, OTB_SHAPER_IFACES, &n, err,
                                             sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ifs[0], "eth0");
    assert_int_equal(otb_shaper_parse_ifaces("wan1,veth-c7.2", ifs, OTB_SHAPER_IFACES, &n, err,
                                             sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ifs[1], "veth-c7.2");
    /* empty names, spaces, shell characters, too long, too many */
    static const char *const bad[] = { "", ",", "a,", ",a", "a b", "a;rm", "a$(x)",
                                       "sixteen-chars-xx", "a,b,c,d,e,f,g,h,i" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(otb_shaper_parse_ifaces(bad[i], ifs, OTB_SHAPER_IFACES, &n, err,
                                                 sizeof(err)), -1);
    assert_non_null(strstr(err, "at most"));
}

static void test_rate(void **state)
{
    (void)state;
    assert_int_equal(otb_shaper_rate(10000, 90), 9000);
    assert_int_equal(otb_shaper_rate(100000000, 100), 100000000);
    assert_int_equal(otb_shaper_rate(1, 50), 8);
}

static struct sockaddr_storage addr_of(int family, const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET)
        inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
    else
        inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    return ss;
}

static unsigned count(const char *s, const char *what)
{
    unsigned n = 0;

    for (const char *p = s; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_cmds_add_v4(void **state)
{
    char out[8192];
    struct sockaddr_storage a = addr_of(AF_INET, "10.0.2.1");
    const char *dst;

    (void)state;
    assert_true(otb_shaper_cmds(out, sizeof(out), "wan2", 2, (struct sockaddr *)&a, 10000, 90,
                                true) > 0);
    /* the WAN's class at 90%, its four classes below it, all borrowing up to it */
    assert_non_null(strstr(out, "class replace dev wan2 parent b7b: classid b7b:20 htb rate "
                                "9000kbit ceil 9000kbit"));
    assert_non_null(strstr(out, "classid b7b:21 htb rate 900kbit ceil 9000kbit prio 0"));
    assert_non_null(strstr(out, "classid b7b:23 htb rate 5400kbit ceil 9000kbit prio 2"));
    assert_non_null(strstr(out, "classid b7b:24 htb rate 900kbit ceil 9000kbit prio 3"));
    assert_int_equal(count(out, " pfifo limit 75"), 4);
    /* EF is voice; the rest goes to default, never unshaped */
    assert_non_null(strstr(out, "protocol ip prio 10 u32 match ip tos 0xb8 0xfc flowid b7b:21"));
    assert_non_null(strstr(out, "protocol all prio 90 u32 match u32 0 0 flowid b7b:23"));
    assert_null(strstr(out, "ip6"));
    /* the address filter comes last, once the classes are complete */
    dst = "filter add dev wan2 parent b7b: protocol ip prio 2 u32 match ip dst 10.0.2.1/32 "
          "flowid b7b:20\n";
    assert_true(strlen(out) > strlen(dst));
    assert_string_equal(out + strlen(out) - strlen(dst), dst);
}

static void test_cmds_v6_voice_min_fq_codel(void **state)
{
    char out[8192];
    struct sockaddr_storage a = addr_of(AF_INET6, "2001:db8::1");

    (void)state;
    assert_true(otb_shaper_cmds(out, sizeof(out), "eth0", 64, (struct sockaddr *)&a, 1000, 90,
                                false) > 0);
    assert_non_null(strstr(out, "classid b7b:400 htb rate 900kbit"));
    /* voice keeps 200 kbit/s guaranteed on a slow line */
    assert_non_null(strstr(out, "classid b7b:401 htb rate 200kbit ceil 900kbit prio 0"));
    assert_int_equal(count(out, "fq_codel"), 4);
    assert_non_null(strstr(out, "protocol ipv6 prio 10 u32 match ip6 priority 0xb8 0xfc"));
    assert_non_null(strstr(out, "protocol ipv6 prio 64 u32 match ip6 dst 2001:db8::1/128 "
                                "flowid b7b:400"));
}

static void test_cmds_remove_and_limits(void **state)
{
    char out[8192], small[64];
    struct sockaddr_storage a = addr_of(AF_INET, "10.0.1.1");

    (void)state;
    assert_true(otb_shaper_cmds(out, sizeof(out), "wan1", 1, (struct sockaddr *)&a, 0, 90,
                                true) > 0);
    assert_string_equal(out, "filter del dev wan1 parent b7b: prio 1\n"
                             "filter del dev wan1 parent b7b:10\n"
                             "class del dev wan1 classid b7b:11\n"
                             "class del dev wan1 classid b7b:12\n"
                             "class del dev wan1 classid b7b:13\n"
                             "class del dev wan1 classid b7b:14\n"
                             "class del dev wan1 classid b7b:10\n");
    assert_int_equal(otb_shaper_cmds(small, sizeof(small), "wan1", 1, (struct sockaddr *)&a,
                                     10000, 90, true), -1);
    assert_int_equal(otb_shaper_cmds(out, sizeof(out), "wan1", 0, (struct sockaddr *)&a, 10000,
                                     90, true), -1);
    assert_int_equal(otb_shaper_cmds(out, sizeof(out), "wan1", OTB_SHAPER_SLOTS + 1,
                                     (struct sockaddr *)&a, 10000, 90, true), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ifaces),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_cmds_add_v4),
        cmocka_unit_test(test_cmds_v6_voice_min_fq_codel),
        cmocka_unit_test(test_cmds_remove_and_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
