/* The box's firewall/routing plan (otb_fwplan) from its JSON config: nft
 * sets and rules, ip rules and routes, MPTCP endpoints, and the bad configs
 * refused with one line naming the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_config.h"
#include "otb_fwplan.h"

#ifndef OTB_NFT_TEMPLATE
#error "OTB_NFT_TEMPLATE must name otb-redir/otb.nft"
#endif

static const char box_json[] =
    "{\"server\": [\"198.51.100.20\", \"2001:db8:203::2\", \"server.test:8389\"],"
    " \"server_port\": 8388, \"local_port\": 1234, \"password\": \"p\", \"socks5_port\": 1080,"
    " \"wans\": {\"fibre\": {\"interface\": \"wan1\"},"
    "            \"lte\": {\"interface\": \"wan2\", \"backup\": true, \"gateway\": \"10.202.2.2\","
    "                      \"upload_kbit\": 5000}},"
    " \"pins\": [{\"host\": \"10.201.1.3\", \"wan\": \"fibre\", \"mode\": \"direct\","
    "             \"fallback\": \"lte\"},"
    "            {\"host\": \"10.201.1.4\", \"wan\": \"fibre\", \"mode\": \"direct\"},"
    "            {\"host\": \"02:00:00:00:20:07\", \"wan\": \"lte\", \"mode\": \"direct\"},"
    "            {\"host\": \"10.201.1.0/28\", \"wan\": \"lte\"}],"
    " \"firewall\": {\"lan\": [\"lan0\", \"lan1\"], \"tunnel_port\": 1235,"
    "              \"bypass\": [\"192.0.2.0/24\"], \"tproxy_mark\": 7}}";

static char *read_template(void)
{
    FILE *f = fopen(OTB_NFT_TEMPLATE, "r");
    static char buf[16384];
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int load(struct otb_config *cfg, const char *json, char *err, size_t errlen)
{
    otb_config_defaults(cfg, OTB_PROG_REDIR);
    return otb_config_apply_json(cfg, json, strlen(json), err, errlen);
}

static void set_addr(struct otb_cidr *c, int family, const char *text)
{
    memset(c, 0, sizeof(*c));
    c->family = family;
    c->prefix = family == AF_INET ? 32 : 128;
    assert_int_equal(inet_pton(family, text, c->addr), 1);
}

/* wan1 10.202.1.1 via 10.202.1.2 (main table), wan2 10.202.2.1 without a
 * default route of its own (the config's gateway applies). */
static void lab_facts(struct otb_fw_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->ipv6 = true;
    for (int i = 0; i < 2; i++) {
        f->wans[i].up = true;
        f->wans[i].n_addrs[0] = 1;
    }
    set_addr(&f->wans[0].addrs[0][0], AF_INET, "10.202.1.1");
    set_addr(&f->wans[1].addrs[0][0], AF_INET, "10.202.2.1");
    f->wans[0].has_default[0] = true;
    set_addr(&f->wans[0].gw[0], AF_INET, "10.202.1.2");
}

static void expect_in(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" missing from:\n%s", needle, text);
}

static void expect_not_in(const char *text, const char *needle)
{
    if (strstr(text, needle))
        fail_msg("\"%s\" present in:\n%s", needle, text);
}

/* Runs one writer into a string. */
static char *capture(void (*fn)(const struct otb_fw_plan *, const struct otb_fw_facts *, FILE *),
                     const struct otb_fw_plan *pl, const struct otb_fw_facts *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    fn(pl, f, out);
    fclose(out);
    return text;
}

