/* Unit tests for the SOCKS5-style address header: parse/encode, truncation,
 * malformed headers, sockaddr conversion and escaped formatting. Addresses
 * are documentation ranges and exist only in memory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "otb_addr.h"
#include "otb_common.h"

static const uint8_t hdr_v4[] = { 1, 192, 0, 2, 1, 0x01, 0xBB };
static const uint8_t hdr_v6[] = { 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                                  0x1F, 0x90 };
static const uint8_t hdr_dom[] = { 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
                                   0, 80 };

/* Parses a copy in a buffer of exactly len bytes, so reads past the end
 * are caught by the address sanitizer. */
static int parse_exact(const uint8_t *in, size_t len, struct otb_addr *a, size_t *consumed)
{
    uint8_t *copy = malloc(len ? len : 1);
    int rc;

    assert_non_null(copy);
    if (len)
        memcpy(copy, in, len);
    rc = otb_addr_parse(copy, len, a, consumed);
    free(copy);
    return rc;
}

static void check_round_trip(const uint8_t *hdr, size_t len)
{
    struct otb_addr a;
    size_t consumed = 0;
    uint8_t out[OTB_ADDR_MAX_LEN], with_tail[OTB_ADDR_MAX_LEN + 8];

    memset(&a, 0xEE, sizeof(a));
    assert_int_equal(parse_exact(hdr, len, &a, &consumed), OTB_OK);
    assert_int_equal(consumed, len);
    assert_int_equal(a.atyp, hdr[0]);
    assert_int_equal(a.port, otb_get_be16(hdr + len - 2));
    assert_int_equal(otb_addr_encode(&a, out), len);
    assert_memory_equal(out, hdr, len);

    /* Trailing payload is not consumed. */
    memcpy(with_tail, hdr, len);
    memset(with_tail + len, 0x42, 8);
    consumed = 0;
    assert_int_equal(parse_exact(with_tail, len + 8, &a, &consumed), OTB_OK);
    assert_int_equal(consumed, len);

    /* Every strict prefix is incomplete. */
    for (size_t cut = 0; cut < len; cut++) {
        consumed = 12345;
        assert_int_equal(parse_exact(hdr, cut, &a, &consumed), OTB_NEED_MORE);
        assert_int_equal(consumed, 12345);
    }
}

static void test_ipv4(void **state)
{
    struct otb_addr a;
    size_t consumed;
    static const uint8_t v4[] = { 192, 0, 2, 1 };

    (void)state;
    check_round_trip(hdr_v4, sizeof(hdr_v4));
    assert_int_equal(otb_addr_parse(hdr_v4, sizeof(hdr_v4), &a, &consumed), OTB_OK);
    assert_memory_equal(a.u.v4, v4, 4);
    assert_int_equal(a.port, 443);
}

static void test_ipv6(void **state)
{
    struct otb_addr a;
    size_t consumed;

    (void)state;
    check_round_trip(hdr_v6, sizeof(hdr_v6));
    assert_int_equal(otb_addr_parse(hdr_v6, sizeof(hdr_v6), &a, &consumed), OTB_OK);
    assert_memory_equal(a.u.v6, hdr_v6 + 1, 16);
    assert_int_equal(a.port, 8080);
}

static void test_domain(void **state)
{
    struct otb_addr a, b;
    size_t consumed;
    uint8_t hdr[OTB_ADDR_MAX_LEN], out[OTB_ADDR_MAX_LEN];
    char name[256];

    (void)state;
    check_round_trip(hdr_dom, sizeof(hdr_dom));
    assert_int_equal(otb_addr_parse(hdr_dom, sizeof(hdr_dom), &a, &consumed), OTB_OK);
    assert_int_equal(a.host_len, 11);
    assert_string_equal(a.u.host, "example.com");
    assert_int_equal(a.port, 80);

    /* Lengths 1..255, arbitrary non-NUL bytes, extreme ports. */
    for (size_t n = 1; n <= 255; n++) {
        hdr[0] = OTB_ATYP_DOMAIN;
        hdr[1] = (uint8_t)n;
        for (size_t i = 0; i < n; i++)
            hdr[2 + i] = (uint8_t)(1 + (i * 37 + n) % 255);
        otb_put_be16(hdr + 2 + n, (uint16_t)(n & 1 ? 0xFFFF : 0));
        check_round_trip(hdr, n + 4);
        assert_int_equal(otb_addr_parse(hdr, n + 4, &a, &consumed), OTB_OK);
        assert_int_equal(strlen(a.u.host), n);
    }
    assert_int_equal(otb_addr_encode(&a, out), OTB_ADDR_MAX_LEN);

    /* otb_addr_set_domain produces the same header as parsing. */
    memset(name, 'a', 255);
    name[255] = '\0';
    assert_int_equal(otb_addr_set_domain(&b, name, 443), 0);
    assert_int_equal(otb_addr_encode(&b, out), OTB_ADDR_MAX_LEN);
    assert_int_equal(otb_addr_parse(out, OTB_ADDR_MAX_LEN, &a, &consumed), OTB_OK);
    assert_int_equal(consumed, OTB_ADDR_MAX_LEN);
    assert_string_equal(a.u.host, name);
    assert_int_equal(a.port, 443);

    assert_int_equal(otb_addr_set_domain(&b, "example.org", 53), 0);
    assert_int_equal(b.atyp, OTB_ATYP_DOMAIN);
    assert_int_equal(b.host_len, 11);
    assert_int_equal(otb_addr_encode(&b, out), 2 + 11 + 2);
    assert_memory_equal(out, "\x03\x0b" "example.org\x00\x35", 15);
}

