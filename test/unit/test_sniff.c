/* Unit tests for the destination name sniffer: a real TLS ClientHello
 * (unchanged, truncated at every offset, rearranged, corrupted field by
 * field, grown past the input cap) and HTTP/1.x request heads. Every call
 * parses a copy in a buffer of exactly the given length, so that a read past
 * the end is caught by the address sanitizer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_sniff.h"

/* The first bytes curl 7.88.1 (OpenSSL 3.0) sent for
 * https://www.example.test:PORT/ with the name resolved to 127.0.0.1
 * (--resolve), captured by a local socat listener: one record, SNI first,
 * then ALPN, key share, and a padding extension up to 512 bytes. */
static const char curl_hello_hex[] =
    "1603010200010001fc03031ba3a84f5bd2aba58ab18a5c962321d16236a188b7b9e7139390d3dd93"
    "cd3a4020e9c9d2589578649a0ae528d38d675e43682454a3876c0d560a4726d90e7c0e9e003e1302"
    "13031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039"
    "c009c0130033009d009c003d003c0035002f00ff010001750000001500130000107777772e657861"
    "6d706c652e74657374000b000403000102000a00160014001d0017001e0019001801000101010201"
    "0301040010000e000c02683208687474702f312e31001600000017000000310000000d002a002804"
    "0305030603080708080809080a080b08040805080604010501060103030301030204020502060200"
    "2b0009080304030303020301002d00020101003300260024001d0020377683b7bcfd9749bedeaa37"
    "26d662bbb9739283ce32b404ba4c3c963cc5c37a001500ad00000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000";

#define SNI_NAME "www.example.test"
#define HELLO_MAX 8192
#define UNTOUCHED "untouched"
#define KIND_UNSET ((enum otb_sniff_kind)77)

struct hello {
    uint8_t b[HELLO_MAX];
    size_t len;
};

static void hello_load(struct hello *h)
{
    size_t n = strlen(curl_hello_hex) / 2;

    assert_true(n <= sizeof(h->b));
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(curl_hello_hex + 2 * i, "%2x", &v), 1);
        h->b[i] = (uint8_t)v;
    }
    h->len = n;
}

/* Offset of the extensions' total length: after the record and handshake
 * headers, version, random, and the three variable-length vectors. */
static size_t hello_ext_len_at(const struct hello *h)
{
    size_t sid = h->b[43];
    size_t suites = otb_get_be16(h->b + 44 + sid);
    size_t comp = h->b[46 + sid + suites];
    return 47 + sid + suites + comp;
}

static size_t hello_name_end(const struct hello *h)
{
    const uint8_t *p = memmem(h->b, h->len, SNI_NAME, strlen(SNI_NAME));

    assert_non_null(p);
    return (size_t)(p - h->b) + strlen(SNI_NAME);
}

/* Big-endian field of width bytes at at, plus delta. */
static void field_add(uint8_t *b, size_t at, size_t width, long delta)
{
    unsigned long v = 0;

    for (size_t i = 0; i < width; i++)
        v = (v << 8) | b[at + i];
    v += (unsigned long)delta;
    for (size_t i = width; i-- > 0; v >>= 8)
        b[at + i] = (uint8_t)v;
}

/* The record, the handshake message and the extension block all grow. */
static void hello_grow(struct hello *h, long delta)
{
    field_add(h->b, 3, 2, delta);
    field_add(h->b, 6, 3, delta);
    field_add(h->b, hello_ext_len_at(h), 2, delta);
}

/* An extension of datalen zero bytes in front of all others. */
static void hello_add_ext_front(struct hello *h, uint16_t type, size_t datalen)
{
    size_t at = hello_ext_len_at(h) + 2, n = 4 + datalen;

    assert_true(h->len + n <= sizeof(h->b));
    memmove(h->b + at + n, h->b + at, h->len - at);
    otb_put_be16(h->b + at, type);
    otb_put_be16(h->b + at + 2, (uint16_t)datalen);
    memset(h->b + at + 4, 0, datalen);
    h->len += n;
    hello_grow(h, (long)n);
}

