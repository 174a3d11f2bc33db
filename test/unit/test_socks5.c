/* Unit tests for the SOCKS5 message parsers (RFC 1928, RFC 1929) and the
 * reply encoder: accepted messages, every truncation, refusals, and a whole
 * handshake in one buffer. Every call parses a copy in a buffer of exactly
 * the given length, so that a read past the end is caught by the address
 * sanitizer; outputs are preset so that writes on failure are seen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_socks5.h"

#define USER "alice"
#define PASS "s3cret-pw"
#define UNSET_SIZE ((size_t)12345)
#define UNSET_BYTE 0xEE

static uint8_t *copy_exact(const uint8_t *in, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    if (len)
        memcpy(copy, in, len);
    return copy;
}

static int greeting(const uint8_t *in, size_t len, bool want_auth, uint8_t *method,
                    size_t *consumed)
{
    uint8_t *copy = copy_exact(in, len);
    int rc;

    *method = UNSET_BYTE;
    *consumed = UNSET_SIZE;
    rc = otb_socks5_parse_greeting(copy, len, want_auth, method, consumed);
    free(copy);
    return rc;
}

static int auth(const uint8_t *in, size_t len, const char *user, const char *pass, bool *ok,
                size_t *consumed)
{
    uint8_t *copy = copy_exact(in, len);
    int rc;

    *ok = true; /* must be cleared by a failed match */
    *consumed = UNSET_SIZE;
    rc = otb_socks5_parse_auth(copy, len, user, pass, ok, consumed);
    free(copy);
    return rc;
}

static int request(const uint8_t *in, size_t len, struct otb_addr *dst, uint8_t *rep,
                   size_t *consumed)
{
    uint8_t *copy = copy_exact(in, len);
    int rc;

    memset(dst, UNSET_BYTE, sizeof(*dst));
    *rep = UNSET_BYTE;
    *consumed = UNSET_SIZE;
    rc = otb_socks5_parse_request(copy, len, dst, rep, consumed);
    free(copy);
    return rc;
}

/* ---- greeting ---- */

static void expect_greeting(const uint8_t *in, size_t len, bool want_auth, uint8_t want_method)
{
    uint8_t method, with_tail[2 + 255 + 4];
    size_t consumed;

    assert_int_equal(greeting(in, len, want_auth, &method, &consumed), OTB_OK);
    assert_int_equal(method, want_method);
    assert_int_equal(consumed, len);

    /* What follows (a pipelined request) is not consumed. */
    memcpy(with_tail, in, len);
    memcpy(with_tail + len, "\x05\x01\x00\x01", 4);
    assert_int_equal(greeting(with_tail, len + 4, want_auth, &method, &consumed), OTB_OK);
    assert_int_equal(method, want_method);
    assert_int_equal(consumed, len);

    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(greeting(in, cut, want_auth, &method, &consumed), OTB_NEED_MORE);
        assert_int_equal(method, UNSET_BYTE);
        assert_int_equal(consumed, UNSET_SIZE);
    }
}

static void test_greeting_methods(void **state)
{
    static const uint8_t no_auth[] = { 5, 1, OTB_SOCKS5_NO_AUTH };
    static const uint8_t both[] = { 5, 2, OTB_SOCKS5_NO_AUTH, OTB_SOCKS5_USERPASS };
    static const uint8_t userpass[] = { 5, 1, OTB_SOCKS5_USERPASS };
    static const uint8_t gssapi[] = { 5, 1, 0x01 };
    static const uint8_t offers_ff[] = { 5, 3, 0x01, 0x03, OTB_SOCKS5_NO_METHOD };

    (void)state;
    expect_greeting(no_auth, sizeof(no_auth), false, OTB_SOCKS5_NO_AUTH);
    expect_greeting(both, sizeof(both), false, OTB_SOCKS5_NO_AUTH);
    expect_greeting(both, sizeof(both), true, OTB_SOCKS5_USERPASS);
    expect_greeting(userpass, sizeof(userpass), true, OTB_SOCKS5_USERPASS);
    /* Without the method we want: "no acceptable methods". */
    expect_greeting(no_auth, sizeof(no_auth), true, OTB_SOCKS5_NO_METHOD);
    expect_greeting(userpass, sizeof(userpass), false, OTB_SOCKS5_NO_METHOD);
    expect_greeting(gssapi, sizeof(gssapi), false, OTB_SOCKS5_NO_METHOD);
    expect_greeting(gssapi, sizeof(gssapi), true, OTB_SOCKS5_NO_METHOD);
    expect_greeting(offers_ff, sizeof(offers_ff), false, OTB_SOCKS5_NO_METHOD);
}

