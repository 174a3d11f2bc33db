/* WAN/pin policy parsing and lookup, MPTCP endpoint counting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include <json-c/json.h>

#include "otb_config.h"
#include "otb_mptcp.h"
#include "otb_policy.h"

static int apply(struct otb_config *cfg, const char *json, char *err, size_t errlen)
{
    otb_config_defaults(cfg, OTB_PROG_REDIR);
    return otb_config_apply_json(cfg, json, strlen(json), err, errlen);
}

static void test_wans_and_pins(void **state)
{
    static struct otb_config cfg;
    char err[256] = "";
    const char *json = "{\"pins\": [{\"host\": \"192.168.1.50\", \"wan\": \"fibre\", "
                       "\"mode\": \"direct\"}, {\"host\": \"192.168.2.0/24\", \"wan\": \"4g\", "
                       "\"fallback\": \"fibre\"}, {\"host\": \"aa:bb:cc:dd:ee:0f\", "
                       "\"wan\": \"fibre\"}],"
                       "\"wans\": {\"fibre\": {\"interface\": \"eth1\"}, "
                       "\"4g\": {\"interface\": \"wwan0\", \"backup\": true, \"mark\": 99, "
                       "\"download_kbit\": 18000}}}";
    (void)state;
    assert_int_equal(apply(&cfg, json, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(cfg.policy.n_wans, 2);
    assert_string_equal(cfg.policy.wans[0].iface, "eth1");
    assert_int_equal(cfg.policy.wans[0].mark, OTB_WAN_MARK_BASE);
    assert_true(cfg.policy.wans[1].backup);
    assert_int_equal(cfg.policy.wans[1].mark, 99);
    assert_int_equal(cfg.policy.wans[0].download_kbit, 0);
    assert_int_equal(cfg.policy.wans[1].download_kbit, 18000);
    assert_int_equal(cfg.policy.n_pins, 3);
    assert_int_equal(cfg.policy.pins[0].mode, OTB_PIN_DIRECT);
    assert_int_equal(cfg.policy.pins[1].mode, OTB_PIN_TUNNEL_VIA);
    assert_int_equal(cfg.policy.pins[1].wan, 1);
    assert_int_equal(cfg.policy.pins[1].fallback, 0);
    assert_true(cfg.policy.pins[2].is_mac);
    assert_int_equal(cfg.policy.pins[2].mac[5], 0x0f);

    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, "192.168.2.77", &a.sin_addr);
    const struct otb_pin *pin = otb_policy_pin_for(&cfg.policy, (struct sockaddr *)&a);
    assert_non_null(pin);
    assert_ptr_equal(pin, &cfg.policy.pins[1]);
    inet_pton(AF_INET, "192.168.1.50", &a.sin_addr);
    assert_ptr_equal(otb_policy_pin_for(&cfg.policy, (struct sockaddr *)&a),
                     &cfg.policy.pins[0]);
    inet_pton(AF_INET, "192.168.1.51", &a.sin_addr);
    assert_null(otb_policy_pin_for(&cfg.policy, (struct sockaddr *)&a));
}

static void expect_error(const char *json, const char *needle)
{
    static struct otb_config cfg;
    char err[256] = "";

    assert_int_equal(apply(&cfg, json, err, sizeof(err)), OTB_CONFIG_ERROR);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    expect_error("{\"wans\": []}", "\"wans\"");
    expect_error("{\"wans\": {\"a\": {}}}", "interface");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"speed\": 3}}}", "speed");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"mark\": -1}}}", "mark");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_kbit\": 0}}}",
                 "download_kbit");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_kbit\": \"9\"}}}",
                 "download_kbit");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\"}}, \"pins\": [{\"host\": "
                 "\"10.0.0.1\", \"wan\": \"b\"}]}", "unknown WAN");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\"}}, \"pins\": [{\"host\": "
                 "\"10.0.0.1/33\", \"wan\": \"a\"}]}", "\"pins\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\"}}, \"pins\": [{\"host\": "
                 "\"10.0.0.1\", \"wan\": \"a\", \"mode\": \"sideways\"}]}", "mode");
    expect_error("{\"pins\": {}}", "\"pins\"");
    /* The whole host is checked: 64 characters or more were once cut to a /0. */
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\"}}, \"pins\": [{\"host\": "
                 "\"10.0.0.0/00000000000000000000000000000000000000000000000000000024\", "
                 "\"wan\": \"a\"}]}", "config key \"pins\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\"}}, \"pins\": [{\"host\": "
                 "\"10.0.0.0/024\", \"wan\": \"a\"}]}", "config key \"pins\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\"}}, \"pins\": [{\"host\": "
                 "\"10.0.0.1/24\", \"wan\": \"a\"}]}", "no host bits");
    /* Names and interfaces end up as words of root's state file and commands. */
    expect_error("{\"wans\": {\"x\\nip route flush table main\": {\"interface\": \"eth1\"}}}",
                 "config key \"wans\": bad WAN name");
    expect_error("{\"wans\": {\"a b\": {\"interface\": \"eth1\"}}}", "bad WAN name");
    expect_error("{\"wans\": {\"a\\\"\": {\"interface\": \"eth1\"}}}", "bad WAN name");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\\nip rule flush\"}}}",
                 "WAN \"a\" needs an \"interface\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth 1\"}}}", "\"interface\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\\\"\"}}}", "\"interface\"");
}