/* curl sends server_name first; move it behind the padding extension. */
static void hello_move_sni_last(struct hello *h)
{
    size_t at = hello_ext_len_at(h) + 2;
    uint8_t sni[300];
    size_t n;

    assert_int_equal(otb_get_be16(h->b + at), 0);
    n = 4 + otb_get_be16(h->b + at + 2);
    assert_true(n <= sizeof(sni));
    memcpy(sni, h->b + at, n);
    memmove(h->b + at, h->b + at + n, h->len - at - n);
    memcpy(h->b + h->len - n, sni, n);
}

static int sniff_exact(const uint8_t *in, size_t len, char *host, size_t hostcap,
                       enum otb_sniff_kind *kind)
{
    uint8_t *copy = malloc(len ? len : 1);
    int rc;

    assert_non_null(copy);
    if (len)
        memcpy(copy, in, len);
    rc = otb_sniff_host(copy, len, host, hostcap, kind);
    free(copy);
    return rc;
}

static void expect_name(const void *in, size_t len, enum otb_sniff_kind want_kind,
                        const char *want)
{
    char host[OTB_SNIFF_HOST_MAX + 1];
    enum otb_sniff_kind kind = KIND_UNSET;

    assert_int_equal(sniff_exact(in, len, host, sizeof(host), &kind), OTB_OK);
    assert_string_equal(host, want);
    assert_int_equal(kind, want_kind);
}

/* Any answer but OTB_OK leaves the name buffer alone. */
static void expect_rc(const void *in, size_t len, int want, enum otb_sniff_kind want_kind)
{
    char host[OTB_SNIFF_HOST_MAX + 1] = UNTOUCHED;
    enum otb_sniff_kind kind = KIND_UNSET;

    assert_int_equal(sniff_exact(in, len, host, sizeof(host), &kind), want);
    assert_string_equal(host, UNTOUCHED);
    assert_int_equal(kind, want_kind);
}

/* Before name_end every prefix is incomplete (never refused); from there
 * on the name is known, whatever follows. */
static void expect_prefixes(const void *in, size_t len, size_t name_end,
                            enum otb_sniff_kind want_kind, const char *want)
{
    for (size_t cut = 0; cut <= len; cut++) {
        if (cut < name_end)
            expect_rc(in, cut, OTB_NEED_MORE, cut ? want_kind : OTB_SNIFF_NONE);
        else
            expect_name(in, cut, want_kind, want);
    }
}

/* A refused input is never accepted in part, and once refused, more bytes
 * do not help. */
static void expect_refused_prefixes(const void *in, size_t len)
{
    char host[OTB_SNIFF_HOST_MAX + 1];
    bool refused = false;

    for (size_t cut = 0; cut <= len; cut++) {
        int rc = sniff_exact(in, cut, host, sizeof(host), NULL);
        assert_int_not_equal(rc, OTB_OK);
        if (refused)
            assert_int_equal(rc, OTB_BAD);
        refused = rc == OTB_BAD;
    }
    assert_true(refused);
}

static void test_tls_client_hello(void **state)
{
    struct hello h;
    char host[OTB_SNIFF_HOST_MAX + 1];

    (void)state;
    hello_load(&h);
    assert_int_equal(h.len, 517);
    expect_name(h.b, h.len, OTB_SNIFF_TLS, SNI_NAME);
    expect_prefixes(h.b, h.len, hello_name_end(&h), OTB_SNIFF_TLS, SNI_NAME);

    /* The next record (here a fake application data one) changes nothing. */
    memcpy(h.b + h.len, "\x17\x03\x03\x00\x02hi", 7);
    expect_name(h.b, h.len + 7, OTB_SNIFF_TLS, SNI_NAME);

    /* kind may be left out. */
    assert_int_equal(otb_sniff_host(h.b, h.len, host, sizeof(host), NULL), OTB_OK);
    assert_string_equal(host, SNI_NAME);
}