static void test_set_domain_reject(void **state)
{
    struct otb_addr a;
    char name[300];

    (void)state;
    assert_int_equal(otb_addr_set_domain(&a, "", 80), -EINVAL);
    memset(name, 'b', 256);
    name[256] = '\0';
    assert_int_equal(otb_addr_set_domain(&a, name, 80), -EINVAL);
    memset(name, 'b', 299);
    name[299] = '\0';
    assert_int_equal(otb_addr_set_domain(&a, name, 80), -EINVAL);
    name[1] = '\0';
    assert_int_equal(otb_addr_set_domain(&a, name, 80), 0);
    assert_int_equal(a.host_len, 1);
}

static void test_bad_atyp(void **state)
{
    uint8_t hdr[64];
    struct otb_addr a;
    size_t consumed;

    (void)state;
    memset(hdr, 0, sizeof(hdr));
    for (int t = 0; t < 256; t++) {
        if (t == OTB_ATYP_IPV4 || t == OTB_ATYP_IPV6 || t == OTB_ATYP_DOMAIN)
            continue;
        hdr[0] = (uint8_t)t;
        hdr[1] = 4;
        /* Refused as soon as the type byte is seen, whatever follows. */
        for (size_t len = 1; len <= sizeof(hdr); len += 9)
            assert_int_equal(parse_exact(hdr, len, &a, &consumed), OTB_BAD);
    }
    hdr[0] = 0;
    assert_int_equal(parse_exact(hdr, 7, &a, &consumed), OTB_BAD);
    hdr[0] = 2;
    assert_int_equal(parse_exact(hdr, 7, &a, &consumed), OTB_BAD);
    hdr[0] = 5;
    assert_int_equal(parse_exact(hdr, 19, &a, &consumed), OTB_BAD);
    hdr[0] = 255;
    assert_int_equal(parse_exact(hdr, 1, &a, &consumed), OTB_BAD);
}

static void test_bad_domain(void **state)
{
    struct otb_addr a;
    size_t consumed;
    static const uint8_t empty[] = { 3, 0, 0, 80 };
    uint8_t hdr[8 + 255];

    (void)state;
    assert_int_equal(parse_exact(empty, 2, &a, &consumed), OTB_BAD);
    assert_int_equal(parse_exact(empty, sizeof(empty), &a, &consumed), OTB_BAD);

    /* A NUL anywhere in the name, for a few name lengths. */
    for (size_t n = 1; n <= 255; n += (n < 8 ? 1 : 61)) {
        for (size_t pos = 0; pos < n; pos++) {
            hdr[0] = OTB_ATYP_DOMAIN;
            hdr[1] = (uint8_t)n;
            memset(hdr + 2, 'x', n);
            hdr[2 + pos] = '\0';
            hdr[2 + n] = 0;
            hdr[3 + n] = 80;
            assert_int_equal(parse_exact(hdr, n + 4, &a, &consumed), OTB_BAD);
            assert_int_equal(parse_exact(hdr, sizeof(hdr), &a, &consumed), OTB_BAD);
        }
    }
}

/* SA converts to an address of type ATYP and PORT, which converts back to
 * exactly SA (LEN bytes). */
static void sockaddr_round_trip(struct otb_addr *a, const void *sa, socklen_t salen, int atyp,
                                uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;

    assert_int_equal(otb_addr_from_sockaddr(a, (const struct sockaddr *)sa), 0);
    assert_int_equal(a->atyp, atyp);
    assert_int_equal(a->port, port);
    assert_int_equal(otb_addr_to_sockaddr(a, &ss, &len), 0);
    assert_int_equal(len, salen);
    assert_memory_equal(&ss, sa, salen);
}

