/* The input is parsed from its first byte on every call (it is at most
 * OTB_SNIFF_MAX_INPUT bytes), so the parser keeps no state. Every length
 * the peer declares is checked against the structure that contains it
 * before anything is read, and a read that would go past the bytes present
 * answers OTB_NEED_MORE: the answer for a prefix is therefore either
 * OTB_NEED_MORE or the same as for any longer input. */
#include "otb_sniff.h"

#include <string.h>

#define OTB_TLS_CONTENT_HANDSHAKE 0x16
#define OTB_TLS_MAJOR 3
#define OTB_TLS_RECORD_MAX 16384 /* 2^14, RFC 8446 section 5.1 */
#define OTB_TLS_CLIENT_HELLO 1
#define OTB_TLS_RANDOM_LEN 32
#define OTB_TLS_SESSION_ID_MAX 32
#define OTB_TLS_EXT_SERVER_NAME 0 /* RFC 6066 section 3 */
#define OTB_TLS_NAME_HOST 0

/* Longest method token: real ones are at most a dozen letters, so a longer
 * run of capitals is some other protocol. */
#define OTB_HTTP_METHOD_MAX 20
#define OTB_HTTP_PORT_DIGITS 5

#define OTB_SNIFF_TRY(call)          \
    do {                             \
        int otb_rc_ = (call);        \
        if (otb_rc_ != OTB_OK)       \
            return otb_rc_;          \
    } while (0)

/* Read position, and how far reads may go. */
struct otb_sniff_cur {
    const uint8_t *in;
    size_t pos;
    size_t avail; /* bytes present and examined: at most OTB_SNIFF_MAX_INPUT */
    size_t limit; /* end of the first TLS record; SIZE_MAX for HTTP */
    bool capped;  /* avail stops at OTB_SNIFF_MAX_INPUT: waiting cannot help */
};

/* n more bytes inside a structure that ends at end. Invariants: pos <= end
 * of every open structure and pos <= limit (skips are checked alike). */
static int otb_sniff_need(const struct otb_sniff_cur *c, size_t n, size_t end)
{
    if (n > end - c->pos || n > c->limit - c->pos)
        return OTB_BAD;
    if (c->pos > c->avail || n > c->avail - c->pos)
        return c->capped ? OTB_BAD : OTB_NEED_MORE;
    return OTB_OK;
}

/* Big-endian integer of 1 to 3 bytes. */
static int otb_sniff_uint(struct otb_sniff_cur *c, size_t n, size_t end, size_t *v)
{
    OTB_SNIFF_TRY(otb_sniff_need(c, n, end));
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = (*v << 8) | c->in[c->pos + i];
    c->pos += n;
    return OTB_OK;
}

/* Bytes whose content does not matter need not have arrived yet: the next
 * read checks presence. */
static int otb_sniff_skip(struct otb_sniff_cur *c, size_t n, size_t end)
{
    if (n > end - c->pos || n > c->limit - c->pos)
        return OTB_BAD;
    c->pos += n;
    return OTB_OK;
}

static bool otb_sniff_name_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

/* Validates and copies a name; a trailing dot (fully qualified form) is
 * dropped so that rules written without it match. Empty labels (a leading
 * dot, "..") make it no name at all. */
static int otb_sniff_name(const uint8_t *name, size_t n, char *host, size_t hostcap)
{
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > OTB_SNIFF_HOST_MAX || n >= hostcap || name[n - 1] == '.')
        return OTB_BAD;
    for (size_t i = 0; i < n; i++) {
        if (!otb_sniff_name_char(name[i]))
            return OTB_BAD;
        if (name[i] == '.' && (i == 0 || name[i - 1] == '.'))
            return OTB_BAD;
    }
    for (size_t i = 0; i < n; i++)
        host[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    host[n] = '\0';
    return OTB_OK;
}

/* ---- TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3) ---- */

/* Record header and handshake header. Only the first record is read: a
 * ClientHello split over several records is rare (it needs more than 16 KiB)
 * and reassembling it would need state. Sets limit, returns the declared end
 * of the handshake message (which may lie beyond the record). */
