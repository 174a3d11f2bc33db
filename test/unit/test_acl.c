/* Unit tests for the ACL parser and the server outbound policy. Addresses used
 * here are only values in memory; nothing is sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otb_acl.h"

/* Holds either family; match functions take it as a struct sockaddr. */
union test_sa {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
};

static const struct sockaddr *test_addr(union test_sa *u, const char *text)
{
    memset(u, 0, sizeof(*u));
    if (inet_pton(AF_INET, text, &u->in.sin_addr) == 1) {
        u->in.sin_family = AF_INET;
        return &u->sa;
    }
    assert_int_equal(inet_pton(AF_INET6, text, &u->in6.sin6_addr), 1);
    u->in6.sin6_family = AF_INET6;
    return &u->sa;
}

static bool test_match(struct otb_acl *acl, enum otb_acl_list list, const char *text)
{
    union test_sa u;

    return otb_acl_match_addr(acl, list, test_addr(&u, text));
}

static bool test_permitted(struct otb_acl *user, struct otb_acl *builtin, const char *text)
{
    union test_sa u;

    return otb_acl_outbound_permitted(user, builtin, test_addr(&u, text));
}

static struct otb_acl *test_load(const char *text)
{
    struct otb_acl *acl = otb_acl_new();
    char err[256] = "";

    assert_non_null(acl);
    if (otb_acl_load_text(acl, text, strlen(text), err, sizeof(err)) != 0)
        fail_msg("load failed: %s", err);
    return acl;
}

