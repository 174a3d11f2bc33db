/* libFuzzer target for the HTTP listener's request head check
 * (otb_http_head_check), run on a heap copy of exactly the input so that a
 * read past it is caught by the address sanitizer. Checked: a verdict, once
 * given, stands whatever follows (BAD and OK at n stay so at n + 1, MORE at
 * n was MORE at n - 1), and the verdict equals the one of a second, line by
 * line reading of the same grammar (request line split on its two SPs,
 * field lines on their colon). */

#include <ctype.h>

#include "fuzz.h"
#include "otb_http.h"

static enum otb_http_head fuzz_check(const uint8_t *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    enum otb_http_head r;

    FUZZ_CHECK(copy != NULL);
    if (len)
        memcpy(copy, data, len);
    r = otb_http_head_check(copy, len);
    free(copy);
    FUZZ_CHECK(r == OTB_HTTP_HEAD_MORE || r == OTB_HTTP_HEAD_OK || r == OTB_HTTP_HEAD_BAD);
    return r;
}

/* ------------------------------------------------ the second reading */

static bool ref_tchar(uint8_t c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool ref_vchar(uint8_t c)
{
    return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

static bool ref_token(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ref_tchar(p[i]))
            return false;
    return n > 0;
}

/* A prefix of a request line (complete: with its version) is well-formed. */
static bool ref_request_line(const uint8_t *p, size_t n, bool complete)
{
    const uint8_t *sp1 = memchr(p, ' ', n), *sp2;
    size_t vlen;

    if (!sp1)
        return !complete && (n == 0 || ref_token(p, n));
    if (!ref_token(p, (size_t)(sp1 - p)))
        return false;
    sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
    for (const uint8_t *q = sp1 + 1; q < (sp2 ? sp2 : p + n); q++)
        if (!ref_vchar(*q))
            return false;
    if (!sp2)
        return !complete;
    if (sp2 == sp1 + 1)
        return false;
    vlen = n - (size_t)(sp2 + 1 - p);
    for (size_t i = 0; i < vlen; i++) {
        const char *want = "HTTP/9.9";
        uint8_t c = sp2[1 + i];
        if (i >= 8 || (want[i] == '9' ? !isdigit(c) : c != (uint8_t)want[i]))
            return false;
    }
    return complete ? vlen == 8 : true;
}

static bool ref_field_line(const uint8_t *p, size_t n)
{
    const uint8_t *colon = memchr(p, ':', n);
    size_t name = colon ? (size_t)(colon - p) : n;

    if (!ref_token(p, name) && !(name == 0 && !colon && n == 0))
        return false;
    for (const uint8_t *q = colon ? colon + 1 : p + n; q < p + n; q++)
        if (!ref_vchar(*q) && *q != ' ' && *q != '\t')
            return false;
    return true;
}

static enum otb_http_head ref_check(const uint8_t *p, size_t len)
{
    bool request_seen = false;
    size_t start = 0;

    while (start <= len) {
        const uint8_t *lf = memchr(p + start, '\n', len - start);
        size_t end = lf ? (size_t)(lf - p) : len, n = end - start;
        const uint8_t *cr = memchr(p + start, '\r', n);
        bool ended; /* by its LF, or by a CR that only a LF may follow */

        /* a CR only right before the LF (or as the last octet so far) */
        if (cr && (size_t)(cr - p) != (lf ? end - 1 : len - 1))
            return OTB_HTTP_HEAD_BAD;
        if (cr)
            n--;
        ended = lf || cr;
        if (!request_seen) {
            if (n > 0) {
                if (!ref_request_line(p + start, n, ended))
                    return OTB_HTTP_HEAD_BAD;
                request_seen = lf != NULL;
            }
        } else if (n == 0 && ended) {
            if (lf)
                return OTB_HTTP_HEAD_OK;
        } else if (!ref_field_line(p + start, n) || (ended && !memchr(p + start, ':', n))) {
            return OTB_HTTP_HEAD_BAD;
        }
        if (!lf)
            return OTB_HTTP_HEAD_MORE;
        start = end + 1;
    }
    return OTB_HTTP_HEAD_MORE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum otb_http_head r = fuzz_check(data, size);

    FUZZ_CHECK(r == ref_check(data, size));
    if (size > 0) {
        enum otb_http_head shorter = fuzz_check(data, size - 1);
        if (shorter != OTB_HTTP_HEAD_MORE)
            FUZZ_CHECK(r == shorter);
        if (r == OTB_HTTP_HEAD_MORE)
            FUZZ_CHECK(shorter == OTB_HTTP_HEAD_MORE);
    }
    return 0;
}
