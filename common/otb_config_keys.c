/* The configuration's key table: every setting's JSON key, storage and
 * limits, and the typed setters that check a value the same way whether it
 * comes from the file or from a flag. */
#include "otb_config_keys.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "otb_common.h"
#include "otb_log.h"
#include "otb_sock.h"

#define OTB_TIMEOUT_MAX 86400
/* The kernel's own ceiling for RLIMIT_NOFILE (fs.nr_open). */
#define OTB_NOFILE_MAX (1024 * 1024 * 1024)
#define OTB_VERBOSE_MAX 9

#define OTB_FIELD(f) \
    .offset = offsetof(struct otb_config, f), .size = sizeof(((struct otb_config *)0)->f)
#define OTB_KEY(n, t, f) { .name = n, .type = t, OTB_FIELD(f) }
#define OTB_KEY_GROUP(n, t, f, g) { .name = n, .type = t, OTB_FIELD(f), .group = g }
#define OTB_KEY_UINT(n, f, lo, hi) \
    { .name = n, .type = OTB_CFG_UINT, OTB_FIELD(f), .min = lo, .max = hi }

static const struct otb_config_key otb_config_keys[] = {
    OTB_KEY_GROUP("server", OTB_CFG_SERVERS, servers, OTB_GROUP_SERVERS),
    OTB_KEY_UINT("server_port", server_port, 1, 65535),
    OTB_KEY("local_address", OTB_CFG_STRING, local_addr),
    OTB_KEY_UINT("local_port", local_port, 1, 65535),
    OTB_KEY_GROUP("password", OTB_CFG_STRING, password, OTB_GROUP_SECRET),
    OTB_KEY_GROUP("password_file", OTB_CFG_PASSWORD_FILE, password, OTB_GROUP_SECRET),
    OTB_KEY_GROUP("key", OTB_CFG_STRING, key_b64, OTB_GROUP_SECRET),
    OTB_KEY("method", OTB_CFG_METHOD, method),
    OTB_KEY_UINT("timeout", timeout, 1, OTB_TIMEOUT_MAX),
    OTB_KEY_UINT("connect_timeout", connect_timeout, 1, OTB_TIMEOUT_MAX),
    OTB_KEY_UINT("preauth_timeout", preauth_timeout, 1, OTB_TIMEOUT_MAX),
    OTB_KEY_UINT("max_preauth_per_source", max_preauth_per_source, 0, OTB_NOFILE_MAX),
    OTB_KEY("mode", OTB_CFG_MODE, mode),
    OTB_KEY("mptcp", OTB_CFG_BOOL, mptcp),
    OTB_KEY("fast_open", OTB_CFG_BOOL, fast_open),
    OTB_KEY("reuse_port", OTB_CFG_BOOL, reuse_port),
    OTB_KEY("no_delay", OTB_CFG_BOOL, no_delay),
    OTB_KEY("congestion", OTB_CFG_CONGESTION, congestion),
    OTB_KEY("ipv6_first", OTB_CFG_BOOL, ipv6_first),
    OTB_KEY("nameserver", OTB_CFG_STRING, nameserver),
    OTB_KEY("acl", OTB_CFG_STRING, acl),
    OTB_KEY_GROUP("public_address", OTB_CFG_PUBLIC_ADDRS, public_addrs, OTB_GROUP_PUBLIC_ADDRS),
    OTB_KEY("pid_file", OTB_CFG_STRING, pidfile),
    OTB_KEY("user", OTB_CFG_STRING, user),
    OTB_KEY("interface", OTB_CFG_STRING, iface),
    { .name = "mark", .type = OTB_CFG_UINT, OTB_FIELD(mark), .max = UINT32_MAX, .hex = true },
    { .name = "verbose", .type = OTB_CFG_LEVEL, OTB_FIELD(verbose), .max = OTB_VERBOSE_MAX },
    OTB_KEY("syslog", OTB_CFG_BOOL, use_syslog),
    OTB_KEY("status_socket", OTB_CFG_STRING, status_socket),
    OTB_KEY("tunnel_status_socket", OTB_CFG_STRING, tunnel_status),
    OTB_KEY("metrics_address", OTB_CFG_HOSTPORT, metrics),
    OTB_KEY_UINT("max_connections", max_conns, 0, OTB_NOFILE_MAX),
    OTB_KEY_UINT("nofile", nofile, 0, OTB_NOFILE_MAX),
    OTB_KEY_UINT("shutdown_timeout", shutdown_timeout, 1, OTB_TIMEOUT_MAX),
    OTB_KEY("tproxy", OTB_CFG_BOOL, tproxy),
    OTB_KEY("tunnel_address", OTB_CFG_HOSTPORT, tunnel_to),
    OTB_KEY_UINT("udp_max_associations", udp_max_assoc, 16, 1 << 20),
    OTB_KEY("listeners", OTB_CFG_LISTENERS, listeners),
    OTB_KEY_UINT("socks5_port", socks5_port, 0, 65535),
    OTB_KEY("wans", OTB_CFG_WANS, policy),
    OTB_KEY("pins", OTB_CFG_PINS, policy),
    OTB_KEY("firewall", OTB_CFG_FIREWALL, policy),
    OTB_KEY("voice_ports", OTB_CFG_VOICE_PORTS, qos),
    OTB_KEY("voice_hosts", OTB_CFG_VOICE_HOSTS, qos),
    OTB_KEY("voice_duplicate", OTB_CFG_BOOL, voice_duplicate),
    OTB_KEY("socks5_user", OTB_CFG_STRING, socks5_user),
    OTB_KEY("socks5_password", OTB_CFG_STRING, socks5_password),
    OTB_KEY("socks5_address", OTB_CFG_STRING, socks5_addr),
    OTB_KEY_UINT("max_pending", max_pending, 1, 1 << 20),
    OTB_KEY_UINT("max_pending_per_source", max_pending_per_source, 1, 1 << 20),
    OTB_KEY("wan_health", OTB_CFG_BOOL, wan_health),
    OTB_KEY_UINT("wan_probe_ms", wan_probe_ms, 100, 60000),
    OTB_KEY_UINT("wan_down_ms", wan_down_ms, 300, 60000),
    OTB_KEY("wan_hook", OTB_CFG_STRING, wan_hook),
    OTB_KEY("shape_downloads", OTB_CFG_STRING, shape_downloads),
    OTB_KEY_UINT("shape_share", shape_share, 50, 100),
    /* shadowsocks-libev's process count; we run one event loop per process. */
    { .name = "workers", .type = OTB_CFG_IGNORED, .max = 1024 },
};