/* Expect a load error whose message contains want. */
static void test_load_error_n(const char *text, size_t len, const char *want)
{
    struct otb_acl *acl = otb_acl_new();
    char err[256] = "";

    assert_non_null(acl);
    assert_int_equal(otb_acl_load_text(acl, text, len, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    otb_acl_free(acl);
}

static void test_load_error(const char *text, const char *want)
{
    test_load_error_n(text, strlen(text), want);
}

static const char sample[] =
    "# sample with every section\r\n"
    "[bypass_all]\n"
    "[bypass_list]\n"
    "  192.168.0.0/16  \r\n"
    "(^|\\.)cn$\n"
    "[proxy_list]\n"
    "8.8.8.8\n"
    "(^|\\.)google\\.com$   # trailing comment\n"
    "[reject_all]\n"
    "[black_list]\n"
    "203.0.113.7\n"
    "2001:db8:bad::/48\n"
    "\n"
    "[white_list]\n"
    "198.51.100.0/24\n"
    "[outbound_block_list]\n"
    "93.184.216.34\n"
    "(^|\\.)blocked\\.example$\n"
    "[outbound_allow_list]\n"
    "10.1.0.0/16\n"
    "(^|\\.)internal\\.example$\n"
    "[accept_all]\n"
    "fd00::1"; /* no trailing newline; still in outbound_allow_list */

/* Where the ACL of a match expectation comes from. */
enum acl_source { ACL_SAMPLE, ACL_CIDR_V4, ACL_CIDR_V6, ACL_HOSTS, ACL_ADDED };

/* One expectation: WHAT (an address, or with host a name) is in LIST or not. */
struct acl_case {
    enum acl_source acl;
    enum otb_acl_list list;
    const char *what;
    bool want, host;
};

static const struct acl_case match_cases[] = {
    /* The sample ACL, all sections (test_parse_all_sections). */
    { ACL_SAMPLE, OTB_ACL_BYPASS, "192.168.44.1", true, false },
    { ACL_SAMPLE, OTB_ACL_PROXY, "192.168.44.1", false, false },
    { ACL_SAMPLE, OTB_ACL_BYPASS, "www.example.cn", true, true },
    { ACL_SAMPLE, OTB_ACL_PROXY, "8.8.8.8", true, false },
    { ACL_SAMPLE, OTB_ACL_PROXY, "8.8.4.4", false, false },
    { ACL_SAMPLE, OTB_ACL_PROXY, "mail.google.com", true, true },
    { ACL_SAMPLE, OTB_ACL_BYPASS, "mail.google.com", false, true },
    { ACL_SAMPLE, OTB_ACL_BLACK, "203.0.113.7", true, false },
    { ACL_SAMPLE, OTB_ACL_BLACK, "2001:db8:bad:1::1", true, false },
    { ACL_SAMPLE, OTB_ACL_BLACK, "2001:db8:bae::1", false, false },
    { ACL_SAMPLE, OTB_ACL_WHITE, "198.51.100.200", true, false },
    { ACL_SAMPLE, OTB_ACL_OUTBOUND_BLOCK, "93.184.216.34", true, false },
    { ACL_SAMPLE, OTB_ACL_OUTBOUND_BLOCK, "a.blocked.example", true, true },
    { ACL_SAMPLE, OTB_ACL_OUTBOUND_ALLOW, "10.1.255.255", true, false },
    { ACL_SAMPLE, OTB_ACL_OUTBOUND_ALLOW, "fd00::1", true, false },
    { ACL_SAMPLE, OTB_ACL_OUTBOUND_ALLOW, "fd00::2", false, false },
    /* IPv4 prefixes. */
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "10.0.0.0", true, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "10.255.255.255", true, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "9.255.255.255", false, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "11.0.0.0", false, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "172.16.0.0", true, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "172.31.255.255", true, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "172.15.255.255", false, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "172.32.0.0", false, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "192.0.2.1", true, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "192.0.2.0", false, false },
    { ACL_CIDR_V4, OTB_ACL_BYPASS, "192.0.2.2", false, false },
    /* /0 covers every IPv4 address but no IPv6 one. */
    { ACL_CIDR_V4, OTB_ACL_PROXY, "0.0.0.0", true, false },
    { ACL_CIDR_V4, OTB_ACL_PROXY, "255.255.255.255", true, false },
    { ACL_CIDR_V4, OTB_ACL_PROXY, "2606:4700::1", false, false },
    /* IPv6 prefixes. */
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2001:db8:8000::", true, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", false, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2001:db9::", false, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "fe80::", true, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "fec0::", false, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2606:4700::1", true, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2606:4700::2", false, false },
    { ACL_CIDR_V6, OTB_ACL_BYPASS, "2606:4700::", false, false },
    { ACL_CIDR_V6, OTB_ACL_PROXY, "::", true, false },
    { ACL_CIDR_V6, OTB_ACL_PROXY, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, false },
    { ACL_CIDR_V6, OTB_ACL_PROXY, "8.8.8.8", false, false },
    /* Host name regexes. */
    { ACL_HOSTS, OTB_ACL_PROXY, "google.com", true, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "www.google.com", true, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "WWW.Google.COM", true, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "notgoogle.com", false, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "google.com.evil", false, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "ad12.example.net", true, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "bad12.example.net", false, true },
    /* Unanchored search anywhere in the name. */
    { ACL_HOSTS, OTB_ACL_PROXY, "x.tracker.example", true, true },
    { ACL_HOSTS, OTB_ACL_PROXY, "example.org", false, true },
    { ACL_HOSTS, OTB_ACL_BYPASS, "google.com", false, true },
    { ACL_HOSTS, OTB_ACL_PROXY, NULL, false, true },
    /* Domain rules never match addresses and vice versa. */
    { ACL_HOSTS, OTB_ACL_PROXY, "8.8.8.8", false, false },
    /* Added by otb_acl_add_addr (test_add_addr). */
    { ACL_ADDED, OTB_ACL_BLACK, "192.0.2.77", true, false },
    { ACL_ADDED, OTB_ACL_BLACK, "2001:db8:1::1", true, false },
    { ACL_ADDED, OTB_ACL_BLACK, "1.2.3.4", true, false },
    { ACL_ADDED, OTB_ACL_WHITE, "1.2.3.4", false, false },
};

/* Every row of match_cases for the ACL of SOURCE. */
static void check_cases(struct otb_acl *acl, enum acl_source source)
{
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct acl_case *c = &match_cases[i];
        bool got;

        if (c->acl != source)
            continue;
        got = c->host ? otb_acl_match_host(acl, c->list, c->what)
                      : test_match(acl, c->list, c->what);
        if (got != c->want)
            fail_msg("case %zu: %s %s in list %d", i, c->what ? c->what : "(null)",
                     got ? "found" : "not found", (int)c->list);
    }
}