static void test_tls_sni_last(void **state)
{
    struct hello h;

    (void)state;
    hello_load(&h);
    hello_move_sni_last(&h);
    assert_int_equal(hello_name_end(&h), h.len);
    expect_prefixes(h.b, h.len, h.len, OTB_SNIFF_TLS, SNI_NAME);
}

static void test_tls_no_sni(void **state)
{
    struct hello h;
    size_t at;

    (void)state;
    hello_load(&h);
    /* An unassigned extension type in place of server_name. */
    at = hello_ext_len_at(&h) + 2;
    otb_put_be16(h.b + at, 0xfafa);
    expect_rc(h.b, h.len, OTB_BAD, OTB_SNIFF_TLS);
    expect_refused_prefixes(h.b, h.len);

    /* Without any extension at all. */
    hello_load(&h);
    at = hello_ext_len_at(&h);
    field_add(h.b, 3, 2, -(long)(h.len - at));
    field_add(h.b, 6, 3, -(long)(h.len - at));
    expect_rc(h.b, at, OTB_BAD, OTB_SNIFF_TLS);
}

struct mutation {
    const char *what;
    size_t at; /* with SNI_FLAG: relative to the server_name extension */
    size_t width;
    long delta;
};

#define SNI_FLAG ((size_t)1 << 20)
#define SNI(at) (SNI_FLAG | (at))

/* Fields of the sample hello changed one at a time: each change makes it BAD.
 * Offsets are from the start of the hello, or with SNI() from the server_name
 * extension: type, length, list length, entry type, entry length, name. */
static const struct mutation mutations[] = {
    { "record type: application data", 0, 1, +1 },
    { "record version major 2", 1, 1, -1 },
    { "record length 0", 3, 2, -0x200 },
    { "record length 2^14 + 1", 3, 2, 16385 - 0x200 },
    { "handshake type ServerHello", 5, 1, +1 },
    { "handshake length + 1", 6, 3, +1 },
    { "handshake length - 1", 6, 3, -1 },
    { "hello version major 2", 9, 1, -1 },
    { "session id 33 bytes", 43, 1, +1 },
    { "cipher suites odd length", 76, 2, +1 },
    { "cipher suites empty", 76, 2, -0x3e },
    { "compression methods empty", 140, 1, -1 },
    { "extensions length + 1", 142, 2, +1 },
    { "extensions length - 1", 142, 2, -1 },
    { "extension length + 1", SNI(2), 2, +1 },
    { "extension length - 1", SNI(2), 2, -1 },
    { "extension length past the block", SNI(2), 2, 0x200 },
    { "list length + 1", SNI(4), 2, +1 },
    { "list length - 1", SNI(4), 2, -1 },
    { "list length 0", SNI(4), 2, -0x13 },
    { "entry type 1: no host_name", SNI(6), 1, +1 },
    { "name length + 1", SNI(7), 2, +1 },
    { "name length - 1", SNI(7), 2, -1 },
    { "name length 0", SNI(7), 2, -0x10 },
    { "space in the name", SNI(9 + 3), 1, ' ' - '.' },
    { "star in the name", SNI(9), 1, '*' - 'w' },
    { "NUL in the name", SNI(9 + 15), 1, -'t' },
    { "8-bit byte in the name", SNI(9 + 4), 1, 0x80 },
};

/* The offset of the server_name extension in a hello. */
static size_t hello_sni_at(const struct hello *h)
{
    return hello_ext_len_at(h) + 2;
}

/* The mutations of the header (sni false) or of server_name. */
static void check_mutations(bool sni)
{
    struct hello h;

    for (size_t i = 0; i < OTB_ARRAY_LEN(mutations); i++) {
        const struct mutation *m = &mutations[i];

        if (((m->at & SNI_FLAG) != 0) != sni)
            continue;
        hello_load(&h);
        field_add(h.b, (sni ? hello_sni_at(&h) : 0) + (m->at & ~SNI_FLAG), m->width, m->delta);
        print_message("%s\n", m->what);
        expect_rc(h.b, h.len, OTB_BAD, h.b[0] == 0x16 ? OTB_SNIFF_TLS : OTB_SNIFF_NONE);
        expect_refused_prefixes(h.b, h.len);
    }
}