static const char *const otb_config_mode_names[] = {
    [OTB_MODE_TCP_ONLY] = "tcp_only",
    [OTB_MODE_TCP_AND_UDP] = "tcp_and_udp",
    [OTB_MODE_UDP_ONLY] = "udp_only",
};

int otb_config_fail(struct otb_config_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    otb_log_vseterr(ctx->err, ctx->errlen, fmt, ap);
    va_end(ap);
    return OTB_CONFIG_ERROR;
}

const struct otb_config_key *otb_config_find_key(const char *name)
{
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_config_keys); i++)
        if (strcmp(otb_config_keys[i].name, name) == 0)
            return &otb_config_keys[i];
    return NULL;
}

/* Integer fields differ in width (uint16_t ports, int timeouts, long limits);
 * all hold non-negative values, so storing by size is exact. */
void otb_config_store_uint(void *field, size_t size, unsigned long long v)
{
    if (size == sizeof(uint16_t)) {
        uint16_t x = (uint16_t)v;
        memcpy(field, &x, sizeof(x));
    } else if (size == sizeof(uint32_t)) {
        uint32_t x = (uint32_t)v;
        memcpy(field, &x, sizeof(x));
    } else {
        uint64_t x = v;
        memcpy(field, &x, sizeof(x));
    }
}

unsigned long long otb_config_load_uint(const void *field, size_t size)
{
    if (size == sizeof(uint16_t)) {
        uint16_t x;
        memcpy(&x, field, sizeof(x));
        return x;
    }
    if (size == sizeof(uint32_t)) {
        uint32_t x;
        memcpy(&x, field, sizeof(x));
        return x;
    }
    uint64_t x;
    memcpy(&x, field, sizeof(x));
    return x;
}

