/* The request head check of the HTTP listener's gate (otb_http.h): what is
 * handed to libmicrohttpd, what waits for more and what is answered 400. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "otb_http.h"

static enum otb_http_head check(const char *s)
{
    return otb_http_head_check(s, strlen(s));
}

/* Every proper prefix of a good head waits for more. */
static void assert_ok_and_prefixes_more(const char *s)
{
    size_t len = strlen(s);

    assert_int_equal(otb_http_head_check(s, len), OTB_HTTP_HEAD_OK);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(otb_http_head_check(s, i), OTB_HTTP_HEAD_MORE);
}

static void test_good_heads(void **state)
{
    (void)state;
    assert_ok_and_prefixes_more("GET /metrics HTTP/1.1\r\nHost: 192.168.1.1:9100\r\n"
                                "User-Agent: Prometheus/2.42.0\r\nAccept: */*\r\n\r\n");
    assert_ok_and_prefixes_more("GET / HTTP/1.0\r\n\r\n");
    /* bare LF line ends and empty lines before the request (RFC 9112 2.2) */
    assert_ok_and_prefixes_more("\r\n\nGET / HTTP/1.1\nHost: x\n\n");
    /* empty values, OWS, obs-text, absolute form, any version */
    assert_ok_and_prefixes_more("HEAD http://x/status.json?a=%20 HTTP/2.0\r\nX-A:\r\n"
                                "X-B: \t v\xc3\xa9 \r\n\r\n");
    /* what comes after the head is the library's business */
    assert_int_equal(check("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n\x01\x02\x03"),
                     OTB_HTTP_HEAD_OK);
    assert_int_equal(check("GET / HTTP/1.1\r\n\r\nGARBAGE"), OTB_HTTP_HEAD_OK);
}

/* With their NULs: the length of the literal. */
#define H(s) { s, sizeof(s) - 1 }

static void test_bad_heads(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        H("ABC\r\n"),                          /* no target, no version */
        H("GET\r\n"),
        H("GET /\r\n"),                        /* HTTP/0.9 */
        H("GET / \r\n"),
        H(" / HTTP/1.1\r\n"),                  /* no method */
        H("GET  / HTTP/1.1\r\n"),              /* two SP */
        H("GET / HTTP/1.1 \r\n"),
        H("GET / HTTP/1.12\r\n"),
        H("GET / XTTP/1.1\r\n"),
        H("GET / HTTP/x.1\r\n"),
        H("GET / http/1.1\r\n"),
        H("G\x01T / HTTP/1.1\r\n"),            /* control octets */
        H("GET /\x00x HTTP/1.1\r\n"),
        H("GET /\x7f HTTP/1.1\r\n"),
        H("GET /\tx HTTP/1.1\r\n"),
        H("\x16\x03\x01\x00\xa5\x01\x00"),     /* TLS on the wrong port */
        H("\x00GET / HTTP/1.1\r\n"),
        H("\r\r\n"),                           /* bare CR */
        H("GET / HTTP/1.1\rHost: x\r\r"),
        H("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"),
        H("GET / HTTP/1.1\r\nbadheader\r\n\r\n"), /* field lines */
        H("GET / HTTP/1.1\r\n: y\r\n"),
        H("GET / HTTP/1.1\r\nX Y: z\r\n"),
        H("GET / HTTP/1.1\r\nX\x00: y\r\n"),
        H("GET / HTTP/1.1\r\nX: a\x00" "b\r\n"),
        H("GET / HTTP/1.1\r\nX: a\x7f\r\n"),
        H("GET / HTTP/1.1\r\nX: a\r\n folded\r\n"), /* obs-fold */
        H("GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n"),
        H("GET / HTTP/1.1\r\n\r\r\n"),
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (otb_http_head_check(bad[i].s, bad[i].len) != OTB_HTTP_HEAD_BAD)
            fail_msg("bad head %zu taken", i);
    }
}

/* Known at the first bad octet: the rest need not arrive. */
static void test_bad_early(void **state)
{
    (void)state;
    assert_int_equal(otb_http_head_check("\x16", 1), OTB_HTTP_HEAD_BAD);
    assert_int_equal(otb_http_head_check("GET /\0", 6), OTB_HTTP_HEAD_BAD);
    assert_int_equal(check("GET / HTTP/1.1\r\nX"), OTB_HTTP_HEAD_MORE);
    assert_int_equal(check("GET / HTTP/1.1\r\nX "), OTB_HTTP_HEAD_BAD);
    assert_int_equal(check("GET / HTTP/1.1\r"), OTB_HTTP_HEAD_MORE);
    assert_int_equal(check("\r\n\r\n\r\n"), OTB_HTTP_HEAD_MORE); /* no request yet */
    assert_int_equal(otb_http_head_check("", 0), OTB_HTTP_HEAD_MORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_heads),
        cmocka_unit_test(test_bad_heads),
        cmocka_unit_test(test_bad_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