static void test_sockaddr(void **state)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr_un sun;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    struct otb_addr a;
    uint8_t out[OTB_ADDR_MAX_LEN];

    (void)state;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(8388);
    assert_int_equal(inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr), 1);
    sockaddr_round_trip(&a, &sin, sizeof(sin), OTB_ATYP_IPV4, 8388);
    assert_int_equal(otb_addr_encode(&a, out), 7);
    assert_memory_equal(out, "\x01\xc6\x33\x64\x07\x20\xc4", 7);

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(65535);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::ff00:42:8329", &sin6.sin6_addr), 1);
    sockaddr_round_trip(&a, &sin6, sizeof(sin6), OTB_ATYP_IPV6, 65535);
    assert_memory_equal(a.u.v6, &sin6.sin6_addr, 16);

    /* Parsed headers convert too. */
    {
        size_t consumed;
        const struct sockaddr_in *p4 = (const struct sockaddr_in *)&ss;
        assert_int_equal(otb_addr_parse(hdr_v4, sizeof(hdr_v4), &a, &consumed), OTB_OK);
        assert_int_equal(otb_addr_to_sockaddr(&a, &ss, &len), 0);
        assert_int_equal(p4->sin_family, AF_INET);
        assert_int_equal(ntohs(p4->sin_port), 443);
        assert_int_equal(ntohl(p4->sin_addr.s_addr), 0xC0000201u);
        /* A domain must be resolved first. */
        assert_int_equal(otb_addr_parse(hdr_dom, sizeof(hdr_dom), &a, &consumed), OTB_OK);
        assert_int_equal(otb_addr_to_sockaddr(&a, &ss, &len), -EINVAL);
    }

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    assert_int_equal(otb_addr_from_sockaddr(&a, (const struct sockaddr *)&sun), -EAFNOSUPPORT);
}

/* Formats into a buffer of exactly cap bytes followed by a guard area. */
static void format_capped(const struct otb_addr *a, size_t cap, const char *full)
{
    enum { GUARD = 32 };
    char *buf = malloc(cap + GUARD);

    assert_non_null(buf);
    memset(buf, '#', cap + GUARD);
    otb_addr_format(a, buf, cap);
    for (size_t i = 0; i < GUARD; i++)
        assert_int_equal(buf[cap + i], '#');
    if (cap > 0) {
        size_t n = strlen(buf);
        assert_true(n < cap);
        assert_memory_equal(buf, full, n);
        assert_int_equal(n, OTB_MIN(strlen(full), cap - 1));
    }
    free(buf);
}

static void check_format(const struct otb_addr *a, const char *expect)
{
    char out[OTB_ADDR_FMT_LEN];

    otb_addr_format(a, out, sizeof(out));
    assert_string_equal(out, expect);
    for (size_t cap = 0; cap <= strlen(expect) + 2; cap++)
        format_capped(a, cap, expect);
}

static void test_format(void **state)
{
    struct otb_addr a;
    size_t consumed;
    uint8_t hdr[4 + 255];
    char expect[OTB_ADDR_FMT_LEN];
    static const uint8_t odd[] = { 3, 9, 'a', 0x01, 'b', '\\', 'c', 0x7F, 0xFF, '\n', ' ', 0x12, 0x34 };
    struct sockaddr_un sun;
    char out[64];

    (void)state;
    assert_int_equal(otb_addr_parse(hdr_v4, sizeof(hdr_v4), &a, &consumed), OTB_OK);
    check_format(&a, "192.0.2.1:443");
    assert_int_equal(otb_addr_parse(hdr_v6, sizeof(hdr_v6), &a, &consumed), OTB_OK);
    check_format(&a, "[2001:db8::1]:8080");
    assert_int_equal(otb_addr_parse(hdr_dom, sizeof(hdr_dom), &a, &consumed), OTB_OK);
    check_format(&a, "example.com:80");

    /* Control bytes, backslash, DEL and high bytes are escaped. */
    assert_int_equal(otb_addr_parse(odd, sizeof(odd), &a, &consumed), OTB_OK);
    check_format(&a, "a\\x01b\\x5cc\\x7f\\xff\\x0a :4660");

    /* The longest escaped name still fits OTB_ADDR_FMT_LEN. */
    hdr[0] = OTB_ATYP_DOMAIN;
    hdr[1] = 255;
    memset(hdr + 2, 0xFF, 255);
    hdr[257] = 0xFF;
    hdr[258] = 0xFF;
    assert_int_equal(otb_addr_parse(hdr, sizeof(hdr), &a, &consumed), OTB_OK);
    expect[0] = '\0';
    for (int i = 0; i < 255; i++)
        strcat(expect, "\\xff");
    strcat(expect, ":65535");
    assert_true(strlen(expect) < OTB_ADDR_FMT_LEN);
    check_format(&a, expect);

    /* Only escapes; truncated output is still a prefix of the full text. */
    hdr[1] = 10;
    memset(hdr + 2, 0x01, 10);
    hdr[12] = 0;
    hdr[13] = 1;
    assert_int_equal(otb_addr_parse(hdr, 14, &a, &consumed), OTB_OK);
    check_format(&a, "\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01:1");

    /* Unsupported families are described, not decoded. */
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    otb_sockaddr_format((const struct sockaddr *)&sun, out, sizeof(out));
    assert_string_equal(out, "(family 1)");
    {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(1);
        sin.sin_addr.s_addr = htonl(0x7F000001);
        otb_sockaddr_format((const struct sockaddr *)&sin, out, sizeof(out));
        assert_string_equal(out, "127.0.0.1:1");
        otb_sockaddr_format((const struct sockaddr *)&sin, out, 5);
        assert_string_equal(out, "127.");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_domain),
        cmocka_unit_test(test_set_domain_reject),
        cmocka_unit_test(test_bad_atyp),
        cmocka_unit_test(test_bad_domain),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