/* Digits only: strtoull alone would accept " 12", "+12" and "-1" (as a huge value). */
static int otb_config_parse_uint(const char *s, bool hex, unsigned long long *out)
{
    int base = 10;
    if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (base == 16 ? !isxdigit((unsigned char)s[0]) : !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int otb_config_parse_port(const char *s, uint16_t *port)
{
    unsigned long long v;
    if (otb_config_parse_uint(s, false, &v) != 0 || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* Whitespace, control characters and brackets never belong in a host name
 * or address; catching them here gives a clear message instead of a failed
 * lookup later. */
static bool otb_config_host_ok(const char *host, size_t len)
{
    if (len == 0 || len >= OTB_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c == 0x7f || c == '[' || c == ']')
            return false;
    }
    return true;
}

int otb_config_parse_hostport(const char *text, struct otb_hostport *out)
{
    struct otb_hostport hp = { .port = 0 };
    const char *host = text, *port = NULL;
    size_t hlen;

    if (text == NULL || text[0] == '\0')
        return -1;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL)
            return -1;
        host = text + 1;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return -1;
    } else {
        const char *colon = strchr(text, ':');
        hlen = strlen(text);
        /* Two or more colons without brackets can only be an IPv6 literal. */
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            hlen = (size_t)(colon - text);
            port = colon + 1;
        }
    }
    if (!otb_config_host_ok(host, hlen))
        return -1;
    if (port != NULL && otb_config_parse_port(port, &hp.port) != 0)
        return -1;
    memcpy(hp.host, host, hlen);
    hp.host[hlen] = '\0';
    *out = hp;
    return 0;
}

/* The text of a value: the flag's argument, or a JSON string. JSON integers
 * are taken as their decimal text, as shadowsocks-libev does (a numeric
 * "password" is common in its files). */
static int otb_config_text(struct otb_config_ctx *ctx, const char *label, const char *text,
                           struct json_object *jv, const char *what, const char **out)
{
    if (jv == NULL) {
        *out = text;
        return OTB_CONFIG_OK;
    }
    if (json_object_is_type(jv, json_type_int)) {
        snprintf(ctx->num, sizeof(ctx->num), "%" PRId64, json_object_get_int64(jv));
        *out = ctx->num;
        return OTB_CONFIG_OK;
    }
    if (!json_object_is_type(jv, json_type_string))
        return otb_config_fail(ctx, "%s: expected %s", label, what);
    const char *s = json_object_get_string(jv);
    if (strlen(s) != (size_t)json_object_get_string_len(jv))
        return otb_config_fail(ctx, "%s: contains a NUL character", label);
    *out = s;
    return OTB_CONFIG_OK;
}

/* The old contents are wiped first: the field may have held a secret longer
 * than the new value. */
static int otb_config_copy(struct otb_config_ctx *ctx, const char *label, char *dst, size_t size,
                           const char *s)
{
    size_t n = strlen(s);
    if (n >= size)
        return otb_config_fail(ctx, "%s: longer than %zu characters", label, size - 1);
    sodium_memzero(dst, size);
    memcpy(dst, s, n + 1);
    return OTB_CONFIG_OK;
}

static int otb_config_uint_value(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *text, struct json_object *jv,
                                 unsigned long long *out)
{
    unsigned long long v = 0;
    bool ok;

    if (jv == NULL) {
        ok = otb_config_parse_uint(text, k->hex, &v) == 0;
    } else if (json_object_is_type(jv, json_type_int)) {
        int64_t i = json_object_get_int64(jv);
        ok = i >= 0;
        v = (unsigned long long)i;
    } else if (json_object_is_type(jv, json_type_string)) {
        /* Some shadowsocks-libev files quote numbers: "server_port": "8388". */
        const char *s = json_object_get_string(jv);
        ok = strlen(s) == (size_t)json_object_get_string_len(jv) &&
             otb_config_parse_uint(s, k->hex, &v) == 0;
    } else {
        ok = false;
    }
    if (!ok || v < k->min || v > k->max)
        return otb_config_fail(ctx, "%s: expected an integer %llu-%llu", label, k->min, k->max);
    *out = v;
    return OTB_CONFIG_OK;
}

static int otb_config_set_uint(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                               const char *label, const char *text, struct json_object *jv)
{
    unsigned long long v = 0;
    int rc = otb_config_uint_value(ctx, k, label, text, jv, &v);
    if (rc == OTB_CONFIG_OK && k->size > 0)
        otb_config_store_uint((char *)ctx->cfg + k->offset, k->size, v);
    return rc;
}

