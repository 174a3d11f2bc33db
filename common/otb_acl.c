#include "otb_acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <libcorkipset/ipset.h> is a deprecated shim that only emits a #warning
 * (fatal under -Werror) and then includes this header. */
#include <libcork/ipset.h>
#include <pcre2.h>

#include "otb_common.h"
#include "otb_log.h"

/* Bounds that keep a hostile or broken file from eating the process: rules per
 * list, bytes per line (also bounds regex compile time) and bytes per file. */
#define OTB_ACL_MAX_RULES 100000
#define OTB_ACL_MAX_LINE 65536
#define OTB_ACL_MAX_FILE (64u * 1024 * 1024)
/* Host names are short; a low backtracking budget stops a pathological
 * pattern from stalling the single event loop. */
#define OTB_ACL_MATCH_LIMIT 100000

struct otb_acl_rules {
    struct ip_set ips;  /* IPv4 and IPv6 entries */
    pcre2_code **re;    /* domain patterns */
    size_t nre;
    size_t re_cap;
    size_t nrules;      /* addresses + patterns, for the cap */
};

struct otb_acl {
    struct otb_acl_rules lists[OTB_ACL_NLISTS];
    /* One match block reused by every lookup: the program is single-threaded. */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    bool bypass_all;
    bool reject_all;
};

/* A section header either starts a list or sets one of the two defaults
 * (bypass_all / reject_all) to a value. */
enum otb_acl_default { OTB_ACL_SET_NONE, OTB_ACL_SET_BYPASS_ALL, OTB_ACL_SET_REJECT_ALL };

struct otb_acl_section {
    const char *name;
    int list;                  /* enum otb_acl_list, or -1 for a mode header */
    enum otb_acl_default sets; /* mode header: which default it sets */
    bool value;                /* ... and to what */
};

static const struct otb_acl_section otb_acl_sections[] = {
    { "proxy_all", -1, OTB_ACL_SET_BYPASS_ALL, false },
    { "bypass_all", -1, OTB_ACL_SET_BYPASS_ALL, true },
    { "accept_all", -1, OTB_ACL_SET_REJECT_ALL, false },
    { "reject_all", -1, OTB_ACL_SET_REJECT_ALL, true },
    { "bypass_list", OTB_ACL_BYPASS, OTB_ACL_SET_NONE, false },
    { "proxy_list", OTB_ACL_PROXY, OTB_ACL_SET_NONE, false },
    { "black_list", OTB_ACL_BLACK, OTB_ACL_SET_NONE, false },
    { "white_list", OTB_ACL_WHITE, OTB_ACL_SET_NONE, false },
    { "outbound_block_list", OTB_ACL_OUTBOUND_BLOCK, OTB_ACL_SET_NONE, false },
    { "outbound_allow_list", OTB_ACL_OUTBOUND_ALLOW, OTB_ACL_SET_NONE, false },
};

/* Destinations a server must not be tricked into reaching (SSRF): this host,
 * private and shared networks, cloud metadata (link-local), multicast,
 * reserved and documentation ranges. */
static const char otb_acl_builtin_text[] =
    "[outbound_block_list]\n"
    "0.0.0.0/8\n"
    "10.0.0.0/8\n"
    "100.64.0.0/10\n"
    "127.0.0.0/8\n"
    "168.63.129.16/32\n" /* Azure's wire server (metadata, DNS, health) */
    "169.254.0.0/16\n"
    "172.16.0.0/12\n"
    "192.0.0.0/24\n"
    "192.0.2.0/24\n"
    "192.168.0.0/16\n"
    "198.18.0.0/15\n"
    "198.51.100.0/24\n"
    "203.0.113.0/24\n"
    "224.0.0.0/4\n"
    "240.0.0.0/4\n"
    "::/128\n"
    "::1/128\n"
    "64:ff9b:1::/48\n"
    "100::/64\n"
    "2001:db8::/32\n"
    "fc00::/7\n"
    "fe80::/10\n"
    "ff00::/8\n";