static void test_parse_all_sections(void **state)
{
    struct otb_acl *acl = test_load(sample);

    (void)state;
    assert_true(otb_acl_bypass_all(acl));
    assert_false(otb_acl_reject_all(acl)); /* [accept_all] came last */

    check_cases(acl, ACL_SAMPLE);
    otb_acl_free(acl);
}

static void test_mode_defaults(void **state)
{
    struct otb_acl *acl = test_load("[proxy_all]\n[reject_all]\n");

    (void)state;
    assert_false(otb_acl_bypass_all(acl));
    assert_true(otb_acl_reject_all(acl));
    otb_acl_free(acl);
    acl = test_load("");
    assert_false(otb_acl_bypass_all(acl));
    assert_false(otb_acl_reject_all(acl));
    otb_acl_free(acl);
}

/* The ACLs of the match_cases rows that have no test of their own. Host bits
 * set in a rule are masked off. */
static const char cidr_v4_acl[] = "[bypass_list]\n10.1.2.3/8\n172.16.0.0/12\n"
                                  "192.0.2.1\n[proxy_list]\n0.0.0.0/0\n";
static const char cidr_v6_acl[] = "[bypass_list]\n2001:db8:ffff::1/33\n"
                                  "fe80::/10\n2606:4700::1/128\n[proxy_list]\n::/0\n";
static const char hosts_acl[] = "[proxy_list]\n(^|\\.)google\\.com$\n^ads?\\d+\\.\ntracker\n";
static const char *const match_acls[] = {
    [ACL_CIDR_V4] = cidr_v4_acl, [ACL_CIDR_V6] = cidr_v6_acl, [ACL_HOSTS] = hosts_acl
};

static void test_matches(void **state)
{
    (void)state;
    for (int source = ACL_CIDR_V4; source <= ACL_HOSTS; source++) {
        struct otb_acl *acl = test_load(match_acls[source]);

        check_cases(acl, (enum acl_source)source);
        otb_acl_free(acl);
    }
}

static void test_builtin_blocks(void **state)
{
    struct otb_acl *b = otb_acl_builtin_outbound_block();
    static const char *const blocked[] = {
        "0.0.0.0", "10.0.0.1", "100.64.0.1", "100.127.255.255", "127.0.0.1",
        "169.254.169.254", "172.16.0.1", "192.0.0.8", "192.0.2.1", "192.168.1.1",
        "198.18.0.1", "198.19.255.255", "198.51.100.1", "203.0.113.1", "224.0.0.1",
        "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::", "::1", "64:ff9b:1::1", "100::1", "2001:db8::1", "fc00::1", "fd12:3456::1",
        "fe80::1", "ff02::1",
        /* IPv4-mapped: checked as IPv4 */
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
        /* NAT64 well-known prefix embedding private IPv4 */
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::192.168.0.1",
        /* Azure's wire server */
        "168.63.129.16", "::ffff:168.63.129.16",
        /* IPv4-compatible (::/96, a sit tunnel delivers it over IPv4) */
        "::127.0.0.1", "::10.0.0.1", "::169.254.169.254", "::2", "::168.63.129.16",
        /* 6to4 (2002::/16): the IPv4 address in bits 16-47 */
        "2002:7f00:1::", "2002:7f00:0001::1", "2002:a00:1::1", "2002:a9fe:a9fe::",
        "2002:c0a8:101:1::1", "2002::",
    };
    static const char *const permitted[] = {
        "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.32.0.1",
        "169.253.255.255", "198.20.0.0", "223.255.255.255", "11.0.0.0",
        "2606:4700::1", "2001:4860:4860::8888", "2001:db9::1", "fec0::1",
        "::ffff:8.8.8.8", "64:ff9b::808:808",
        /* IPv4-compatible and 6to4 forms of public IPv4 addresses */
        "::8.8.8.8", "2002:808:808::1", "2002:101:101:ffff::1",
        "168.63.129.15", "168.63.129.17",
    };

    (void)state;
    assert_non_null(b);
    for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
        if (test_permitted(NULL, b, blocked[i]))
            fail_msg("%s should be blocked", blocked[i]);
    }
    for (size_t i = 0; i < sizeof(permitted) / sizeof(permitted[0]); i++) {
        if (!test_permitted(NULL, b, permitted[i]))
            fail_msg("%s should be permitted", permitted[i]);
    }
    otb_acl_free(b);
}