static void test_greeting_255_methods(void **state)
{
    uint8_t in[2 + 255];

    (void)state;
    in[0] = 5;
    in[1] = 255;
    for (size_t i = 0; i < 255; i++)
        in[2 + i] = (uint8_t)(0x80 + i % 0x7f);
    expect_greeting(in, sizeof(in), false, OTB_SOCKS5_NO_METHOD);
    /* The wanted method as the very last one offered. */
    in[2 + 254] = OTB_SOCKS5_USERPASS;
    expect_greeting(in, sizeof(in), true, OTB_SOCKS5_USERPASS);
    expect_greeting(in, sizeof(in), false, OTB_SOCKS5_NO_METHOD);
}

static void test_greeting_bad(void **state)
{
    static const uint8_t v4[] = { 4, 1, 0 };
    static const uint8_t zero_methods[] = { 5, 0 };
    static const uint8_t zero_then_more[] = { 5, 0, 0, 2 };
    static const uint8_t http[] = { 'G', 'E', 'T', ' ' };
    uint8_t method;
    size_t consumed;

    (void)state;
    for (int a = 0; a < 2; a++) {
        bool want_auth = a == 1;
        /* The version alone is enough to refuse. */
        assert_int_equal(greeting(v4, 1, want_auth, &method, &consumed), OTB_BAD);
        assert_int_equal(greeting(v4, sizeof(v4), want_auth, &method, &consumed), OTB_BAD);
        assert_int_equal(greeting(http, 1, want_auth, &method, &consumed), OTB_BAD);
        assert_int_equal(greeting(http, sizeof(http), want_auth, &method, &consumed), OTB_BAD);
        assert_int_equal(greeting(zero_methods, sizeof(zero_methods), want_auth, &method,
                                  &consumed),
                         OTB_BAD);
        assert_int_equal(greeting(zero_then_more, sizeof(zero_then_more), want_auth, &method,
                                  &consumed),
                         OTB_BAD);
        assert_int_equal(method, UNSET_BYTE);
        assert_int_equal(consumed, UNSET_SIZE);
    }
}

/* ---- username/password ---- */

/* [1][ulen][user][plen][pass]; returns the length. */
static size_t build_auth(uint8_t *out, const char *user, size_t ulen, const char *pass,
                         size_t plen)
{
    out[0] = 1;
    out[1] = (uint8_t)ulen;
    memcpy(out + 2, user, ulen);
    out[2 + ulen] = (uint8_t)plen;
    memcpy(out + 3 + ulen, pass, plen);
    return 3 + ulen + plen;
}

/* The message is complete at len and at no shorter length; ok as given. */
static void expect_auth(const uint8_t *in, size_t len, const char *user, const char *pass,
                        bool want_ok)
{
    uint8_t with_tail[3 + 255 + 255 + 4];
    bool ok;
    size_t consumed;

    assert_int_equal(auth(in, len, user, pass, &ok, &consumed), OTB_OK);
    assert_int_equal(ok, want_ok);
    assert_int_equal(consumed, len);

    memcpy(with_tail, in, len);
    memcpy(with_tail + len, "\x05\x01\x00\x03", 4);
    assert_int_equal(auth(with_tail, len + 4, user, pass, &ok, &consumed), OTB_OK);
    assert_int_equal(ok, want_ok);
    assert_int_equal(consumed, len);

    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(auth(in, cut, user, pass, &ok, &consumed), OTB_NEED_MORE);
        assert_int_equal(consumed, UNSET_SIZE);
    }
}

static void expect_auth_text(const char *user, const char *pass, bool want_ok)
{
    uint8_t in[3 + 255 + 255];
    size_t len = build_auth(in, user, strlen(user), pass, strlen(pass));

    expect_auth(in, len, USER, PASS, want_ok);
}

static void test_auth_match(void **state)
{
    (void)state;
    expect_auth_text(USER, PASS, true);
    /* Wrong password: same length, one byte off, shorter, longer, empty. */
    expect_auth_text(USER, "s3cret-pW", false);
    expect_auth_text(USER, "X3cret-pw", false);
    expect_auth_text(USER, "s3cret-p", false);
    expect_auth_text(USER, "s3cret-pw!", false);
    expect_auth_text(USER, "", false);
    /* Wrong user with the right password, and the two swapped. */
    expect_auth_text("alicE", PASS, false);
    expect_auth_text("alic", PASS, false);
    expect_auth_text("alice2", PASS, false);
    expect_auth_text(PASS, USER, false);
    /* The split between user and password matters, not the concatenation. */
    expect_auth_text("alices", "3cret-pw", false);
}