static int otb_sniff_tls_headers(struct otb_sniff_cur *c, size_t *hs_end)
{
    size_t type, major, minor, rec_len, hs_type, hs_len;

    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, SIZE_MAX, &type));
    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, SIZE_MAX, &major));
    if (type != OTB_TLS_CONTENT_HANDSHAKE || major != OTB_TLS_MAJOR)
        return OTB_BAD;
    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, SIZE_MAX, &minor));
    OTB_SNIFF_TRY(otb_sniff_uint(c, 2, SIZE_MAX, &rec_len));
    if (rec_len == 0 || rec_len > OTB_TLS_RECORD_MAX)
        return OTB_BAD;
    c->limit = c->pos + rec_len;
    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, SIZE_MAX, &hs_type));
    if (hs_type != OTB_TLS_CLIENT_HELLO)
        return OTB_BAD;
    OTB_SNIFF_TRY(otb_sniff_uint(c, 3, SIZE_MAX, &hs_len));
    *hs_end = c->pos + hs_len;
    return OTB_OK;
}

/* A length-prefixed vector that is skipped, with its length checked. */
static int otb_sniff_tls_vector(struct otb_sniff_cur *c, size_t len_bytes, size_t min, size_t max,
                                size_t multiple, size_t end)
{
    size_t n;

    OTB_SNIFF_TRY(otb_sniff_uint(c, len_bytes, end, &n));
    if (n < min || n > max || n % multiple != 0)
        return OTB_BAD;
    return otb_sniff_skip(c, n, end);
}

/* Fixed fields up to the extensions; leaves pos at the first extension. */
static int otb_sniff_tls_hello(struct otb_sniff_cur *c, size_t hs_end)
{
    size_t major, minor, ext_len;

    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, hs_end, &major));
    if (major != OTB_TLS_MAJOR)
        return OTB_BAD;
    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, hs_end, &minor));
    OTB_SNIFF_TRY(otb_sniff_skip(c, OTB_TLS_RANDOM_LEN, hs_end));
    OTB_SNIFF_TRY(otb_sniff_tls_vector(c, 1, 0, OTB_TLS_SESSION_ID_MAX, 1, hs_end));
    /* Cipher suites are 2 bytes each, at least one; compression at least null. */
    OTB_SNIFF_TRY(otb_sniff_tls_vector(c, 2, 2, SIZE_MAX, 2, hs_end));
    OTB_SNIFF_TRY(otb_sniff_tls_vector(c, 1, 1, SIZE_MAX, 1, hs_end));
    if (c->pos == hs_end) /* no extensions, so no server_name */
        return OTB_BAD;
    OTB_SNIFF_TRY(otb_sniff_uint(c, 2, hs_end, &ext_len));
    /* The extensions are the last field: they end with the message. */
    if (ext_len != hs_end - c->pos)
        return OTB_BAD;
    return OTB_OK;
}

/* ServerNameList: the first host_name entry is the name. Every entry is
 * walked first, so that lengths which do not add up are refused. */
static int otb_sniff_tls_server_name(struct otb_sniff_cur *c, size_t ext_end, char *host,
                                     size_t hostcap)
{
    size_t list_len, name_type, name_len, name = 0, found_len = 0;
    bool found = false;

    OTB_SNIFF_TRY(otb_sniff_uint(c, 2, ext_end, &list_len));
    if (list_len == 0 || list_len != ext_end - c->pos)
        return OTB_BAD;
    while (c->pos < ext_end) {
        OTB_SNIFF_TRY(otb_sniff_uint(c, 1, ext_end, &name_type));
        OTB_SNIFF_TRY(otb_sniff_uint(c, 2, ext_end, &name_len));
        if (name_type == OTB_TLS_NAME_HOST && !found) {
            OTB_SNIFF_TRY(otb_sniff_need(c, name_len, ext_end));
            found = true;
            name = c->pos;
            found_len = name_len;
        }
        OTB_SNIFF_TRY(otb_sniff_skip(c, name_len, ext_end));
    }
    if (!found)
        return OTB_BAD;
    return otb_sniff_name(c->in + name, found_len, host, hostcap);
}