static void test_tls_malformed_headers(void **state)
{
    struct hello h;

    (void)state;
    hello_load(&h);
    /* The offsets above are those of this hello. */
    assert_int_equal(h.b[43], 32);
    assert_int_equal(otb_get_be16(h.b + 76), 0x3e);
    assert_int_equal(hello_ext_len_at(&h), 142);
    check_mutations(false);
}

/* The session id vector resized to n bytes, everything else kept. */
static void hello_set_session_id(struct hello *h, size_t n)
{
    size_t old = h->b[43];
    long delta = (long)n - (long)old;

    assert_true(h->len + n <= sizeof(h->b) + old);
    memmove(h->b + 44 + n, h->b + 44 + old, h->len - 44 - old);
    memset(h->b + 44, 0x5A, n);
    h->b[43] = (uint8_t)n;
    h->len = (size_t)((long)h->len + delta);
    field_add(h->b, 3, 2, delta);
    field_add(h->b, 6, 3, delta);
}

static void test_tls_session_id(void **state)
{
    struct hello h;

    (void)state;
    hello_load(&h);
    hello_set_session_id(&h, 0);
    expect_prefixes(h.b, h.len, hello_name_end(&h), OTB_SNIFF_TLS, SNI_NAME);
    hello_set_session_id(&h, 32);
    expect_name(h.b, h.len, OTB_SNIFF_TLS, SNI_NAME);
    /* At most 32 bytes (RFC 8446 4.1.2), even with lengths that add up. */
    hello_set_session_id(&h, 33);
    expect_rc(h.b, h.len, OTB_BAD, OTB_SNIFF_TLS);
    expect_refused_prefixes(h.b, h.len);
}

static void test_tls_malformed_sni(void **state)
{
    struct hello h;

    (void)state;
    hello_load(&h);
    /* The offsets above are those of this hello's server_name. */
    assert_int_equal(otb_get_be16(h.b + hello_sni_at(&h)), 0);
    assert_int_equal(otb_get_be16(h.b + hello_sni_at(&h) + 7), strlen(SNI_NAME));
    check_mutations(true);
}

static void test_tls_name_forms(void **state)
{
    /* Each replaces the name, same length; want NULL: no name (BAD). */
    static const struct {
        const char *name, *want;
    } forms[] = {
        /* Lowercased. */
        { "WWW.Example.TEST", SNI_NAME },
        /* A trailing dot is dropped; empty labels are no name. */
        { "www.example.tes.", "www.example.tes" },
        { "................", NULL },
        { "www..xample.test", NULL },
        { ".www.xample.test", NULL },
        /* Underscores and digits are accepted. */
        { "_srv.host-01.a_b", "_srv.host-01.a_b" },
    };
    struct hello h;
    size_t end, n = strlen(SNI_NAME);

    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(forms); i++) {
        print_message("%s\n", forms[i].name);
        assert_int_equal(strlen(forms[i].name), n);
        hello_load(&h);
        end = hello_name_end(&h);
        memcpy(h.b + end - n, forms[i].name, n);
        if (forms[i].want)
            expect_name(h.b, h.len, OTB_SNIFF_TLS, forms[i].want);
        else
            expect_rc(h.b, h.len, OTB_BAD, OTB_SNIFF_TLS);
    }
}

static void test_tls_first_record_only(void **state)
{
    struct hello h;
    size_t end;

    (void)state;
    /* The handshake continues in a second record: a name inside the first
     * one is found, one that crosses its end is not looked for. */
    hello_load(&h);
    end = hello_name_end(&h);
    otb_put_be16(h.b + 3, (uint16_t)(end - 5));
    expect_name(h.b, h.len, OTB_SNIFF_TLS, SNI_NAME);
    otb_put_be16(h.b + 3, (uint16_t)(end - 5 - 1));
    expect_rc(h.b, h.len, OTB_BAD, OTB_SNIFF_TLS);
    expect_refused_prefixes(h.b, h.len);

    /* The same with server_name last and a record ending just before it. */
    hello_load(&h);
    hello_move_sni_last(&h);
    otb_put_be16(h.b + 3, (uint16_t)(h.len - 5 - 1));
    expect_rc(h.b, h.len, OTB_BAD, OTB_SNIFF_TLS);
}