/* The comparison pads both sides with zeros to a fixed size: the right
 * secret followed by NUL bytes must still be refused. */
static void test_auth_trailing_nul(void **state)
{
    uint8_t in[3 + 255 + 255];
    size_t len;

    (void)state;
    len = build_auth(in, USER, strlen(USER), PASS "\0", strlen(PASS) + 1);
    expect_auth(in, len, USER, PASS, false);
    len = build_auth(in, USER "\0\0", strlen(USER) + 2, PASS, strlen(PASS));
    expect_auth(in, len, USER, PASS, false);
    len = build_auth(in, USER, strlen(USER), PASS, strlen(PASS));
    expect_auth(in, len, USER, PASS, true);
}

static void test_auth_255(void **state)
{
    char user[256], pass[256];
    uint8_t in[3 + 255 + 255];
    size_t len;

    (void)state;
    memset(user, 'u', 255);
    user[255] = '\0';
    memset(pass, 'p', 255);
    pass[254] = 'q';
    pass[255] = '\0';
    len = build_auth(in, user, 255, pass, 255);
    assert_int_equal(len, 513);
    expect_auth(in, len, user, pass, true);

    /* Off in the very last byte of either field. */
    in[2 + 254] = 'x';
    expect_auth(in, len, user, pass, false);
    in[2 + 254] = 'u';
    in[len - 1] = 'p';
    expect_auth(in, len, user, pass, false);
    in[len - 1] = 'q';

    /* 255 bytes offered where 254 are expected, and the other way round. */
    pass[254] = '\0';
    expect_auth(in, len, user, pass, false);
    len = build_auth(in, user, 255, pass, 254);
    expect_auth(in, len, user, pass, true);
    pass[254] = 'q';
    expect_auth(in, len, user, pass, false);
}

static void test_auth_bad(void **state)
{
    static const uint8_t v5[] = { 5, 1, 'a', 1, 'b' };
    static const uint8_t empty_user[] = { 1, 0, 1, 'b' };
    static const uint8_t empty_user_only[] = { 1, 0 };
    bool ok;
    size_t consumed;

    (void)state;
    /* Subnegotiation version 1 only; the first byte is enough to refuse. */
    assert_int_equal(auth(v5, 1, USER, PASS, &ok, &consumed), OTB_BAD);
    assert_int_equal(auth(v5, sizeof(v5), USER, PASS, &ok, &consumed), OTB_BAD);
    assert_int_equal(auth((const uint8_t *)"\x00", 1, USER, PASS, &ok, &consumed), OTB_BAD);
    assert_int_equal(auth(empty_user, sizeof(empty_user), USER, PASS, &ok, &consumed), OTB_BAD);
    assert_int_equal(auth(empty_user_only, sizeof(empty_user_only), USER, PASS, &ok, &consumed),
                     OTB_BAD);
    assert_int_equal(consumed, UNSET_SIZE);
    /* An empty password is a well-formed (wrong) answer. */
    assert_int_equal(auth((const uint8_t *)"\x01\x01u\x00", 4, USER, PASS, &ok, &consumed),
                     OTB_OK);
    assert_false(ok);
    assert_int_equal(consumed, 4);
}

/* ---- request ---- */

static void expect_connect(const uint8_t *in, size_t len, uint8_t atyp, uint16_t port)
{
    struct otb_addr dst;
    uint8_t rep, with_tail[4 + OTB_ADDR_MAX_LEN + 5], enc[OTB_ADDR_MAX_LEN];
    size_t consumed;

    assert_int_equal(request(in, len, &dst, &rep, &consumed), OTB_OK);
    assert_int_equal(rep, OTB_SOCKS5_OK);
    assert_int_equal(consumed, len);
    assert_int_equal(dst.atyp, atyp);
    assert_int_equal(dst.port, port);
    /* The address is exactly the header's [ATYP addr port] part. */
    assert_int_equal(otb_addr_encode(&dst, enc), len - 3);
    assert_memory_equal(enc, in + 3, len - 3);

    /* Early data sent behind the request stays for the relay. */
    memcpy(with_tail, in, len);
    memcpy(with_tail + len, "GET /", 5);
    assert_int_equal(request(with_tail, len + 5, &dst, &rep, &consumed), OTB_OK);
    assert_int_equal(rep, OTB_SOCKS5_OK);
    assert_int_equal(consumed, len);

    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(request(in, cut, &dst, &rep, &consumed), OTB_NEED_MORE);
        assert_int_equal(rep, UNSET_BYTE);
        assert_int_equal(consumed, UNSET_SIZE);
    }
}