static void test_user_policy(void **state)
{
    struct otb_acl *b = otb_acl_builtin_outbound_block();
    struct otb_acl *user = test_load("[outbound_allow_list]\n127.0.0.0/8\n"
                                     "(^|\\.)ok\\.example$\n"
                                     "[outbound_block_list]\n8.8.8.8\n2606:4700::/32\n"
                                     "(^|\\.)example$\n");

    (void)state;
    assert_non_null(b);
    /* Allow list overrides the built-in list, also through a mapped address. */
    assert_true(test_permitted(user, b, "127.0.0.1"));
    assert_true(test_permitted(user, b, "::ffff:127.0.0.1"));
    assert_false(test_permitted(NULL, b, "127.0.0.1"));
    /* Built-in still applies to what the allow list does not cover. */
    assert_false(test_permitted(user, b, "10.0.0.1"));
    assert_false(test_permitted(user, b, "169.254.169.254"));
    /* User block list blocks public addresses. */
    assert_false(test_permitted(user, b, "8.8.8.8"));
    assert_false(test_permitted(user, b, "2606:4700::1"));
    assert_true(test_permitted(user, b, "8.8.4.4"));
    assert_true(test_permitted(NULL, b, "8.8.8.8"));
    assert_true(test_permitted(user, NULL, "10.0.0.1"));

    assert_true(otb_acl_outbound_host_permitted(NULL, "a.example"));
    assert_true(otb_acl_outbound_host_permitted(user, "www.ok.example"));
    assert_false(otb_acl_outbound_host_permitted(user, "a.example"));
    assert_true(otb_acl_outbound_host_permitted(user, "example.org"));
    otb_acl_free(user);
    otb_acl_free(b);
}

/* The user's outbound_block_list is read the same way. */
static void test_user_block_embedded(void **state)
{
    struct otb_acl *user = test_load("[outbound_block_list]\n198.51.0.0/16\n");

    (void)state;
    assert_false(test_permitted(user, NULL, "198.51.7.7"));
    assert_false(test_permitted(user, NULL, "::198.51.7.7"));
    assert_false(test_permitted(user, NULL, "2002:c633:707::"));
    assert_false(test_permitted(user, NULL, "::ffff:198.51.7.7"));
    assert_false(test_permitted(user, NULL, "64:ff9b::198.51.7.7"));
    assert_true(test_permitted(user, NULL, "2002:c634:707::"));
    assert_true(otb_acl_blocks_addr(user, test_addr(&(union test_sa){ 0 }, "::198.51.1.1")));
    assert_false(otb_acl_blocks_addr(NULL, test_addr(&(union test_sa){ 0 }, "127.0.0.1")));
    /* Other lists keep the mapped and NAT64 forms only. */
    otb_acl_free(user);
    user = test_load("[black_list]\n198.51.0.0/16\n");
    assert_true(test_match(user, OTB_ACL_BLACK, "64:ff9b::198.51.7.7"));
    assert_false(test_match(user, OTB_ACL_BLACK, "::198.51.7.7"));
    assert_false(test_match(user, OTB_ACL_BLACK, "2002:c633:707::"));
    otb_acl_free(user);
}

static bool test_client(struct otb_acl *acl, const char *text)
{
    union test_sa u;

    return otb_acl_client_permitted(acl, test_addr(&u, text));
}

/* shadowsocks-libev's rule: with [accept_all] (the default) a black_list
 * client is refused; with [reject_all] only white_list clients are
 * accepted, and black_list wins over white_list. */