static void test_tls_cap(void **state)
{
    struct hello h;
    size_t end, pad;

    (void)state;
    /* A large extension in front pushes the name to end exactly at the cap:
     * found, even though the hello itself goes on past the cap. */
    hello_load(&h);
    pad = OTB_SNIFF_MAX_INPUT - hello_name_end(&h) - 4;
    hello_add_ext_front(&h, 0xfafa, pad);
    end = hello_name_end(&h);
    assert_int_equal(end, OTB_SNIFF_MAX_INPUT);
    assert_true(h.len > OTB_SNIFF_MAX_INPUT);
    expect_name(h.b, h.len, OTB_SNIFF_TLS, SNI_NAME);
    expect_rc(h.b, end - 1, OTB_NEED_MORE, OTB_SNIFF_TLS);

    /* One byte further and it is not waited for. */
    hello_load(&h);
    hello_add_ext_front(&h, 0xfafa, pad + 1);
    assert_int_equal(hello_name_end(&h), OTB_SNIFF_MAX_INPUT + 1);
    expect_rc(h.b, OTB_SNIFF_MAX_INPUT - 1, OTB_NEED_MORE, OTB_SNIFF_TLS);
    expect_rc(h.b, OTB_SNIFF_MAX_INPUT, OTB_BAD, OTB_SNIFF_TLS);
    expect_rc(h.b, h.len, OTB_BAD, OTB_SNIFF_TLS);
}

static void test_tls_hostcap(void **state)
{
    struct hello h;
    size_t n = strlen(SNI_NAME);

    (void)state;
    hello_load(&h);
    /* The name buffer is exactly cap bytes: a write past it is caught. */
    for (size_t cap = 0; cap <= n + 1; cap++) {
        char *host = malloc(cap ? cap : 1);
        assert_non_null(host);
        host[0] = 'Z';
        if (cap > n) {
            assert_int_equal(sniff_exact(h.b, h.len, host, cap, NULL), OTB_OK);
            assert_string_equal(host, SNI_NAME);
        } else {
            assert_int_equal(sniff_exact(h.b, h.len, host, cap, NULL), OTB_BAD);
            assert_int_equal(host[0], 'Z');
        }
        free(host);
    }
    assert_int_equal(otb_sniff_host(h.b, h.len, NULL, 0, NULL), OTB_BAD);
}

/* End of the line holding needle: where the name becomes known. */
static size_t line_end_after(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);

    assert_non_null(p);
    p = strchr(p, '\n');
    assert_non_null(p);
    return (size_t)(p - text) + 1;
}

static void expect_http(const char *req, const char *host_line, const char *want)
{
    expect_prefixes(req, strlen(req), line_end_after(req, host_line), OTB_SNIFF_HTTP, want);
}