static void test_request_connect(void **state)
{
    static const uint8_t v4[] = { 5, 1, 0, OTB_ATYP_IPV4, 192, 0, 2, 7, 0x01, 0xBB };
    static const uint8_t v6[] = { 5, 1, 0, OTB_ATYP_IPV6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 0x42, 0x1F, 0x90 };
    static const uint8_t dom[] = { 5, 1, 0, OTB_ATYP_DOMAIN, 16, 'w', 'w', 'w', '.', 'e', 'x',
                                   'a', 'm', 'p', 'l', 'e', '.', 't', 'e', 's', 't', 0, 80 };
    uint8_t longest[4 + 1 + 255 + 2];
    struct otb_addr dst;
    uint8_t rep;
    size_t consumed;

    (void)state;
    expect_connect(v4, sizeof(v4), OTB_ATYP_IPV4, 443);
    expect_connect(v6, sizeof(v6), OTB_ATYP_IPV6, 8080);
    expect_connect(dom, sizeof(dom), OTB_ATYP_DOMAIN, 80);
    assert_int_equal(request(dom, sizeof(dom), &dst, &rep, &consumed), OTB_OK);
    assert_string_equal(dst.u.host, "www.example.test");
    assert_int_equal(request(v4, sizeof(v4), &dst, &rep, &consumed), OTB_OK);
    assert_memory_equal(dst.u.v4, v4 + 4, 4);

    memcpy(longest, "\x05\x01\x00\x03\xff", 5);
    memset(longest + 5, 'a', 255);
    longest[sizeof(longest) - 2] = 0xFF;
    longest[sizeof(longest) - 1] = 0xFF;
    expect_connect(longest, sizeof(longest), OTB_ATYP_DOMAIN, 65535);
}

static void expect_refusal(const uint8_t *in, size_t len, uint8_t want_rep)
{
    struct otb_addr dst;
    uint8_t rep;
    size_t consumed;

    /* Decided as soon as the four fixed bytes are in. */
    for (size_t cut = 0; cut < 4 && cut < len; cut++)
        assert_int_equal(request(in, cut, &dst, &rep, &consumed), OTB_NEED_MORE);
    for (size_t cut = 4; cut <= len; cut++) {
        assert_int_equal(request(in, cut, &dst, &rep, &consumed), OTB_OK);
        assert_int_equal(rep, want_rep);
        assert_int_equal(consumed, cut);
    }
}

static void test_request_refused(void **state)
{
    static const uint8_t bind[] = { 5, 2, 0, OTB_ATYP_IPV4, 192, 0, 2, 7, 0, 80 };
    static const uint8_t udp[] = { 5, 3, 0, OTB_ATYP_IPV4, 0, 0, 0, 0, 0, 0 };
    static const uint8_t cmd0[] = { 5, 0, 0, OTB_ATYP_IPV4, 192, 0, 2, 7, 0, 80 };
    static const uint8_t cmd_ff[] = { 5, 0xFF, 0, OTB_ATYP_DOMAIN, 1, 'a', 0, 80 };
    static const uint8_t atyp2[] = { 5, 1, 0, 2, 192, 0, 2, 7, 0, 80 };
    static const uint8_t atyp0[] = { 5, 1, 0, 0 };
    static const uint8_t atyp_ff[] = { 5, 1, 0, 0xFF, 1, 2, 3, 4, 5, 6 };

    (void)state;
    expect_refusal(bind, sizeof(bind), OTB_SOCKS5_CMD_UNSUPPORTED);
    expect_refusal(udp, sizeof(udp), OTB_SOCKS5_CMD_UNSUPPORTED);
    expect_refusal(cmd0, sizeof(cmd0), OTB_SOCKS5_CMD_UNSUPPORTED);
    expect_refusal(cmd_ff, sizeof(cmd_ff), OTB_SOCKS5_CMD_UNSUPPORTED);
    expect_refusal(atyp2, sizeof(atyp2), OTB_SOCKS5_ATYP_UNSUPPORTED);
    expect_refusal(atyp0, sizeof(atyp0), OTB_SOCKS5_ATYP_UNSUPPORTED);
    expect_refusal(atyp_ff, sizeof(atyp_ff), OTB_SOCKS5_ATYP_UNSUPPORTED);
}