/* 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052). */
static const uint8_t otb_acl_nat64_prefix[12] = { 0x00, 0x64, 0xff, 0x9b };

struct otb_acl *otb_acl_new(void)
{
    struct otb_acl *acl;

    /* Idempotent; the library keeps its own state. */
    if (ipset_init_library() != 0)
        return NULL;
    acl = calloc(1, sizeof(*acl));
    if (acl == NULL)
        return NULL;
    /* A single pair is enough: only "matched or not" is ever asked. */
    acl->md = pcre2_match_data_create(1, NULL);
    acl->mctx = pcre2_match_context_create(NULL);
    if (acl->md == NULL || acl->mctx == NULL) {
        pcre2_match_data_free(acl->md);
        pcre2_match_context_free(acl->mctx);
        free(acl);
        return NULL;
    }
    pcre2_set_match_limit(acl->mctx, OTB_ACL_MATCH_LIMIT);
    for (size_t i = 0; i < OTB_ACL_NLISTS; i++)
        ipset_init(&acl->lists[i].ips);
    return acl;
}

static void otb_acl_rules_done(struct otb_acl_rules *r)
{
    ipset_done(&r->ips);
    for (size_t i = 0; i < r->nre; i++)
        pcre2_code_free(r->re[i]);
    free(r->re);
}

void otb_acl_free(struct otb_acl *acl)
{
    if (acl == NULL)
        return;
    for (size_t i = 0; i < OTB_ACL_NLISTS; i++)
        otb_acl_rules_done(&acl->lists[i]);
    pcre2_match_data_free(acl->md);
    pcre2_match_context_free(acl->mctx);
    free(acl);
}

bool otb_acl_bypass_all(const struct otb_acl *acl)
{
    return acl != NULL && acl->bypass_all;
}

bool otb_acl_reject_all(const struct otb_acl *acl)
{
    return acl != NULL && acl->reject_all;
}

static bool otb_acl_valid_list(enum otb_acl_list list)
{
    return (unsigned)list < OTB_ACL_NLISTS;
}

/* Add a raw address; family is AF_INET (4 bytes) or AF_INET6 (16 bytes). */
static int otb_acl_add_raw(struct otb_acl_rules *r, int family, const void *bytes,
                           unsigned prefix)
{
    if (r->nrules >= OTB_ACL_MAX_RULES)
        return -1;
    if (family == AF_INET) {
        struct cork_ipv4 v4;

        if (prefix > 32)
            return -1;
        memcpy(&v4, bytes, sizeof(v4));
        /* The library only looks at the first prefix bits, so host bits set in
         * "10.1.2.3/8" are masked off by construction. */
        ipset_ipv4_add_network(&r->ips, &v4, prefix);
    } else {
        struct cork_ipv6 v6;

        if (prefix > 128)
            return -1;
        memcpy(&v6, bytes, sizeof(v6));
        ipset_ipv6_add_network(&r->ips, &v6, prefix);
    }
    r->nrules++;
    return 0;
}

int otb_acl_add_addr(struct otb_acl *acl, enum otb_acl_list list, const struct sockaddr *sa,
                     unsigned prefix)
{
    if (acl == NULL || sa == NULL || !otb_acl_valid_list(list))
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

        return otb_acl_add_raw(&acl->lists[list], AF_INET, &sin->sin_addr, prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *b = sin6->sin6_addr.s6_addr;

        /* Store a mapped address as IPv4 so it also matches plain AF_INET
         * lookups, which is how the kernel will route it. */
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && prefix >= 96 && prefix <= 128)
            return otb_acl_add_raw(&acl->lists[list], AF_INET, b + 12, prefix - 96);
        return otb_acl_add_raw(&acl->lists[list], AF_INET6, b, prefix);
    }
    return -1;
}