static void test_http_host(void **state)
{
    (void)state;
    expect_http("GET / HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: t\r\n\r\n",
                "Host:", "www.example.test");
    expect_http("GET /index.html?q=a%20b HTTP/1.0\r\nAccept: */*\r\n"
                "X-Host: other.test\r\nHostname: other.test\r\nhOsT:www.Example.TEST\r\n\r\n",
                "hOsT:", "www.example.test");
    expect_http("POST /form HTTP/1.1\r\nContent-Length: 3\r\nHOST: \t api.example.test \t\r\n\r\nabc",
                "HOST:", "api.example.test");
    /* Bare LF line ends. */
    expect_http("HEAD / HTTP/1.1\nHost: www.example.test\n\n", "Host:", "www.example.test");
    /* The first Host header is the one. */
    expect_http("GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "Host:", "a.test");
    /* Proxy-style absolute target: still the Host header. */
    expect_http("GET http://x.test/ HTTP/1.1\r\nHost: www.example.test\r\n\r\n", "Host:",
                "www.example.test");
}

/* Requests refused as HTTP, and every prefix of them. */
static const char *const bad_http[] = {
    /* Bad ports. */
    "GET / HTTP/1.1\r\nHost: www.example.test:65536\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www.example.test:080808\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www.example.test:80a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www.example.test:8:8\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: :80\r\n\r\n",
    /* IPv6 literals are addresses, not names. */
    "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n",
    /* No usable Host header. */
    "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\n\n",
    /* A Host line in the body is not a header. */
    "POST / HTTP/1.1\r\nContent-Length: 24\r\n\r\nHost: www.example.test\r\n",
    "GET / HTTP/1.1\r\nHost:\r\n\r\n",
    "GET / HTTP/1.1\r\nHost:   \r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www.exa mple.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: *.example.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: user@www.example.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www.\xc3\xa9xample.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: .\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: .example.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www..example.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: www.example.test..\r\n\r\n",
    /* Malformed request or header lines. */
    "GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a.test\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "GET / HTTP/1.x\r\nHost: a.test\r\n\r\n",
    "GET / HTTP/1.1 \r\nHost: a.test\r\n\r\n",
    "GET / HTTP/1.1\rHost: a.test\r\n\r\n",
    "GET /\x01 HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "GET\t/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "SSH-2.0-OpenSSH_9.2\r\n",
    "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    /* Space before the colon, folded lines, a line without a colon. */
    "GET / HTTP/1.1\r\nHost : a.test\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: b\r\n c\r\nHost: a.test\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: b\r\n Host: a.test\r\n\r\n",
    "GET / HTTP/1.1\r\n\tHost: a.test\r\n\r\n",
    "GET / HTTP/1.1\r\nNoColon\r\nHost: a.test\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: b\x01\r\nHost: a.test\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a.test\x7f\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a.test\r\r\n\r\n",
};

static void test_http_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(bad_http); i++) {
        print_message("case %zu\n", i);
        expect_rc(bad_http[i], strlen(bad_http[i]), OTB_BAD, OTB_SNIFF_HTTP);
        expect_refused_prefixes(bad_http[i], strlen(bad_http[i]));
    }
}

static void test_http_port(void **state)
{
    (void)state;
    expect_http("GET / HTTP/1.1\r\nHost: www.example.test:8080\r\n\r\n", "Host:",
                "www.example.test");
    expect_http("GET / HTTP/1.1\r\nHost: www.example.test:65535\r\n\r\n", "Host:",
                "www.example.test");
    expect_http("GET / HTTP/1.1\r\nHost: www.example.test:\r\n\r\n", "Host:", "www.example.test");
    expect_http("GET / HTTP/1.1\r\nHost: WWW.example.test.:80\r\n\r\n", "Host:",
                "www.example.test");
    expect_http("GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n", "Host:", "192.0.2.1");
}

static void test_http_malformed(void **state)
{
    (void)state;
    /* A NUL inside a header value. */
    static const char nul[] = "GET / HTTP/1.1\r\nX-A: b\0c\r\nHost: a.test\r\n\r\n";
    expect_rc(nul, sizeof(nul) - 1, OTB_BAD, OTB_SNIFF_HTTP);
    /* The longest method accepted is 20 capitals. */
    expect_http("ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\nHost: a.test\r\n\r\n", "Host:", "a.test");
}