static void test_request_bad(void **state)
{
    static const uint8_t v4[] = { 4, 1, 0, OTB_ATYP_IPV4, 192, 0, 2, 7, 0, 80 };
    static const uint8_t empty_domain[] = { 5, 1, 0, OTB_ATYP_DOMAIN, 0, 0, 80 };
    static const uint8_t nul_domain[] = { 5, 1, 0, OTB_ATYP_DOMAIN, 3, 'a', 0, 'b', 0, 80 };
    struct otb_addr dst;
    uint8_t rep;
    size_t consumed;

    (void)state;
    for (size_t cut = 1; cut <= sizeof(v4); cut++)
        assert_int_equal(request(v4, cut, &dst, &rep, &consumed), OTB_BAD);
    assert_int_equal(request(empty_domain, 5, &dst, &rep, &consumed), OTB_BAD);
    assert_int_equal(request(empty_domain, sizeof(empty_domain), &dst, &rep, &consumed),
                     OTB_BAD);
    assert_int_equal(request(nul_domain, sizeof(nul_domain), &dst, &rep, &consumed), OTB_BAD);
    assert_int_equal(rep, UNSET_BYTE);
    assert_int_equal(consumed, UNSET_SIZE);
}

/* ---- reply ---- */

static void test_reply(void **state)
{
    static const uint8_t reps[] = { OTB_SOCKS5_OK, OTB_SOCKS5_FAILURE, OTB_SOCKS5_NOT_ALLOWED,
                                    OTB_SOCKS5_CMD_UNSUPPORTED, OTB_SOCKS5_ATYP_UNSUPPORTED };
    uint8_t out[OTB_SOCKS5_REPLY_LEN + 4];

    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(reps); i++) {
        const uint8_t want[OTB_SOCKS5_REPLY_LEN] = { 5, reps[i], 0, OTB_ATYP_IPV4, 0, 0, 0, 0,
                                                     0, 0 };
        memset(out, 0xAA, sizeof(out));
        assert_int_equal(otb_socks5_reply(reps[i], out), OTB_SOCKS5_REPLY_LEN);
        assert_memory_equal(out, want, OTB_SOCKS5_REPLY_LEN);
        for (size_t j = OTB_SOCKS5_REPLY_LEN; j < sizeof(out); j++)
            assert_int_equal(out[j], 0xAA);
    }
}

/* ---- a whole handshake, as a client pipelining it would send it ---- */

static void test_pipelined_handshake(void **state)
{
    static const uint8_t wire[] = {
        5, 2, OTB_SOCKS5_NO_AUTH, OTB_SOCKS5_USERPASS,                           /* greeting */
        1, 5, 'a', 'l', 'i', 'c', 'e', 9, 's', '3', 'c', 'r', 'e', 't', '-', 'p', 'w', /* auth */
        5, 1, 0, OTB_ATYP_DOMAIN, 8, 'a', '.', 'e', 'x', '.', 't', 's', 't', 0x01, 0xBB,
        'h', 'e', 'l', 'l', 'o', /* early data */
    };
    struct otb_addr dst;
    uint8_t method, rep;
    bool ok;
    size_t used, at = 0;

    (void)state;
    assert_int_equal(greeting(wire, sizeof(wire), true, &method, &used), OTB_OK);
    assert_int_equal(method, OTB_SOCKS5_USERPASS);
    at += used;
    assert_int_equal(auth(wire + at, sizeof(wire) - at, USER, PASS, &ok, &used), OTB_OK);
    assert_true(ok);
    at += used;
    assert_int_equal(request(wire + at, sizeof(wire) - at, &dst, &rep, &used), OTB_OK);
    assert_int_equal(rep, OTB_SOCKS5_OK);
    assert_string_equal(dst.u.host, "a.ex.tst");
    assert_int_equal(dst.port, 443);
    at += used;
    assert_int_equal(sizeof(wire) - at, 5);
    assert_memory_equal(wire + at, "hello", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_methods),
        cmocka_unit_test(test_greeting_255_methods),
        cmocka_unit_test(test_greeting_bad),
        cmocka_unit_test(test_auth_match),
        cmocka_unit_test(test_auth_trailing_nul),
        cmocka_unit_test(test_auth_255),
        cmocka_unit_test(test_auth_bad),
        cmocka_unit_test(test_request_connect),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_request_bad),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_pipelined_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