static bool otb_acl_contains_v4(const struct otb_acl_rules *r, const uint8_t *b)
{
    struct cork_ipv4 v4;

    memcpy(&v4, b, sizeof(v4));
    return ipset_contains_ipv4(&r->ips, &v4);
}

/* The IPv4 address an IPv6 address stands for, in the forms asked for
 * (OTB_ACL_V4_*), copied to v4. */
static bool otb_acl_embedded_v4(const struct in6_addr *a, unsigned forms, uint8_t v4[4])
{
    static const uint8_t zero[12];
    const uint8_t *b = a->s6_addr;
    const uint8_t *at = NULL;

    if ((forms & OTB_ACL_V4_MAPPED) && IN6_IS_ADDR_V4MAPPED(a))
        at = b + 12;
    else if ((forms & OTB_ACL_V4_NAT64) &&
             memcmp(b, otb_acl_nat64_prefix, sizeof(otb_acl_nat64_prefix)) == 0)
        at = b + 12;
    else if ((forms & OTB_ACL_V4_COMPAT) && memcmp(b, zero, sizeof(zero)) == 0)
        at = b + 12;
    else if ((forms & OTB_ACL_V4_6TO4) && b[0] == 0x20 && b[1] == 0x02)
        at = b + 2;
    if (at == NULL)
        return false;
    memcpy(v4, at, 4);
    return true;
}

/* sa in list, an IPv6 address also through its embedded IPv4 (forms). */
static bool otb_acl_match_forms(struct otb_acl *acl, enum otb_acl_list list,
                                const struct sockaddr *sa, unsigned forms)
{
    const struct otb_acl_rules *r;

    if (acl == NULL || sa == NULL || !otb_acl_valid_list(list))
        return false;
    r = &acl->lists[list];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

        return otb_acl_contains_v4(r, (const uint8_t *)&sin->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        struct cork_ipv6 v6;
        uint8_t v4[4];

        if (otb_acl_embedded_v4(&sin6->sin6_addr, forms, v4) && otb_acl_contains_v4(r, v4))
            return true;
        /* Explicit IPv6 rules (e.g. "::ffff:0:0/96") still apply as written. */
        memcpy(&v6, sin6->sin6_addr.s6_addr, sizeof(v6));
        return ipset_contains_ipv6(&r->ips, &v6);
    }
    return false;
}

bool otb_acl_match_addr(struct otb_acl *acl, enum otb_acl_list list, const struct sockaddr *sa)
{
    /* ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64 well-known prefix)
     * reach that IPv4 address. */
    return otb_acl_match_forms(acl, list, sa, OTB_ACL_V4_MAPPED | OTB_ACL_V4_NAT64);
}

bool otb_acl_blocks_addr(struct otb_acl *acl, const struct sockaddr *sa)
{
    return otb_acl_match_forms(acl, OTB_ACL_OUTBOUND_BLOCK, sa, OTB_ACL_V4_ALL);
}

bool otb_acl_client_permitted(struct otb_acl *acl, const struct sockaddr *sa)
{
    bool black, white;

    if (acl == NULL)
        return true;
    /* Only the mapped form: a dual-stack listener reports IPv4 boxes so. A
     * 6to4 or NAT64 source is an IPv6 host, whatever IPv4 it carries. */
    black = otb_acl_match_forms(acl, OTB_ACL_BLACK, sa, OTB_ACL_V4_MAPPED);
    if (!acl->reject_all)
        return !black;
    white = otb_acl_match_forms(acl, OTB_ACL_WHITE, sa, OTB_ACL_V4_MAPPED);
    return white && !black;
}

bool otb_acl_match_host(struct otb_acl *acl, enum otb_acl_list list, const char *host)
{
    const struct otb_acl_rules *r;
    size_t len;

    if (acl == NULL || host == NULL || !otb_acl_valid_list(list))
        return false;
    r = &acl->lists[list];
    len = strlen(host);
    for (size_t i = 0; i < r->nre; i++) {
        /* Unanchored search over the whole name, as shadowsocks-libev does.
         * Errors (match limit, JIT stack) count as "no match". */
        int rc = pcre2_match(r->re[i], (PCRE2_SPTR)host, len, 0, 0, acl->md, acl->mctx);

        if (rc >= 0)
            return true;
    }
    return false;
}