static void test_client_lists(void **state)
{
    struct otb_acl *acl;

    (void)state;
    assert_true(test_client(NULL, "192.0.2.1"));
    acl = test_load("[outbound_allow_list]\n127.0.0.0/8\n");
    assert_true(test_client(acl, "127.0.0.1")); /* no client lists: everyone */
    otb_acl_free(acl);

    acl = test_load("[black_list]\n192.0.2.0/24\n2001:db8::/32\n[white_list]\n192.0.2.7\n");
    assert_false(test_client(acl, "192.0.2.1"));
    assert_false(test_client(acl, "192.0.2.7"));   /* black wins */
    assert_false(test_client(acl, "::ffff:192.0.2.1")); /* dual-stack listener */
    assert_false(test_client(acl, "2001:db8::5"));
    assert_true(test_client(acl, "198.51.100.1"));
    assert_true(test_client(acl, "2001:db9::1"));
    otb_acl_free(acl);

    acl = test_load("[reject_all]\n[white_list]\n127.0.0.2\n10.0.0.0/8\nfd00::/8\n"
                    "[black_list]\n10.9.0.0/16\n");
    assert_true(test_client(acl, "127.0.0.2"));
    assert_true(test_client(acl, "::ffff:127.0.0.2"));
    assert_true(test_client(acl, "10.1.2.3"));
    assert_true(test_client(acl, "fd00::1"));
    assert_false(test_client(acl, "127.0.0.1"));
    assert_false(test_client(acl, "10.9.1.1"));   /* black wins */
    assert_false(test_client(acl, "fe80::1"));
    /* Only the mapped form stands for an IPv4 client. */
    assert_false(test_client(acl, "64:ff9b::127.0.0.2"));
    assert_false(test_client(acl, "::127.0.0.2"));
    assert_false(test_client(acl, "2002:7f00:2::1"));
    otb_acl_free(acl);

    /* A later [accept_all] wins; the lists still hold. */
    acl = test_load("[reject_all]\n[white_list]\n127.0.0.2\n[accept_all]\n[black_list]\n"
                    "127.0.0.3\n");
    assert_true(test_client(acl, "127.0.0.1"));
    assert_true(test_client(acl, "127.0.0.2"));
    assert_false(test_client(acl, "127.0.0.3"));
    otb_acl_free(acl);

    /* [reject_all] with no white_list: nobody. */
    acl = test_load("[reject_all]\n");
    assert_false(test_client(acl, "127.0.0.1"));
    assert_false(test_client(acl, "::1"));
    otb_acl_free(acl);
}

static void test_add_addr(void **state)
{
    struct otb_acl *acl = otb_acl_new();
    union test_sa u;

    (void)state;
    assert_non_null(acl);
    assert_int_equal(otb_acl_add_addr(acl, OTB_ACL_BLACK, test_addr(&u, "192.0.2.0"), 24), 0);
    assert_int_equal(otb_acl_add_addr(acl, OTB_ACL_BLACK, test_addr(&u, "2001:db8::"), 32), 0);
    assert_int_equal(otb_acl_add_addr(acl, OTB_ACL_BLACK, test_addr(&u, "::ffff:1.2.3.4"), 128), 0);
    assert_int_equal(otb_acl_add_addr(acl, OTB_ACL_BLACK, test_addr(&u, "1.2.3.4"), 33), -1);
    assert_int_equal(otb_acl_add_addr(acl, OTB_ACL_BLACK, test_addr(&u, "::1"), 129), -1);
    assert_int_equal(otb_acl_add_addr(acl, OTB_ACL_NLISTS, test_addr(&u, "::1"), 128), -1);
    check_cases(acl, ACL_ADDED);
    otb_acl_free(acl);
}

