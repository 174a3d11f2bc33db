/* libFuzzer target for the address header parser: arbitrary bytes are
 * parsed; an accepted header must re-encode to exactly the bytes consumed,
 * and formatting must stay within any buffer size. The last input byte also
 * picks the size of a small formatting buffer. */

#include "fuzz.h"
#include "otb_addr.h"
#include "otb_common.h"

/* Formats into a heap buffer of exactly cap bytes (so an overflow is seen
 * by the address sanitizer) and compares with the untruncated text. */
static void format_small(const struct otb_addr *a, size_t cap, const char *full)
{
    char *buf = malloc(cap ? cap : 1);
    size_t n;

    FUZZ_CHECK(buf != NULL);
    if (cap == 0) {
        buf[0] = 'Z';
        otb_addr_format(a, buf, 0);
        FUZZ_CHECK(buf[0] == 'Z');
        free(buf);
        return;
    }
    otb_addr_format(a, buf, cap);
    n = strnlen(buf, cap);
    FUZZ_CHECK(n < cap);
    FUZZ_CHECK(n == OTB_MIN(strlen(full), cap - 1));
    FUZZ_CHECK(memcmp(buf, full, n) == 0);
    free(buf);
}

static void check_accepted(const uint8_t *data, size_t size, const struct otb_addr *a,
                           size_t consumed)
{
    uint8_t enc[OTB_ADDR_MAX_LEN];
    char full[OTB_ADDR_FMT_LEN];
    struct otb_addr b;
    size_t n, c2 = 0;

    FUZZ_CHECK(consumed >= 1 + 1 + 1 + 2 && consumed <= size && consumed <= OTB_ADDR_MAX_LEN);
    FUZZ_CHECK(a->atyp == data[0]);
    FUZZ_CHECK(a->port == otb_get_be16(data + consumed - 2));
    n = otb_addr_encode(a, enc);
    FUZZ_CHECK(n == consumed);
    FUZZ_CHECK(memcmp(enc, data, n) == 0);

    /* The re-encoded header parses to the same thing. */
    FUZZ_CHECK(otb_addr_parse(enc, n, &b, &c2) == OTB_OK && c2 == n);
    FUZZ_CHECK(b.atyp == a->atyp && b.port == a->port);

    /* One byte less is incomplete. */
    FUZZ_CHECK(otb_addr_parse(data, consumed - 1, &b, &c2) == OTB_NEED_MORE);

    /* Printable, escaped, terminated. */
    otb_addr_format(a, full, sizeof(full));
    FUZZ_CHECK(strnlen(full, sizeof(full)) < sizeof(full));
    for (const char *p = full; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
    format_small(a, data[size - 1] % 48u, full);
    format_small(a, 1, full);

    if (a->atyp == OTB_ATYP_DOMAIN) {
        FUZZ_CHECK(a->host_len == data[1] && a->host_len > 0);
        FUZZ_CHECK(strlen(a->u.host) == a->host_len);
        FUZZ_CHECK(otb_addr_set_domain(&b, a->u.host, a->port) == 0);
        n = otb_addr_encode(&b, enc);
        FUZZ_CHECK(n == consumed && memcmp(enc, data, n) == 0);
    } else {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        FUZZ_CHECK(otb_addr_to_sockaddr(a, &ss, &len) == 0);
        FUZZ_CHECK(len == (a->atyp == OTB_ATYP_IPV4 ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6)));
        FUZZ_CHECK(otb_addr_from_sockaddr(&b, (const struct sockaddr *)&ss) == 0);
        n = otb_addr_encode(&b, enc);
        FUZZ_CHECK(n == consumed && memcmp(enc, data, n) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otb_addr a;
    size_t consumed = 0;
    int rc;

    memset(&a, 0, sizeof(a));
    rc = otb_addr_parse(data, size, &a, &consumed);
    if (rc == OTB_OK) {
        check_accepted(data, size, &a, consumed);
    } else if (rc == OTB_NEED_MORE) {
        /* Only a prefix of a header can be incomplete. */
        FUZZ_CHECK(size < OTB_ADDR_MAX_LEN);
        if (size > 0)
            FUZZ_CHECK(otb_addr_parse(data, size - 1, &a, &consumed) == OTB_NEED_MORE);
    } else {
        /* Refusal is final: more bytes do not help. */
        uint8_t *longer;
        FUZZ_CHECK(rc == OTB_BAD && size > 0);
        longer = malloc(size + OTB_ADDR_MAX_LEN);
        FUZZ_CHECK(longer != NULL);
        memcpy(longer, data, size);
        memset(longer + size, 'a', OTB_ADDR_MAX_LEN);
        FUZZ_CHECK(otb_addr_parse(longer, size + OTB_ADDR_MAX_LEN, &a, &consumed) == OTB_BAD);
        free(longer);
    }
    return 0;
}