/* ---- parser ---- */

struct otb_acl_parse {
    struct otb_acl *acl;
    int list;               /* current list, -1 before the first list header */
    size_t lineno;
    char *err;
    size_t errlen;
};

static bool otb_acl_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void otb_acl_trim(const char **p, size_t *len)
{
    while (*len > 0 && otb_acl_is_space((*p)[0])) {
        (*p)++;
        (*len)--;
    }
    while (*len > 0 && otb_acl_is_space((*p)[*len - 1]))
        (*len)--;
}

static bool otb_acl_is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* A header is "[name]" with a plain identifier inside. Anything else that
 * starts with '[' (e.g. "[a-z]+\.example") is left to the regex path. */
static bool otb_acl_is_header(const char *p, size_t len)
{
    if (len < 3 || p[0] != '[' || p[len - 1] != ']')
        return false;
    for (size_t i = 1; i < len - 1; i++)
        if (!otb_acl_is_ident(p[i]))
            return false;
    return true;
}

static int otb_acl_parse_header(struct otb_acl_parse *ps, const char *p, size_t len)
{
    const char *name = p + 1;
    size_t nlen = len - 2;

    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_acl_sections); i++) {
        const struct otb_acl_section *s = &otb_acl_sections[i];

        if (strlen(s->name) != nlen || memcmp(s->name, name, nlen) != 0)
            continue;
        if (s->sets == OTB_ACL_SET_BYPASS_ALL)
            ps->acl->bypass_all = s->value;
        else if (s->sets == OTB_ACL_SET_REJECT_ALL)
            ps->acl->reject_all = s->value;
        /* Mode headers set a default and, as in shadowsocks-libev, leave the
         * current list unchanged. */
        if (s->list >= 0)
            ps->list = s->list;
        return 0;
    }
    otb_log_seterr(ps->err, ps->errlen, "line %zu: unknown section [%.*s]", ps->lineno,
                   (int)OTB_MIN(nlen, (size_t)64), name);
    return -1;
}

/* Parse "/N" digits into *prefix; false unless 1-3 digits and <= max. */
static bool otb_acl_parse_prefix(const char *s, unsigned max, unsigned *prefix)
{
    unsigned v = 0;
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n >= 3 || s[n] < '0' || s[n] > '9')
            return false;
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (n == 0 || v > max)
        return false;
    *prefix = v;
    return true;
}

/* entry is a NUL-terminated copy that may be modified. Returns 1 if it is an
 * address or CIDR (added), 0 if it is not an address, -1 on error. */
static int otb_acl_parse_addr(struct otb_acl_parse *ps, char *entry)
{
    struct otb_acl_rules *r = &ps->acl->lists[ps->list];
    char *slash = strchr(entry, '/');
    uint8_t buf[16];
    int family;
    unsigned max, prefix;

    if (slash != NULL)
        *slash = '\0';
    if (inet_pton(AF_INET, entry, buf) == 1) {
        family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, entry, buf) == 1) {
        family = AF_INET6;
        max = 128;
    } else {
        if (slash != NULL)
            *slash = '/';
        return 0;
    }
    prefix = max;
    /* An address followed by a bad length is a typo, not a domain pattern. */
    if (slash != NULL && !otb_acl_parse_prefix(slash + 1, max, &prefix)) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: bad prefix length (%s: 0-%u)",
                       ps->lineno, family == AF_INET ? "IPv4" : "IPv6", max);
        return -1;
    }
    if (otb_acl_add_raw(r, family, buf, prefix) != 0) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: too many rules (max %d)", ps->lineno,
                       OTB_ACL_MAX_RULES);
        return -1;
    }
    return 1;
}