static int otb_sniff_tls(struct otb_sniff_cur *c, char *host, size_t hostcap)
{
    size_t hs_end, type, len;

    OTB_SNIFF_TRY(otb_sniff_tls_headers(c, &hs_end));
    OTB_SNIFF_TRY(otb_sniff_tls_hello(c, hs_end));
    while (c->pos < hs_end) {
        OTB_SNIFF_TRY(otb_sniff_uint(c, 2, hs_end, &type));
        OTB_SNIFF_TRY(otb_sniff_uint(c, 2, hs_end, &len));
        if (len > hs_end - c->pos)
            return OTB_BAD;
        if (type == OTB_TLS_EXT_SERVER_NAME)
            return otb_sniff_tls_server_name(c, c->pos + len, host, hostcap);
        OTB_SNIFF_TRY(otb_sniff_skip(c, len, hs_end));
    }
    return OTB_BAD;
}

/* ---- HTTP/1.x request head (RFC 9112) ---- */

static bool otb_sniff_method_char(uint8_t ch)
{
    return ch >= 'A' && ch <= 'Z';
}

/* Visible ASCII: a request target has no spaces or control bytes. */
static bool otb_sniff_target_char(uint8_t ch)
{
    return ch > ' ' && ch < 0x7f;
}

/* RFC 9110 5.6.2 tchar */
static bool otb_sniff_token_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool otb_sniff_ows_char(uint8_t ch)
{
    return ch == ' ' || ch == '\t';
}

/* Field value bytes: anything but control characters other than HTAB. */
static bool otb_sniff_value_char(uint8_t ch)
{
    return ch == '\t' || (ch >= ' ' && ch != 0x7f);
}

/* A run of bytes matching ok, of min to max bytes, ended by another byte
 * (which is left in place): the run is [*start, pos). */
static int otb_sniff_span(struct otb_sniff_cur *c, bool (*ok)(uint8_t), size_t min, size_t max,
                          size_t *start)
{
    *start = c->pos;
    for (;;) {
        OTB_SNIFF_TRY(otb_sniff_need(c, 1, SIZE_MAX));
        if (!ok(c->in[c->pos]))
            break;
        if (c->pos - *start == max)
            return OTB_BAD;
        c->pos++;
    }
    return c->pos - *start < min ? OTB_BAD : OTB_OK;
}

static int otb_sniff_expect(struct otb_sniff_cur *c, const char *text)
{
    for (; *text != '\0'; text++) {
        OTB_SNIFF_TRY(otb_sniff_need(c, 1, SIZE_MAX));
        if (c->in[c->pos] != (uint8_t)*text)
            return OTB_BAD;
        c->pos++;
    }
    return OTB_OK;
}

/* CRLF, or a bare LF as lenient parsers accept. */
static int otb_sniff_eol(struct otb_sniff_cur *c)
{
    OTB_SNIFF_TRY(otb_sniff_need(c, 1, SIZE_MAX));
    if (c->in[c->pos] == '\r')
        c->pos++;
    return otb_sniff_expect(c, "\n");
}

/* METHOD SP request-target SP HTTP/1.d EOL */
static int otb_sniff_http_request_line(struct otb_sniff_cur *c)
{
    size_t start, digit;

    OTB_SNIFF_TRY(otb_sniff_span(c, otb_sniff_method_char, 1, OTB_HTTP_METHOD_MAX, &start));
    OTB_SNIFF_TRY(otb_sniff_expect(c, " "));
    OTB_SNIFF_TRY(otb_sniff_span(c, otb_sniff_target_char, 1, SIZE_MAX, &start));
    OTB_SNIFF_TRY(otb_sniff_expect(c, " HTTP/1."));
    OTB_SNIFF_TRY(otb_sniff_uint(c, 1, SIZE_MAX, &digit));
    if (digit < '0' || digit > '9')
        return OTB_BAD;
    return otb_sniff_eol(c);
}