/* The nft script of a config. */
static char *nft_of(const char *json)
{
    static struct otb_config cfg;
    struct otb_fw_plan pl;
    char err[256] = "", *text = NULL;
    size_t len = 0;
    FILE *out;

    assert_int_equal(load(&cfg, json, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(otb_fwplan_init(&pl, &cfg, err, sizeof(err)), 0);
    out = open_memstream(&text, &len);
    assert_int_equal(otb_fwplan_nft(&pl, read_template(), out, err, sizeof(err)), 0);
    fclose(out);
    return text;
}

static void test_nft(void **state)
{
    char *text = nft_of(box_json);

    (void)state;
    expect_in(text, "add table inet otb\ndelete table inet otb\n");
    expect_in(text, "define redir_port = 1234\n");
    expect_in(text, "define tunnel_port = 1235\n");
    expect_in(text, "define tproxy_mark = 0x7\n");
    expect_in(text, "table inet otb {");
    expect_in(text, "elements = { \"lan0\", \"lan1\" }");
    expect_in(text, "elements = { \"wan1\", \"wan2\" }");
    /* built-in ranges, the servers' IP literals (not names), "bypass" */
    expect_in(text, "10.0.0.0/8");
    expect_in(text, "198.51.100.20/32");
    expect_in(text, "192.0.2.0/24");
    expect_in(text, "2001:db8:203::2/128");
    expect_in(text, "fc00::/7");
    expect_not_in(text, "server.test");
    expect_in(text, "redirect to :$redir_port");
    expect_in(text, "tproxy to :$tunnel_port");
    /* WAN input to the proxies' ports is dropped, LAN and loopback pass */
    expect_in(text, "type filter hook input priority filter - 1; policy accept;\n"
                    "\t\tiif lo accept\n\t\tiifname @lan_ifaces accept\n"
                    "\t\ttcp dport $redir_port drop\n");
    expect_in(text, "udp dport $tunnel_port drop");
    expect_in(text, "define socks5_port = 1080\n");
    expect_in(text, "tcp dport $socks5_port drop");
    /* direct pins: the pair (fibre, lte) gets 0x40, fibre alone 0x10, lte 0x11 */
    expect_in(text, "meta mark & $wan_mask { 0x40, 0x10, 0x11 } accept");
    expect_in(text, "ip saddr 10.201.1.3/32 meta mark set meta mark & 0xffffff00 | 0x40 return");
    expect_in(text, "ip saddr 10.201.1.4/32 meta mark set meta mark & 0xffffff00 | 0x10 return");
    expect_in(text, "ether saddr 02:00:00:00:20:07 meta mark set");
    expect_in(text, "ip saddr 10.201.1.0/28 return");
    expect_not_in(text, "\n#@");
    expect_not_in(text, "\t#@");
    expect_not_in(text, "@TABLE@");
    free(text);
}

static void test_nft_without_udp_nor_wans(void **state)
{
    char *text = nft_of("{\"local_port\": 1234, \"firewall\": {\"lan\": \"br-lan\", "
                        "\"default_bypass\": false, \"table\": \"otb2\"}}");

    (void)state;
    expect_in(text, "table inet otb2 {");
    expect_in(text, "redirect to");
    expect_not_in(text, "tproxy to");
    expect_in(text, "tcp dport $redir_port drop");
    expect_not_in(text, "udp dport $tunnel_port drop");
    expect_not_in(text, "tcp dport $socks5_port drop");
    expect_not_in(text, "set wan_ifaces");
    expect_not_in(text, "pin_mark");
    expect_not_in(text, "10.0.0.0/8");
    expect_not_in(text, "elements = { }");
    free(text);
}

static void test_routes_and_endpoints(void **state)
{
    static struct otb_config cfg;
    struct otb_fw_plan pl;
    struct otb_fw_facts f;
    char err[256] = "", *text;

    (void)state;
    assert_int_equal(load(&cfg, box_json, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(otb_fwplan_init(&pl, &cfg, err, sizeof(err)), 0);
    lab_facts(&f);
    text = capture(otb_fwplan_routes, &pl, &f);
    expect_in(text, "-4 rule add fwmark 0x7 lookup 100 pref 9000\n");
    expect_in(text, "-6 route add local ::/0 dev lo table 100\n");
    expect_in(text, "-4 rule add fwmark 0x10/0xff lookup main suppress_prefixlength 0 pref 10000\n");
    expect_in(text, "-4 rule add fwmark 0x10/0xff lookup 200 pref 10001\n");
    expect_in(text, "-4 rule add from 10.202.1.1 lookup 200 pref 10003\n");
    expect_in(text, "-4 route add unicast 0.0.0.0/0 via 10.202.1.2 dev wan1 metric 10 table 200\n");
    expect_in(text, "-4 route add unreachable 0.0.0.0/0 metric 1000000 table 200\n");
    expect_in(text, "-4 rule add fwmark 0x11/0xff lookup 201 pref 10011\n");
    expect_in(text, "-4 route add unicast 0.0.0.0/0 via 10.202.2.2 dev wan2 metric 10 table 201\n");
    /* the (fibre, lte) pair: fibre first, lte as fallback, then unreachable */
    expect_in(text, "-4 rule add fwmark 0x40/0xff lookup 216 pref 10101\n"
                    "-4 route add unicast 0.0.0.0/0 via 10.202.1.2 dev wan1 metric 10 table 216\n"
                    "-4 route add unicast 0.0.0.0/0 via 10.202.2.2 dev wan2 metric 20 table 216\n"
                    "-4 route add unreachable 0.0.0.0/0 metric 1000000 table 216\n");
    expect_in(text, "-6 route add unreachable ::/0 metric 1000000 table 201\n");
    free(text);
    text = capture(otb_fwplan_mptcp, &pl, &f);
    assert_string_equal(text, "10.202.1.1 wan1 nobackup\n10.202.2.1 wan2 backup\n");
    free(text);
    /* a WAN that is down keeps its rules and unreachable route, not its default route */
    f.wans[0].up = false;
    text = capture(otb_fwplan_routes, &pl, &f);
    expect_not_in(text, "dev wan1 metric");
    expect_in(text, "-4 route add unreachable 0.0.0.0/0 metric 1000000 table 200\n");
    free(text);
}

static void summary_of(const char *json, char **text)
{
    static struct otb_config cfg;
    struct otb_fw_plan pl;
    char err[256] = "";
    size_t len = 0;
    FILE *out = open_memstream(text, &len);

    assert_int_equal(load(&cfg, json, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(otb_fwplan_init(&pl, &cfg, err, sizeof(err)), 0);
    otb_fwplan_summary(&pl, out);
    fclose(out);
}

static void test_summary(void **state)
{
    char *text = NULL;

    (void)state;
    summary_of(box_json, &text);
    expect_in(text, "table otb\nlan lan0 lan1\nredir_port 1234\n"
                    "tunnel_port 1235 mark 0x7 route_table 100\n");
    expect_in(text, "wan lte wan2 mark 0x11/0xff table 201 backup\n");
    expect_in(text, "pin 10.201.1.3/32 wan fibre direct fallback lte mark 0x40\n");
    expect_in(text, "pin 10.201.1.0/28 wan lte tunnel-via\n");
    expect_in(text, "qos wan2 5000\n");
    free(text);
}

/* The config is refused whole, with one line naming the key. */
static void expect_refused(const char *json, const char *needle)
{
    static struct otb_config cfg;
    struct otb_fw_plan pl;
    char err[256] = "";

    if (load(&cfg, json, err, sizeof(err)) == OTB_CONFIG_OK)
        assert_int_equal(otb_fwplan_init(&pl, &cfg, err, sizeof(err)), -1);
    if (!strstr(err, needle) || strchr(err, '\n'))
        fail_msg("error \"%s\" is not one line naming \"%s\"", err, needle);
}

#define FW_LAN "\"firewall\": {\"lan\": \"lan0\"}, \"local_port\": 1234"
#define TWO_WANS "\"wans\": {\"a\": {\"interface\": \"wan1\"}, \"b\": {\"interface\": \"wan2\"}}"

static void test_bad_configs(void **state)
{
    (void)state;
    expect_refused("{" FW_LAN ", " TWO_WANS ", \"pins\": [{\"host\": \"10.0.0.1\", "
                   "\"wan\": \"c\"}]}", "unknown WAN \"c\"");
    expect_refused("{" FW_LAN ", " TWO_WANS ", \"pins\": [{\"host\": \"10.0.0.1\", "
                   "\"wan\": \"a\", \"fallback\": \"c\"}]}", "unknown fallback WAN \"c\"");
    expect_refused("{" FW_LAN ", " TWO_WANS ", \"pins\": [{\"host\": \"10.0.0.1\", "
                   "\"wan\": \"a\"}, {\"host\": \"10.0.0.1/32\", \"wan\": \"b\"}]}",
                   "duplicate pin \"10.0.0.1/32\"");
    expect_refused("{" FW_LAN ", " TWO_WANS ", \"pins\": [{\"host\": \"aa:bb:cc:dd:ee:ff\", "
                   "\"wan\": \"a\"}, {\"host\": \"AA:BB:CC:DD:EE:FF\", \"wan\": \"b\"}]}",
                   "duplicate pin");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"bypass\": [\"10.1.2.3/8\"]}}",
                   "\"firewall\": \"bypass\": bad entry \"10.1.2.3/8\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"bypass\": \"10.0.0.1/33\"}}",
                   "\"bypass\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"bypass\": \"2001:db8::1::2\"}}",
                   "\"bypass\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"bypass\": \"300.1.1.1\"}}",
                   "\"bypass\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"tunnel_port\": 65536}}",
                   "\"tunnel_port\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan 0\"}}", "\"lan\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"frobnicate\": 1}}", "frobnicate");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"table\": \"Otb\"}}", "\"table\"");
    expect_refused("{\"local_port\": 1234}", "missing \"lan\"");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\"}}", "missing local_port");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"tcp\": false}}", "nothing to intercept");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\": {\"interface\": \"wan1\", \"gateway\": "
                   "\"host.test\"}}}", "\"gateway\"");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\": {\"interface\": \"wan1\", \"table\": 254}}}",
                   "\"table\"");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\": {\"interface\": \"wan1\", \"mark\": 256}}}",
                   "WAN \"a\": mark 0x100 has bits outside \"wan_mask\"");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\": {\"interface\": \"wan1\"}, \"b\": "
                   "{\"interface\": \"wan2\", \"mark\": 16}}}", "same mark");
    expect_refused("{\"firewall\": {\"lan\": \"lan0\", \"tunnel_port\": 1235}, \"local_port\": "
                   "1234, \"wans\": {\"a\": {\"interface\": \"wan1\", \"table\": 100}}}",
                   "TPROXY table");
    expect_refused("{" FW_LAN ", " TWO_WANS ", \"pins\": [{\"host\": \"aa:bb:cc:dd:ee:ff\", "
                   "\"wan\": \"a\"}]}", "tunnel-via pins need an IP");
    expect_refused("{" FW_LAN ", " TWO_WANS ", \"pins\": [{\"host\": \"10.0.0.1\", "
                   "\"wan\": \"a\", \"mode\": \"direct\", \"fallback\": \"a\"}]}",
                   "the fallback is the pinned WAN");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\\nip route flush table main\": "
                   "{\"interface\": \"wan1\"}}}", "config key \"wans\": bad WAN name");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\": {\"interface\": \"wan1\\nip\"}}}",
                   "\"interface\"");
    expect_refused("{" FW_LAN ", \"wans\": {\"a\": {\"interface\": \"wan\\\"1\"}}}",
                   "\"interface\"");
}

