/* libFuzzer target for the destination name sniffer. Arbitrary bytes are
 * sniffed as the first bytes of a connection, from a heap copy of exactly
 * that length (a read past it is caught by the address sanitizer), and the
 * answer is checked against the contract:
 *   - a name is 1..255 bytes of [a-z0-9._-], terminated, without empty labels;
 *   - the answer for a prefix is OTB_NEED_MORE or the same as for the whole
 *     input (same name), and an incomplete input's prefixes are incomplete;
 *   - past OTB_SNIFF_MAX_INPUT bytes nothing is incomplete any more;
 *   - a name buffer of any size (picked by the last input byte) is never
 *     overrun: the name is returned iff it fits, and nothing is written
 *     otherwise. */

#include "fuzz.h"
#include "otb_common.h"
#include "otb_sniff.h"

struct fuzz_answer {
    int rc;
    enum otb_sniff_kind kind;
    char host[OTB_SNIFF_HOST_MAX + 1];
};

static void fuzz_sniff(const uint8_t *data, size_t len, char *host, size_t hostcap,
                       struct fuzz_answer *a)
{
    uint8_t *copy = malloc(len ? len : 1);

    FUZZ_CHECK(copy != NULL);
    if (len)
        memcpy(copy, data, len);
    a->kind = (enum otb_sniff_kind)77;
    a->rc = otb_sniff_host(copy, len, host, hostcap, &a->kind);
    free(copy);
    FUZZ_CHECK(a->rc == OTB_OK || a->rc == OTB_NEED_MORE || a->rc == OTB_BAD);
    FUZZ_CHECK(a->kind == OTB_SNIFF_NONE || a->kind == OTB_SNIFF_TLS ||
               a->kind == OTB_SNIFF_HTTP);
}

static void sniff_full(const uint8_t *data, size_t len, struct fuzz_answer *a)
{
    memset(a->host, 'Z', sizeof(a->host));
    fuzz_sniff(data, len, a->host, sizeof(a->host), a);
    if (a->rc != OTB_OK)
        FUZZ_CHECK(a->host[0] == 'Z');
}

static void check_name(const char *host)
{
    size_t n = strnlen(host, OTB_SNIFF_HOST_MAX + 1);

    FUZZ_CHECK(n >= 1 && n <= OTB_SNIFF_HOST_MAX);
    FUZZ_CHECK(host[0] != '.' && host[n - 1] != '.' && strstr(host, "..") == NULL);
    for (size_t i = 0; i < n; i++) {
        char ch = host[i];
        FUZZ_CHECK((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                   ch == '-' || ch == '_');
    }
}

/* A prefix answers OTB_NEED_MORE or what the whole input answers. */
static void check_prefix(const uint8_t *data, size_t cut, const struct fuzz_answer *whole)
{
    struct fuzz_answer p;

    sniff_full(data, cut, &p);
    if (whole->rc == OTB_NEED_MORE)
        FUZZ_CHECK(p.rc == OTB_NEED_MORE);
    FUZZ_CHECK(p.rc == OTB_NEED_MORE || p.rc == whole->rc);
    if (p.rc == OTB_OK)
        FUZZ_CHECK(strcmp(p.host, whole->host) == 0);
    if (cut > 0)
        FUZZ_CHECK(p.kind == whole->kind);
}

/* The name buffer is exactly cap bytes. */
static void check_small_buffer(const uint8_t *data, size_t size, size_t cap,
                               const struct fuzz_answer *whole)
{
    char *buf = malloc(cap ? cap : 1);
    struct fuzz_answer a;
    size_t n = whole->rc == OTB_OK ? strlen(whole->host) : 0;

    FUZZ_CHECK(buf != NULL);
    buf[0] = 'Z';
    fuzz_sniff(data, size, buf, cap, &a);
    if (whole->rc == OTB_OK && n < cap) {
        FUZZ_CHECK(a.rc == OTB_OK && strcmp(buf, whole->host) == 0);
    } else {
        FUZZ_CHECK(a.rc == (whole->rc == OTB_OK ? OTB_BAD : whole->rc));
        FUZZ_CHECK(buf[0] == 'Z');
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_answer whole;

    sniff_full(data, size, &whole);
    if (whole.rc == OTB_OK)
        check_name(whole.host);
    if (whole.rc == OTB_NEED_MORE)
        FUZZ_CHECK(size < OTB_SNIFF_MAX_INPUT);
    if (size > 0) {
        check_prefix(data, size - 1, &whole);
        check_prefix(data, size / 2, &whole);
        check_small_buffer(data, size, data[size - 1] % 300u, &whole);
    }
    check_small_buffer(data, size, 0, &whole);
    /* Bytes past the cap are never looked at. */
    if (size > OTB_SNIFF_MAX_INPUT) {
        struct fuzz_answer capped;
        sniff_full(data, OTB_SNIFF_MAX_INPUT, &capped);
        FUZZ_CHECK(capped.rc == whole.rc && capped.kind == whole.kind);
        if (capped.rc == OTB_OK)
            FUZZ_CHECK(strcmp(capped.host, whole.host) == 0);
    }
    return 0;
}