static void test_errors(void **state)
{
    static const char nul[] = "[bypass_list]\n1.2.3.4\nfoo\0bar\n";

    (void)state;
    test_load_error("[bypass_list]\n# ok\n\n(unclosed\n", "line 4: bad regex: ");
    test_load_error("[bypass_list]\nfoo\n[nope]\n", "line 3: unknown section [nope]");
    test_load_error("# header missing\n1.2.3.4\n", "line 2: entry outside a list section");
    test_load_error("[bypass_all]\nexample\n", "line 2: entry outside a list section");
    test_load_error("[proxy_list]\n10.0.0.0/33\n", "line 2: bad prefix length");
    test_load_error("[proxy_list]\n::/129\n", "line 2: bad prefix length");
    test_load_error("[proxy_list]\n::/\n", "line 2: bad prefix length");
    test_load_error_n(nul, sizeof(nul) - 1, "line 3: NUL byte");
}

static void test_odd_input(void **state)
{
    struct otb_acl *acl;
    char *big;
    size_t n = 200000;
    char err[128] = "";

    (void)state;
    /* A NUL inside a comment is harmless. */
    static const char commented[] = "[bypass_list]\n# a\0b\n1.2.3.4";
    acl = otb_acl_new();
    assert_non_null(acl);
    assert_int_equal(otb_acl_load_text(acl, commented, sizeof(commented) - 1, err, sizeof(err)),
                     0);
    assert_true(test_match(acl, OTB_ACL_BYPASS, "1.2.3.4"));
    /* A regex starting with '[' is not mistaken for a header. */
    static const char bracket[] = "[bypass_list]\n[a-z]+\\.test$\n";
    assert_int_equal(otb_acl_load_text(acl, bracket, sizeof(bracket) - 1, err, sizeof(err)), 0);
    assert_true(otb_acl_match_host(acl, OTB_ACL_BYPASS, "abc.test"));
    /* Empty input and a NULL error buffer are fine. */
    assert_int_equal(otb_acl_load_text(acl, "", 0, NULL, 0), 0);
    assert_int_equal(otb_acl_load_text(acl, "[x]", 3, NULL, 0), -1);

    /* A huge line is rejected without overflowing anything. */
    big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    assert_int_equal(otb_acl_load_text(acl, big, n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 1: line too long"));
    otb_acl_free(acl);
    free(big);
}

static void test_load_file(void **state)
{
    struct otb_acl *acl = otb_acl_new();
    char err[512] = "";
    char path[] = "/tmp/test_acl_XXXXXX";
    static const char body[] = "[outbound_block_list]\n93.184.216.34\n[bogus]\n";
    int fd;

    (void)state;
    assert_non_null(acl);
    assert_int_equal(otb_acl_load_file(acl, "/nonexistent/otb/acl.conf", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/otb/acl.conf"));
    assert_non_null(strstr(err, "No such file"));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
    close(fd);
    assert_int_equal(otb_acl_load_file(acl, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "line 3: unknown section [bogus]"));
    assert_true(test_match(acl, OTB_ACL_OUTBOUND_BLOCK, "93.184.216.34"));
    unlink(path);
    otb_acl_free(acl);
}

static void test_local_addrs(void **state)
{
    struct otb_acl *acl = otb_acl_new();

    (void)state;
    assert_non_null(acl);
    assert_false(test_match(acl, OTB_ACL_BLACK, "127.0.0.1"));
    assert_int_equal(otb_acl_add_local_addrs(acl, OTB_ACL_BLACK), 0);
    assert_true(test_match(acl, OTB_ACL_BLACK, "127.0.0.1"));
    assert_true(test_match(acl, OTB_ACL_BLACK, "::ffff:127.0.0.1"));
    /* Host entries only: the rest of 127/8 is not this host's address. */
    assert_false(test_match(acl, OTB_ACL_BLACK, "127.0.0.2"));
    assert_false(test_match(acl, OTB_ACL_WHITE, "127.0.0.1"));
    otb_acl_free(acl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_all_sections),
        cmocka_unit_test(test_mode_defaults),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_builtin_blocks),
        cmocka_unit_test(test_user_policy),
        cmocka_unit_test(test_user_block_embedded),
        cmocka_unit_test(test_client_lists),
        cmocka_unit_test(test_add_addr),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_odd_input),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_local_addrs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