/* Pair k's table is 216 + k: the 38th pair would fill the kernel's table 253. */
static void test_pair_tables_not_kernel_tables(void **state)
{
    static char json[8192];
    size_t n = 0, pins = 0;

    (void)state;
    n += (size_t)snprintf(json + n, sizeof(json) - n, "{" FW_LAN ", \"wans\": {");
    for (int w = 0; w < 8; w++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"w%d\": {\"interface\": "
                              "\"wan%d\"}", w ? ", " : "", w, w);
    n += (size_t)snprintf(json + n, sizeof(json) - n, "}, \"pins\": [");
    for (int a = 0; a < 8 && pins < 38; a++)
        for (int b = 0; b < 8 && pins < 38; b++)
            if (a != b) {
                n += (size_t)snprintf(json + n, sizeof(json) - n, "%s{\"host\": \"10.0.%zu.1\", "
                                      "\"wan\": \"w%d\", \"mode\": \"direct\", "
                                      "\"fallback\": \"w%d\"}", pins ? ", " : "", pins, a, b);
                pins++;
            }
    snprintf(json + n, sizeof(json) - n, "]}");
    assert_true(n < sizeof(json) - 4);
    expect_refused(json, "table 253 is a kernel table");
}

static void test_bad_template(void **state)
{
    static struct otb_config cfg;
    struct otb_fw_plan pl;
    char err[256] = "", buf[1024];
    FILE *out = fmemopen(buf, sizeof(buf), "w");

    (void)state;
    assert_int_equal(load(&cfg, "{" FW_LAN "}", err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(otb_fwplan_init(&pl, &cfg, err, sizeof(err)), 0);
    assert_int_equal(otb_fwplan_nft(&pl, "table inet @TABLE@ {\n#@if tcp\n}\n", out, err,
                                    sizeof(err)), -1);
    expect_in(err, "#@if without #@end");
    assert_int_equal(otb_fwplan_nft(&pl, "#@frobnicate\n", out, err, sizeof(err)), -1);
    expect_in(err, "line 1");
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nft),
        cmocka_unit_test(test_nft_without_udp_nor_wans),
        cmocka_unit_test(test_routes_and_endpoints),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_pair_tables_not_kernel_tables),
        cmocka_unit_test(test_bad_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