/* host[:port] with an optional decimal port of up to 5 digits (RFC 3986
 * allows it empty). A bracketed IPv6 literal is an address, not a name: it
 * fails both the port and the name checks. */
static int otb_sniff_http_host(const uint8_t *v, size_t n, char *host, size_t hostcap)
{
    const uint8_t *colon = memchr(v, ':', n);
    unsigned long port = 0;

    if (colon != NULL) {
        size_t digits = n - (size_t)(colon - v) - 1;
        if (digits > OTB_HTTP_PORT_DIGITS)
            return OTB_BAD;
        for (size_t i = 1; i <= digits; i++) {
            if (colon[i] < '0' || colon[i] > '9')
                return OTB_BAD;
            port = port * 10 + (unsigned long)(colon[i] - '0');
        }
        if (port > UINT16_MAX)
            return OTB_BAD;
        n = (size_t)(colon - v);
    }
    return otb_sniff_name(v, n, host, hostcap);
}

static bool otb_sniff_is_host(const uint8_t *name, size_t n)
{
    static const char want[] = "host";

    if (n != sizeof(want) - 1)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((name[i] | 0x20) != want[i])
            return false;
    return true;
}

/* Header fields up to the first Host; the empty line ending the head
 * without one means there is no name. Folded (obsolete) lines are refused. */
static int otb_sniff_http_fields(struct otb_sniff_cur *c, char *host, size_t hostcap)
{
    size_t name, colon, value, end, skipped;

    for (;;) {
        OTB_SNIFF_TRY(otb_sniff_need(c, 1, SIZE_MAX));
        if (c->in[c->pos] == '\r' || c->in[c->pos] == '\n')
            return OTB_BAD;
        OTB_SNIFF_TRY(otb_sniff_span(c, otb_sniff_token_char, 1, SIZE_MAX, &name));
        colon = c->pos;
        OTB_SNIFF_TRY(otb_sniff_expect(c, ":"));
        OTB_SNIFF_TRY(otb_sniff_span(c, otb_sniff_ows_char, 0, SIZE_MAX, &skipped));
        OTB_SNIFF_TRY(otb_sniff_span(c, otb_sniff_value_char, 0, SIZE_MAX, &value));
        end = c->pos;
        OTB_SNIFF_TRY(otb_sniff_eol(c));
        if (otb_sniff_is_host(c->in + name, colon - name)) {
            while (end > value && otb_sniff_ows_char(c->in[end - 1]))
                end--;
            return otb_sniff_http_host(c->in + value, end - value, host, hostcap);
        }
    }
}

static int otb_sniff_http(struct otb_sniff_cur *c, char *host, size_t hostcap)
{
    OTB_SNIFF_TRY(otb_sniff_http_request_line(c));
    return otb_sniff_http_fields(c, host, hostcap);
}

int otb_sniff_host(const uint8_t *in, size_t len, char *host, size_t hostcap,
                   enum otb_sniff_kind *kind)
{
    struct otb_sniff_cur c = {
        .in = in,
        .avail = OTB_MIN(len, (size_t)OTB_SNIFF_MAX_INPUT),
        .limit = SIZE_MAX,
        .capped = len >= OTB_SNIFF_MAX_INPUT,
    };
    enum otb_sniff_kind k = OTB_SNIFF_NONE;
    int rc = OTB_BAD;

    if (len == 0) {
        rc = OTB_NEED_MORE;
    } else if (in[0] == OTB_TLS_CONTENT_HANDSHAKE) {
        k = OTB_SNIFF_TLS;
        rc = otb_sniff_tls(&c, host, hostcap);
    } else if (otb_sniff_method_char(in[0])) {
        k = OTB_SNIFF_HTTP;
        rc = otb_sniff_http(&c, host, hostcap);
    }
    if (kind != NULL)
        *kind = k;
    return rc;
}