static int otb_config_set_level(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                const char *label, const char *text, struct json_object *jv)
{
    /* shadowsocks-libev writes "verbose": true. */
    if (jv != NULL && json_object_is_type(jv, json_type_boolean)) {
        otb_config_store_uint((char *)ctx->cfg + k->offset, k->size,
                              json_object_get_boolean(jv) ? 1 : 0);
        return OTB_CONFIG_OK;
    }
    return otb_config_set_uint(ctx, k, label, text, jv);
}

static int otb_config_set_bool(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                               const char *label, const char *text, struct json_object *jv)
{
    bool v;
    if (jv == NULL) {
        v = strcmp(text, "true") == 0;
    } else if (json_object_is_type(jv, json_type_boolean)) {
        v = json_object_get_boolean(jv);
    } else {
        return otb_config_fail(ctx, "%s: expected true or false", label);
    }
    memcpy((char *)ctx->cfg + k->offset, &v, sizeof(v));
    return OTB_CONFIG_OK;
}

static int otb_config_set_string(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *s)
{
    return otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, s);
}

static int otb_config_set_method(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *s)
{
    if (otb_method_from_name(s) < 0)
        return otb_config_fail(ctx, "%s: unknown method \"%.40s\" (supported: %s)", label, s,
                               otb_method_names());
    return otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, s);
}

/* Whether the kernel has the algorithm is only known at run time (modules);
 * here the name must merely look like one. */
static int otb_config_set_congestion(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                     const char *label, const char *s)
{
    if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(s))
        return otb_config_fail(ctx, "%s: \"%.40s\" is not a congestion control name (e.g. "
                               "cubic, bbr, reno; \"\" for the system default)", label, s);
    return otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, s);
}

static int otb_config_set_mode(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                               const char *label, const char *s)
{
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_config_mode_names); i++) {
        if (strcmp(s, otb_config_mode_names[i]) == 0) {
            enum otb_mode mode = (enum otb_mode)i;
            memcpy((char *)ctx->cfg + k->offset, &mode, sizeof(mode));
            return OTB_CONFIG_OK;
        }
    }
    return otb_config_fail(ctx, "%s: expected tcp_only, tcp_and_udp or udp_only", label);
}

static int otb_config_add_server(struct otb_config_ctx *ctx, const char *label, const char *s)
{
    struct otb_config *cfg = ctx->cfg;
    if (cfg->n_servers >= OTB_MAX_SERVERS)
        return otb_config_fail(ctx, "%s: more than %d servers", label, OTB_MAX_SERVERS);
    if (otb_config_parse_hostport(s, &cfg->servers[cfg->n_servers]) != 0)
        return otb_config_fail(ctx, "%s: expected HOST, HOST:PORT or [IPV6]:PORT, got \"%.80s\"",
                               label, s);
    cfg->n_servers++;
    return OTB_CONFIG_OK;
}

/* One list entry; the list is reset before a file's value. */
typedef int (*otb_config_add_fn)(struct otb_config_ctx *ctx, const char *label, const char *s);

/* A repeatable setting: each flag appends (the first one dropped the file's
 * list, see otb_config_clear_group); the file's value, a string or an array
 * of strings, is the whole list. */
static int otb_config_set_list(struct otb_config_ctx *ctx, const char *label, const char *text,
                               struct json_object *jv, size_t *count, otb_config_add_fn add)
{
    const char *s = NULL;
    int rc;