/* "download_auto": the rate follows the line between a minimum and a maximum. */
static void test_download_auto(void **state)
{
    static struct otb_config cfg;
    char err[256] = "";
    (void)state;
    assert_int_equal(apply(&cfg, "{\"wans\": {\"a\": {\"interface\": \"eth1\", "
                           "\"download_kbit\": 20000, \"download_auto\": true}, "
                           "\"b\": {\"interface\": \"eth2\", \"download_kbit\": 8000, "
                           "\"download_auto\": true, \"download_min_kbit\": 3000, "
                           "\"download_max_kbit\": 9000}}}", err, sizeof(err)),
                     OTB_CONFIG_OK);
    assert_true(cfg.policy.wans[0].download_auto);
    assert_int_equal(cfg.policy.wans[0].download_min_kbit, 5000);  /* a quarter */
    assert_int_equal(cfg.policy.wans[0].download_max_kbit, 40000); /* twice */
    assert_int_equal(cfg.policy.wans[1].download_min_kbit, 3000);
    assert_int_equal(cfg.policy.wans[1].download_max_kbit, 9000);
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_auto\": 1}}}",
                 "\"download_auto\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_auto\": true}}}",
                 "\"download_auto\" needs a \"download_kbit\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_kbit\": 9000, "
                 "\"download_min_kbit\": 3000}}}", "\"download_min_kbit\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_kbit\": 9000, "
                 "\"download_auto\": true, \"download_min_kbit\": 10000}}}",
                 "\"download_min_kbit\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_kbit\": 9000, "
                 "\"download_auto\": true, \"download_max_kbit\": 8000}}}",
                 "\"download_max_kbit\"");
    expect_error("{\"wans\": {\"a\": {\"interface\": \"eth1\", \"download_kbit\": 9000, "
                 "\"download_auto\": true, \"download_max_kbit\": -1}}}",
                 "\"download_max_kbit\"");
}

static void test_parse_host(void **state)
{
    struct otb_pin pin;
    (void)state;
    assert_int_equal(otb_policy_parse_host("2001:db8::/32", &pin), 0);
    assert_int_equal(pin.prefix, 32);
    assert_int_equal(otb_policy_parse_host("10.1.2.3", &pin), 0);
    assert_int_equal(pin.prefix, 32);
    assert_int_equal(otb_policy_parse_host("10.1.2.3/", &pin), -1);
    assert_int_equal(otb_policy_parse_host("host.example", &pin), -1);
    assert_int_equal(otb_policy_parse_host("aa:bb:cc:dd:ee", &pin), -1);
    assert_int_equal(otb_policy_parse_host("", &pin), -1);
}

static void test_mptcp_endpoints(void **state)
{
    struct otb_mptcp_info info;
    (void)state;
    otb_mptcp_count_endpoints("10.80.2.2 id 1 subflow dev wan2 \n"
                              "10.80.3.2 id 2 subflow backup dev wan3 \n"
                              "10.80.4.2 id 3 signal dev wan4 \n",
                              &info);
    assert_int_equal(info.endpoints, 3);
    assert_int_equal(info.subflow_paths, 2);
    assert_int_equal(info.backup_paths, 1);
    otb_mptcp_count_endpoints("", &info);
    assert_int_equal(info.endpoints, 0);
    /* "subflows" in a device name is not the subflow flag */
    otb_mptcp_count_endpoints("10.0.0.1 id 1 signal dev subflowx \n", &info);
    assert_int_equal(info.subflow_paths, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wans_and_pins),
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_download_auto),
        cmocka_unit_test(test_parse_host),
        cmocka_unit_test(test_mptcp_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