static void test_neither(void **state)
{
    static const char *const bad[] = {
        "get / HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "\x80\x2e\x01\x03\x01", /* SSLv2-style hello */
        " GET / HTTP/1.1\r\n",
        "{\"jsonrpc\": \"2.0\"}",
    };
    char host[OTB_SNIFF_HOST_MAX + 1];

    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(bad); i++)
        expect_rc(bad[i], strlen(bad[i]), OTB_BAD, OTB_SNIFF_NONE);
    expect_rc("\0\0\0\0", 4, OTB_BAD, OTB_SNIFF_NONE);
    expect_rc("\x16", 1, OTB_NEED_MORE, OTB_SNIFF_TLS);
    expect_rc("G", 1, OTB_NEED_MORE, OTB_SNIFF_HTTP);
    expect_rc("", 0, OTB_NEED_MORE, OTB_SNIFF_NONE);
    assert_int_equal(otb_sniff_host(NULL, 0, host, sizeof(host), NULL), OTB_NEED_MORE);
}

/* GET / HTTP/1.1, one X-Pad header of pad bytes, then Host. */
static size_t http_padded(char *out, size_t cap, size_t pad)
{
    static const char head[] = "GET / HTTP/1.1\r\nX-Pad: ";
    static const char tail[] = "\r\nHost: www.example.test\r\n\r\n";
    size_t n = strlen(head);

    assert_true(n + pad + strlen(tail) < cap);
    memcpy(out, head, n);
    memset(out + n, 'a', pad);
    memcpy(out + n + pad, tail, sizeof(tail));
    return n + pad + strlen(tail);
}

static void test_http_cap(void **state)
{
    char req[OTB_SNIFF_MAX_INPUT + 256];
    size_t pad, len, end, fixed;

    (void)state;
    /* The Host line ends exactly at the cap: found. */
    (void)http_padded(req, sizeof(req), 0);
    fixed = line_end_after(req, "Host:");
    pad = OTB_SNIFF_MAX_INPUT - fixed;
    len = http_padded(req, sizeof(req), pad);
    end = line_end_after(req, "Host:");
    assert_int_equal(end, OTB_SNIFF_MAX_INPUT);
    expect_name(req, len, OTB_SNIFF_HTTP, "www.example.test");
    expect_rc(req, end - 1, OTB_NEED_MORE, OTB_SNIFF_HTTP);

    /* One byte further: not waited for. */
    len = http_padded(req, sizeof(req), pad + 1);
    expect_rc(req, OTB_SNIFF_MAX_INPUT - 1, OTB_NEED_MORE, OTB_SNIFF_HTTP);
    expect_rc(req, OTB_SNIFF_MAX_INPUT, OTB_BAD, OTB_SNIFF_HTTP);
    expect_rc(req, len, OTB_BAD, OTB_SNIFF_HTTP);
}

static void test_http_name_length(void **state)
{
    char req[600], name[300];

    (void)state;
    /* 255 characters is the longest name. */
    memset(name, 'a', 255);
    for (size_t i = 63; i < 255; i += 64)
        name[i] = '.';
    name[255] = '\0';
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name);
    expect_name(req, strlen(req), OTB_SNIFF_HTTP, name);
    {
        char host[OTB_SNIFF_HOST_MAX];
        assert_int_equal(sniff_exact((const uint8_t *)req, strlen(req), host, sizeof(host), NULL),
                         OTB_BAD);
    }
    /* With a trailing dot it still fits. */
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s.\r\n\r\n", name);
    expect_name(req, strlen(req), OTB_SNIFF_HTTP, name);

    strcat(name, "a");
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name);
    expect_rc(req, strlen(req), OTB_BAD, OTB_SNIFF_HTTP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_client_hello),
        cmocka_unit_test(test_tls_sni_last),
        cmocka_unit_test(test_tls_no_sni),
        cmocka_unit_test(test_tls_malformed_headers),
        cmocka_unit_test(test_tls_session_id),
        cmocka_unit_test(test_tls_malformed_sni),
        cmocka_unit_test(test_tls_name_forms),
        cmocka_unit_test(test_tls_first_record_only),
        cmocka_unit_test(test_tls_cap),
        cmocka_unit_test(test_tls_hostcap),
        cmocka_unit_test(test_http_host),
        cmocka_unit_test(test_http_port),
        cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_http_malformed),
        cmocka_unit_test(test_neither),
        cmocka_unit_test(test_http_cap),
        cmocka_unit_test(test_http_name_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