    if (jv == NULL)
        return add(ctx, label, text);
    *count = 0;
    if (!json_object_is_type(jv, json_type_array)) {
        rc = otb_config_text(ctx, label, NULL, jv, "a string or an array of strings", &s);
        return rc != OTB_CONFIG_OK ? rc : add(ctx, label, s);
    }
    size_t n = json_object_array_length(jv);
    for (size_t i = 0; i < n; i++) {
        rc = otb_config_text(ctx, label, NULL, json_object_array_get_idx(jv, i),
                             "an array of strings", &s);
        if (rc == OTB_CONFIG_OK)
            rc = add(ctx, label, s);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    return OTB_CONFIG_OK;
}

static int otb_config_set_servers(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                  const char *label, const char *text, struct json_object *jv)
{
    (void)k; /* the list is the servers[]/n_servers pair, not one field */
    return otb_config_set_list(ctx, label, text, jv, &ctx->cfg->n_servers,
                               otb_config_add_server);
}

static int otb_config_add_public_addr(struct otb_config_ctx *ctx, const char *label,
                                      const char *s)
{
    struct otb_config *cfg = ctx->cfg;
    socklen_t len;

    if (cfg->n_public_addrs >= OTB_MAX_PUBLIC_ADDRS)
        return otb_config_fail(ctx, "%s: more than %d addresses", label, OTB_MAX_PUBLIC_ADDRS);
    if (otb_sock_parse_ip(s, 0, &cfg->public_addrs[cfg->n_public_addrs], &len) < 0)
        return otb_config_fail(ctx, "%s: expected an IPv4 or IPv6 address, got \"%.80s\"",
                               label, s);
    cfg->n_public_addrs++;
    return OTB_CONFIG_OK;
}

static int otb_config_set_public_addrs(struct otb_config_ctx *ctx,
                                       const struct otb_config_key *k, const char *label,
                                       const char *text, struct json_object *jv)
{
    (void)k; /* the public_addrs[]/n_public_addrs pair */
    return otb_config_set_list(ctx, label, text, jv, &ctx->cfg->n_public_addrs,
                               otb_config_add_public_addr);
}

static int otb_config_set_hostport(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                   const char *label, const char *s)
{
    struct otb_hostport hp;

    if (otb_config_parse_hostport(s, &hp) != 0 || hp.port == 0)
        return otb_config_fail(ctx, "%s: expected HOST:PORT or [IPV6]:PORT, got \"%.80s\"", label,
                               s);
    memcpy((char *)ctx->cfg + k->offset, &hp, sizeof(hp));
    return OTB_CONFIG_OK;
}

/* First line of the file, without its line ending. Keeping the password out
 * of argv keeps it out of ps(1) and /proc/PID/cmdline. */
static int otb_config_set_password_file(struct otb_config_ctx *ctx,
                                        const struct otb_config_key *k, const char *label,
                                        const char *path)
{
    char line[sizeof(ctx->cfg->password) + 2]; /* room for "\r\n" */
    int rc;

    FILE *f = fopen(path, "re");
    if (f == NULL)
        return otb_config_fail(ctx, "%s: cannot read \"%s\": %s", label, path, strerror(errno));
    /* Unbuffered: stdio's own buffer would keep the password after fclose. */
    setvbuf(f, NULL, _IONBF, 0);
    bool got = fgets(line, sizeof(line), f) != NULL;
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (!got) {
        sodium_memzero(line, sizeof(line));
        if (read_errno != 0)
            return otb_config_fail(ctx, "%s: cannot read \"%s\": %s", label, path,
                                   strerror(read_errno));
        return otb_config_fail(ctx, "%s: \"%s\" is empty", label, path);
    }
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0)
        rc = otb_config_fail(ctx, "%s: first line of \"%s\" is empty", label, path);
    else
        rc = otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, line);
    sodium_memzero(line, sizeof(line));
    return rc;
}

static void otb_config_clear_group(struct otb_config_ctx *ctx, enum otb_config_group group)
{
    struct otb_config *cfg = ctx->cfg;
    if (!ctx->from_cli || group == OTB_GROUP_NONE || ctx->cleared[group])
        return;
    ctx->cleared[group] = true;
    if (group == OTB_GROUP_SERVERS) {
        memset(cfg->servers, 0, sizeof(cfg->servers));
        cfg->n_servers = 0;
    } else if (group == OTB_GROUP_PUBLIC_ADDRS) {
        memset(cfg->public_addrs, 0, sizeof(cfg->public_addrs));
        cfg->n_public_addrs = 0;
    } else {
        sodium_memzero(cfg->password, sizeof(cfg->password));
        sodium_memzero(cfg->key_b64, sizeof(cfg->key_b64));
    }
}

/* "wans", "pins" and "firewall" are structured: JSON only, parsed by otb_policy. */
static int otb_config_set_policy(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *text, struct json_object *jv)
{
    struct otb_policy *p = &ctx->cfg->policy;
    int rc;

    (void)text;
    if (jv == NULL)
        return otb_config_fail(ctx, "%s: only in the config file", label);
    if (k->type == OTB_CFG_WANS)
        rc = otb_policy_parse_wans(p, jv, ctx->err, ctx->errlen);
    else if (k->type == OTB_CFG_PINS)
        rc = otb_policy_parse_pins(p, jv, ctx->err, ctx->errlen);
    else
        rc = otb_policy_parse_firewall(p, jv, ctx->err, ctx->errlen);
    return rc < 0 ? OTB_CONFIG_ERROR : OTB_CONFIG_OK;
}