static int otb_acl_add_regex(struct otb_acl_parse *ps, const char *p, size_t len)
{
    struct otb_acl_rules *r = &ps->acl->lists[ps->list];
    pcre2_code *re;
    int errcode;
    PCRE2_SIZE erroff;

    if (r->nrules >= OTB_ACL_MAX_RULES) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: too many rules (max %d)", ps->lineno,
                       OTB_ACL_MAX_RULES);
        return -1;
    }
    if (r->nre == r->re_cap) {
        size_t cap = r->re_cap ? r->re_cap * 2 : 16;
        pcre2_code **n = realloc(r->re, cap * sizeof(*n));

        if (n == NULL) {
            otb_log_seterr(ps->err, ps->errlen, "line %zu: out of memory", ps->lineno);
            return -1;
        }
        r->re = n;
        r->re_cap = cap;
    }
    /* DNS names are case-insensitive: "Evil.Example" must not slip past a
     * block rule written in lower case. */
    re = pcre2_compile((PCRE2_SPTR)p, len, PCRE2_CASELESS, &errcode, &erroff, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[256];

        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        otb_log_seterr(ps->err, ps->errlen, "line %zu: bad regex: %s", ps->lineno,
                       (const char *)msg);
        return -1;
    }
    /* JIT is only a speed-up; the interpreter handles patterns it rejects. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    r->re[r->nre++] = re;
    r->nrules++;
    return 0;
}

static int otb_acl_parse_entry(struct otb_acl_parse *ps, const char *p, size_t len)
{
    char *entry;
    int rc;

    if (ps->list < 0) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: entry outside a list section",
                       ps->lineno);
        return -1;
    }
    /* inet_pton wants a C string; a heap copy keeps long lines safe. */
    entry = malloc(len + 1);
    if (entry == NULL) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: out of memory", ps->lineno);
        return -1;
    }
    memcpy(entry, p, len);
    entry[len] = '\0';
    rc = otb_acl_parse_addr(ps, entry);
    if (rc == 0)
        rc = otb_acl_add_regex(ps, entry, len);
    free(entry);
    return rc < 0 ? -1 : 0;
}

static int otb_acl_parse_line(struct otb_acl_parse *ps, const char *p, size_t len)
{
    const char *hash;

    /* Comments may hold anything; only the rule text is checked. */
    hash = memchr(p, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - p);
    otb_acl_trim(&p, &len);
    if (len == 0)
        return 0;
    if (len > OTB_ACL_MAX_LINE) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: line too long (max %d bytes)",
                       ps->lineno, OTB_ACL_MAX_LINE);
        return -1;
    }
    /* A C string cannot carry it, and no address or host name contains one. */
    if (memchr(p, '\0', len) != NULL) {
        otb_log_seterr(ps->err, ps->errlen, "line %zu: NUL byte", ps->lineno);
        return -1;
    }
    if (otb_acl_is_header(p, len))
        return otb_acl_parse_header(ps, p, len);
    return otb_acl_parse_entry(ps, p, len);
}