static int otb_config_set_voice_ports(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                      const char *label, const char *s)
{
    (void)k;
    if (otb_qos_parse_ports(&ctx->cfg->qos, s) < 0)
        return otb_config_fail(ctx, "%s: expected ports or ranges like \"10000-20000,5004\" "
                               "(at most %d)", label, OTB_QOS_MAX_PORT_RANGES);
    return OTB_CONFIG_OK;
}

/* One comma-separated list of hosts, appended. */
static int otb_config_add_voice_hosts(struct otb_config_ctx *ctx, const char *label,
                                      const char *list)
{
    char item[64];

    while (*list) {
        size_t len = strcspn(list, ",");
        if (len == 0 || len >= sizeof(item))
            return otb_config_fail(ctx, "%s: expected IP or CIDR entries", label);
        memcpy(item, list, len);
        item[len] = '\0';
        if (otb_qos_add_host(&ctx->cfg->qos, item) < 0)
            return otb_config_fail(ctx, "%s: \"%.60s\" is not an IP or CIDR (at most %d)",
                                   label, item, OTB_QOS_MAX_HOSTS);
        list += len + (list[len] == ',');
    }
    return OTB_CONFIG_OK;
}

/* The whole list is replaced: an array of strings (file) or a comma list. */
static int otb_config_set_voice_hosts(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                      const char *label, const char *text,
                                      struct json_object *jv)
{
    const char *s = NULL;
    int rc;

    (void)k;
    ctx->cfg->qos.n_hosts = 0;
    if (jv == NULL || !json_object_is_type(jv, json_type_array)) {
        rc = otb_config_text(ctx, label, text, jv, "an array of strings", &s);
        return rc != OTB_CONFIG_OK ? rc : otb_config_add_voice_hosts(ctx, label, s);
    }
    for (size_t i = 0; i < json_object_array_length(jv); i++) {
        rc = otb_config_text(ctx, label, NULL, json_object_array_get_idx(jv, i),
                             "an array of strings", &s);
        if (rc == OTB_CONFIG_OK && strchr(s, ','))
            rc = otb_config_fail(ctx, "%s: one host per array entry", label);
        if (rc == OTB_CONFIG_OK)
            rc = otb_config_add_voice_hosts(ctx, label, s);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    return OTB_CONFIG_OK;
}

/* The row of one key of listeners[i]: the same setters as the top-level
 * keys, writing into that entry. NULL: not a key of an entry. */
static bool otb_config_listener_row(const char *name, size_t i, struct otb_config_key *row)
{
    size_t base = offsetof(struct otb_config, listeners) + i * sizeof(struct otb_listen_cfg);
    struct otb_listen_cfg *l = NULL;

    *row = (struct otb_config_key){ .name = name, .type = OTB_CFG_STRING };
    if (strcmp(name, "server_port") == 0) {
        *row = (struct otb_config_key){ .name = name, .type = OTB_CFG_UINT, .min = 1,
                                        .max = 65535, .size = sizeof(l->port),
                                        .offset = base + offsetof(struct otb_listen_cfg, port) };
    } else if (strcmp(name, "method") == 0) {
        row->type = OTB_CFG_METHOD;
        row->offset = base + offsetof(struct otb_listen_cfg, method);
        row->size = sizeof(l->method);
    } else if (strcmp(name, "password") == 0) {
        row->offset = base + offsetof(struct otb_listen_cfg, password);
        row->size = sizeof(l->password);
    } else if (strcmp(name, "key") == 0) {
        row->offset = base + offsetof(struct otb_listen_cfg, key_b64);
        row->size = sizeof(l->key_b64);
    } else {
        return false;
    }
    return true;
}

static int otb_config_set_listener(struct otb_config_ctx *ctx, size_t i, struct json_object *jv)
{
    const struct otb_listen_cfg *l = &ctx->cfg->listeners[i];
    char label[96];

    if (!json_object_is_type(jv, json_type_object))
        return otb_config_fail(ctx, "config key \"listeners[%zu]\": expected an object "
                               "{\"server_port\", \"method\", \"password\" or \"key\"}", i);
    json_object_object_foreach(jv, name, val)
    {
        struct otb_config_key row;
        snprintf(label, sizeof(label), "config key \"listeners[%zu].%.32s\"", i, name);
        if (!otb_config_listener_row(name, i, &row))
            return otb_config_fail(ctx, "unknown %s (server_port, method, password, key)", label);
        if (val == NULL)
            return otb_config_fail(ctx, "%s: null is not a valid value", label);
        int rc = otb_config_set(ctx, &row, label, NULL, val);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    if (l->port == 0 || l->method[0] == '\0')
        return otb_config_fail(ctx, "config key \"listeners[%zu]\": missing %s", i,
                               l->port == 0 ? "server_port" : "method");
    if (l->password[0] == '\0' && l->key_b64[0] == '\0')
        return otb_config_fail(ctx, "config key \"listeners[%zu]\": missing password or key", i);
    return OTB_CONFIG_OK;
}

/* The whole list is replaced. */
static int otb_config_set_listeners(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                    const char *label, const char *text, struct json_object *jv)
{
    struct otb_config *cfg = ctx->cfg;

    (void)k;
    (void)text;
    if (jv == NULL)
        return otb_config_fail(ctx, "%s: only in the config file", label);
    if (!json_object_is_type(jv, json_type_array))
        return otb_config_fail(ctx, "%s: expected an array of objects", label);
    if (json_object_array_length(jv) > OTB_MAX_LISTENERS)
        return otb_config_fail(ctx, "%s: at most %d entries", label, OTB_MAX_LISTENERS);
    sodium_memzero(cfg->listeners, sizeof(cfg->listeners));
    cfg->n_listeners = 0;
    for (size_t i = 0; i < json_object_array_length(jv); i++) {
        int rc = otb_config_set_listener(ctx, i, json_object_array_get_idx(jv, i));
        if (rc != OTB_CONFIG_OK)
            return rc;
        cfg->n_listeners = i + 1;
    }
    return OTB_CONFIG_OK;
}

typedef int (*otb_config_setter)(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *text, struct json_object *jv);
/* Types whose value is one string: the dispatcher fetches it. */
typedef int (*otb_config_text_setter)(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                      const char *label, const char *s);

static const struct {
    otb_config_setter value;
    otb_config_text_setter text;
} otb_config_setters[] = {
    [OTB_CFG_STRING] = { .text = otb_config_set_string },
    [OTB_CFG_METHOD] = { .text = otb_config_set_method },
    [OTB_CFG_CONGESTION] = { .text = otb_config_set_congestion },
    [OTB_CFG_MODE] = { .text = otb_config_set_mode },
    [OTB_CFG_BOOL] = { .value = otb_config_set_bool },
    [OTB_CFG_UINT] = { .value = otb_config_set_uint },
    [OTB_CFG_LEVEL] = { .value = otb_config_set_level },
    [OTB_CFG_SERVERS] = { .value = otb_config_set_servers },
    [OTB_CFG_PUBLIC_ADDRS] = { .value = otb_config_set_public_addrs },
    [OTB_CFG_HOSTPORT] = { .text = otb_config_set_hostport },
    [OTB_CFG_PASSWORD_FILE] = { .text = otb_config_set_password_file },
    [OTB_CFG_IGNORED] = { .value = otb_config_set_uint },
    [OTB_CFG_WANS] = { .value = otb_config_set_policy },
    [OTB_CFG_PINS] = { .value = otb_config_set_policy },
    [OTB_CFG_FIREWALL] = { .value = otb_config_set_policy },
    [OTB_CFG_VOICE_PORTS] = { .text = otb_config_set_voice_ports },
    [OTB_CFG_VOICE_HOSTS] = { .value = otb_config_set_voice_hosts },
    [OTB_CFG_LISTENERS] = { .value = otb_config_set_listeners },
};

int otb_config_set(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                          const char *label, const char *text, struct json_object *jv)
{
    const char *s = NULL;
    int rc;

    otb_config_clear_group(ctx, k->group);
    if (!otb_config_setters[k->type].text)
        return otb_config_setters[k->type].value(ctx, k, label, text, jv);
    rc = otb_config_text(ctx, label, text, jv, "a string", &s);
    return rc != OTB_CONFIG_OK ? rc : otb_config_setters[k->type].text(ctx, k, label, s);
}