int otb_acl_load_text(struct otb_acl *acl, const char *text, size_t len, char *err, size_t errlen)
{
    struct otb_acl_parse ps = {
        .acl = acl, .list = -1, .lineno = 0, .err = err, .errlen = errlen,
    };
    const char *p = text;
    const char *end = text + len;

    if (acl == NULL || (text == NULL && len > 0)) {
        otb_log_seterr(err, errlen, "invalid argument");
        return -1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;

        ps.lineno++;
        if (otb_acl_parse_line(&ps, p, (size_t)(eol - p)) != 0)
            return -1;
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

/* Whole file into a heap buffer; *out is NULL-safe to free. */
static int otb_acl_read_file(const char *path, char **out, size_t *outlen, char *err,
                             size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    *out = NULL;
    *outlen = 0;
    if (f == NULL) {
        otb_log_seterr(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            char *nb;

            if (cap >= OTB_ACL_MAX_FILE) {
                otb_log_seterr(err, errlen, "%s: file too large (max %u bytes)", path,
                               OTB_ACL_MAX_FILE);
                goto fail;
            }
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                otb_log_seterr(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        otb_log_seterr(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    *out = buf;
    *outlen = len;
    return 0;
fail:
    fclose(f);
    free(buf);
    return -1;
}

int otb_acl_load_file(struct otb_acl *acl, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    char *lerr = NULL;
    int rc;

    if (path == NULL) {
        otb_log_seterr(err, errlen, "invalid argument");
        return -1;
    }
    if (otb_acl_read_file(path, &text, &len, err, errlen) != 0)
        return -1;
    /* The parser's message goes to a scratch copy so the path can be put in
     * front of it without overlapping snprintf arguments. */
    if (err != NULL && errlen > 0) {
        lerr = calloc(1, errlen);
        if (lerr == NULL) {
            free(text);
            otb_log_seterr(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    rc = otb_acl_load_text(acl, text, len, lerr, errlen);
    if (rc != 0)
        otb_log_seterr(err, errlen, "%s: %s", path, lerr != NULL ? lerr : "");
    free(lerr);
    free(text);
    return rc;
}

struct otb_acl *otb_acl_builtin_outbound_block(void)
{
    struct otb_acl *acl = otb_acl_new();

    if (acl == NULL)
        return NULL;
    if (otb_acl_load_text(acl, otb_acl_builtin_text, sizeof(otb_acl_builtin_text) - 1, NULL,
                          0) != 0) {
        otb_acl_free(acl);
        return NULL;
    }
    return acl;
}

int otb_acl_add_local_addrs(struct otb_acl *acl, enum otb_acl_list list)
{
    struct ifaddrs *ifa, *i;
    int rc = 0;

    if (acl == NULL || !otb_acl_valid_list(list))
        return -1;
    if (getifaddrs(&ifa) != 0)
        return -1;
    for (i = ifa; i != NULL; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;

        if (sa == NULL)
            continue;
        if (sa->sa_family == AF_INET) {
            if (otb_acl_add_addr(acl, list, sa, 32) != 0)
                rc = -1;
        } else if (sa->sa_family == AF_INET6) {
            if (otb_acl_add_addr(acl, list, sa, 128) != 0)
                rc = -1;
        }
    }
    freeifaddrs(ifa);
    return rc;
}

bool otb_acl_outbound_permitted(struct otb_acl *user, struct otb_acl *builtin,
                                const struct sockaddr *sa)
{
    if (user != NULL) {
        if (otb_acl_match_addr(user, OTB_ACL_OUTBOUND_ALLOW, sa))
            return true;
        if (otb_acl_blocks_addr(user, sa))
            return false;
    }
    return !otb_acl_blocks_addr(builtin, sa);
}

bool otb_acl_outbound_host_permitted(struct otb_acl *user, const char *host)
{
    if (user == NULL)
        return true;
    if (otb_acl_match_host(user, OTB_ACL_OUTBOUND_ALLOW, host))
        return true;
    if (otb_acl_match_host(user, OTB_ACL_OUTBOUND_BLOCK, host))
        return false;
    return true;
}

bool otb_acl_should_bypass(struct otb_acl *acl, const struct sockaddr *sa, const char *host)
{
    if (acl == NULL)
        return false;
    if (host && otb_acl_match_host(acl, OTB_ACL_BYPASS, host))
        return true;
    if (host && otb_acl_match_host(acl, OTB_ACL_PROXY, host))
        return false;
    if (sa && otb_acl_match_addr(acl, OTB_ACL_BYPASS, sa))
        return true;
    if (sa && otb_acl_match_addr(acl, OTB_ACL_PROXY, sa))
        return false;
    return acl->bypass_all;
}

bool otb_acl_has_host_rules(const struct otb_acl *acl)
{
    return acl != NULL &&
           (acl->lists[OTB_ACL_BYPASS].nre > 0 || acl->lists[OTB_ACL_PROXY].nre > 0);
}
