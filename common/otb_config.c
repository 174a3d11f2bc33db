/* Configuration: shadowsocks-libev compatible JSON file plus getopt flags.
 *
 * One table describes every setting (JSON key, storage, limits) and another
 * every command-line flag. The file and the flags go through the same typed
 * setters, so a value is checked the same way wherever it comes from, and
 * --help is generated from the same rows it documents. */
#include "otb_config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "otb_common.h"

#ifndef OTB_VERSION
#define OTB_VERSION "0.1.0"
#endif

/* Real config files are a few hundred bytes; anything this big is a wrong path. */
#define OTB_CONFIG_FILE_MAX (1024 * 1024)
#define OTB_TIMEOUT_MAX 86400
/* The kernel's own ceiling for RLIMIT_NOFILE (fs.nr_open). */
#define OTB_NOFILE_MAX (1024 * 1024 * 1024)
#define OTB_VERBOSE_MAX 9
/* getopt_long values of long-only options: above every char. */
#define OTB_OPT_LONG_BASE 256

enum otb_config_type {
    OTB_CFG_STRING,        /* char array; never echoed in errors: may be a secret */
    OTB_CFG_METHOD,        /* cipher name, checked against otb_crypto */
    OTB_CFG_CONGESTION,    /* TCP congestion control name ("" = system default) */
    OTB_CFG_MODE,          /* "tcp_only" | "tcp_and_udp" | "udp_only" */
    OTB_CFG_BOOL,          /* JSON boolean; flags give "true" or "false" */
    OTB_CFG_UINT,          /* unsigned integer in [min, max], stored by field size */
    OTB_CFG_LEVEL,         /* verbose: an integer, or a boolean as 0/1 */
    OTB_CFG_SERVERS,       /* string or array of strings, each a host[:port] */
    OTB_CFG_HOSTPORT,      /* host:port with the port required */
    OTB_CFG_PASSWORD_FILE, /* path whose first line becomes the password */
    OTB_CFG_IGNORED,       /* integer accepted for shadowsocks-libev files, no effect */
    OTB_CFG_WANS,          /* object of WANs (otb_policy) */
    OTB_CFG_PINS,          /* array of host pins (otb_policy), after "wans" */
    OTB_CFG_FIREWALL,      /* object: what otb-firewall intercepts (otb_policy) */
    OTB_CFG_VOICE_PORTS,   /* "5060-5061,10000-20000" (otb_qos) */
    OTB_CFG_VOICE_HOSTS,   /* array of IP/CIDR strings, or one comma-separated string */
};

/* Settings that the command line replaces as a whole: "-s B" after a file
 * listing A must mean servers = {B}, and "-k" must beat a file's "key" even
 * though a key normally takes precedence over a password. */
enum otb_config_group { OTB_GROUP_NONE, OTB_GROUP_SERVERS, OTB_GROUP_SECRET, OTB_GROUP_COUNT };

struct otb_config_key {
    const char *name; /* JSON key */
    enum otb_config_type type;
    size_t offset; /* into struct otb_config */
    size_t size;
    unsigned long long min, max; /* OTB_CFG_UINT, OTB_CFG_LEVEL, OTB_CFG_IGNORED */
    bool hex;                    /* also accept 0x...: fwmarks are usually written in hex */
    enum otb_config_group group;
};

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
    OTB_KEY("mode", OTB_CFG_MODE, mode),
    OTB_KEY("mptcp", OTB_CFG_BOOL, mptcp),
    OTB_KEY("fast_open", OTB_CFG_BOOL, fast_open),
    OTB_KEY("reuse_port", OTB_CFG_BOOL, reuse_port),
    OTB_KEY("no_delay", OTB_CFG_BOOL, no_delay),
    OTB_KEY("congestion", OTB_CFG_CONGESTION, congestion),
    OTB_KEY("ipv6_first", OTB_CFG_BOOL, ipv6_first),
    OTB_KEY("nameserver", OTB_CFG_STRING, nameserver),
    OTB_KEY("acl", OTB_CFG_STRING, acl),
    OTB_KEY("pid_file", OTB_CFG_STRING, pidfile),
    OTB_KEY("user", OTB_CFG_STRING, user),
    OTB_KEY("interface", OTB_CFG_STRING, iface),
    { .name = "mark", .type = OTB_CFG_UINT, OTB_FIELD(mark), .max = UINT32_MAX, .hex = true },
    { .name = "verbose", .type = OTB_CFG_LEVEL, OTB_FIELD(verbose), .max = OTB_VERBOSE_MAX },
    OTB_KEY("syslog", OTB_CFG_BOOL, use_syslog),
    OTB_KEY("status_socket", OTB_CFG_STRING, status_socket),
    OTB_KEY_UINT("max_connections", max_conns, 0, OTB_NOFILE_MAX),
    OTB_KEY_UINT("nofile", nofile, 0, OTB_NOFILE_MAX),
    OTB_KEY_UINT("shutdown_timeout", shutdown_timeout, 1, OTB_TIMEOUT_MAX),
    OTB_KEY("tproxy", OTB_CFG_BOOL, tproxy),
    OTB_KEY("tunnel_address", OTB_CFG_HOSTPORT, tunnel_to),
    OTB_KEY_UINT("udp_max_associations", udp_max_assoc, 16, 1 << 20),
    OTB_KEY_UINT("socks5_port", socks5_port, 0, 65535),
    OTB_KEY("wans", OTB_CFG_WANS, policy),
    OTB_KEY("pins", OTB_CFG_PINS, policy),
    OTB_KEY("firewall", OTB_CFG_FIREWALL, policy),
    OTB_KEY("voice_ports", OTB_CFG_VOICE_PORTS, qos),
    OTB_KEY("voice_hosts", OTB_CFG_VOICE_HOSTS, qos),
    OTB_KEY("socks5_user", OTB_CFG_STRING, socks5_user),
    OTB_KEY("socks5_password", OTB_CFG_STRING, socks5_password),
    /* shadowsocks-libev's process count; we run one event loop per process. */
    { .name = "workers", .type = OTB_CFG_IGNORED, .max = 1024 },
};

enum otb_config_act {
    OTB_ACT_SET,     /* set .key from the argument, or from .fixed for a flag */
    OTB_ACT_MORE,    /* -v: one more level of .key */
    OTB_ACT_CONFIG,  /* -c FILE */
    OTB_ACT_HELP,    /* -h */
    OTB_ACT_VERSION, /* -V */
};

#define OTB_PROG_BIT(p) (1u << (p))
#define OTB_PROGS_ALL \
    (OTB_PROG_BIT(OTB_PROG_SERVER) | OTB_PROG_BIT(OTB_PROG_REDIR) | OTB_PROG_BIT(OTB_PROG_TUNNEL))

struct otb_config_opt {
    int letter;            /* short option, 0 = long only */
    const char *long_name; /* NULL = short only */
    enum otb_config_act act;
    const char *key;         /* setting it changes */
    const char *fixed;       /* value of a flag without argument */
    const char *arg;         /* argument name in --help; NULL = no argument */
    unsigned progs;          /* OTB_PROG_BIT set of programs it applies to */
    const char *help;        /* one line for --help */
    const char *help_server; /* otb-server's reading, when it differs */
};

#define OTB_OPT_ARG(l, ln, k, a, h)                                                     \
    { .letter = l, .long_name = ln, .act = OTB_ACT_SET, .key = k, .arg = a,          \
      .progs = OTB_PROGS_ALL, .help = h }
#define OTB_OPT_FLAG(l, ln, k, v, h)                                                    \
    { .letter = l, .long_name = ln, .act = OTB_ACT_SET, .key = k, .fixed = v,        \
      .progs = OTB_PROGS_ALL, .help = h }

static const struct otb_config_opt otb_config_opts[] = {
    { .letter = 'c', .act = OTB_ACT_CONFIG, .arg = "FILE", .progs = OTB_PROGS_ALL,
      .help = "JSON config file (shadowsocks-libev format)" },
    { .letter = 's', .act = OTB_ACT_SET, .key = "server", .arg = "HOST[:PORT]",
      .progs = OTB_PROGS_ALL, .help = "server to connect to; repeat for several",
      .help_server = "address to listen on; repeatable (default 0.0.0.0 and ::)" },
    { .letter = 'p', .act = OTB_ACT_SET, .key = "server_port", .arg = "PORT",
      .progs = OTB_PROGS_ALL, .help = "server port", .help_server = "port to listen on" },
    { .letter = 'b', .act = OTB_ACT_SET, .key = "local_address", .arg = "ADDR",
      .progs = OTB_PROGS_ALL, .help = "address to listen on",
      .help_server = "source address of outbound connections" },
    { .letter = 'l', .act = OTB_ACT_SET, .key = "local_port", .arg = "PORT",
      .progs = OTB_PROGS_ALL, .help = "port to listen on",
      .help_server = "not used by otb-server; accepted for shared config files" },
    OTB_OPT_ARG('k', NULL, "password", "PASSWORD", "password"),
    OTB_OPT_ARG(0, "password-file", "password_file", "FILE",
                "read the password from the first line of FILE"),
    OTB_OPT_ARG(0, "key", "key", "BASE64", "master key in base64, instead of a password"),
    OTB_OPT_ARG('m', NULL, "method", "METHOD", "cipher, see Methods below"),
    OTB_OPT_ARG('t', NULL, "timeout", "SECONDS", "idle timeout"),
    OTB_OPT_ARG(0, "connect-timeout", "connect_timeout", "SECONDS", "outbound connect timeout"),
    OTB_OPT_FLAG('u', NULL, "mode", "tcp_and_udp", "relay UDP as well as TCP"),
    OTB_OPT_FLAG('U', NULL, "mode", "udp_only", "relay UDP only"),
    OTB_OPT_FLAG(0, "mptcp", "mptcp", "true", "use Multipath TCP (default on)"),
    OTB_OPT_FLAG(0, "no-mptcp", "mptcp", "false", "use plain TCP"),
    OTB_OPT_FLAG(0, "fast-open", "fast_open", "true", "use TCP Fast Open"),
    OTB_OPT_FLAG(0, "reuse-port", "reuse_port", "true", "set SO_REUSEPORT on listeners"),
    OTB_OPT_FLAG(0, "no-delay", "no_delay", "true", "set TCP_NODELAY"),
    OTB_OPT_ARG(0, "congestion", "congestion", "NAME",
                "TCP congestion control of the tunnel's sockets (\"\" = system default)"),
    OTB_OPT_FLAG('6', NULL, "ipv6_first", "true", "prefer IPv6 when resolving names"),
    OTB_OPT_ARG('d', NULL, "nameserver", "IP[:PORT],...", "DNS servers (default: system)"),
    OTB_OPT_ARG(0, "acl", "acl", "FILE", "access control list"),
    OTB_OPT_ARG('f', NULL, "pid_file", "FILE", "write the process id to FILE"),
    OTB_OPT_ARG('a', NULL, "user", "USER", "run as USER"),
    OTB_OPT_ARG('i', NULL, "interface", "IFACE", "bind outbound sockets to IFACE"),
    OTB_OPT_ARG(0, "mark", "mark", "MARK", "firewall mark of outbound sockets"),
    OTB_OPT_ARG('n', NULL, "nofile", "N", "raise the open files limit to N"),
    OTB_OPT_ARG(0, "max-conns", "max_connections", "N",
                "connection limit (default: from the open files limit)"),
    OTB_OPT_ARG(0, "shutdown-timeout", "shutdown_timeout", "SECONDS",
                "grace period for open connections on SIGTERM"),
    { .letter = 'T', .act = OTB_ACT_SET, .key = "tproxy", .fixed = "true",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR), .help = "use TPROXY instead of REDIRECT" },
    { .long_name = "socks5-port", .act = OTB_ACT_SET, .key = "socks5_port", .arg = "PORT",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR), .help = "also accept SOCKS5 clients on PORT" },
    { .long_name = "socks5-user", .act = OTB_ACT_SET, .key = "socks5_user", .arg = "USER",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR),
      .help = "require SOCKS5 username/password authentication" },
    { .long_name = "socks5-password", .act = OTB_ACT_SET, .key = "socks5_password",
      .arg = "PASSWORD", .progs = OTB_PROG_BIT(OTB_PROG_REDIR),
      .help = "SOCKS5 password (prefer the config file: arguments show in ps)" },
    { .letter = 'L', .act = OTB_ACT_SET, .key = "tunnel_address", .arg = "HOST:PORT",
      .progs = OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "forward to this destination (default: transparent, TPROXY)" },
    { .long_name = "udp-max-assoc", .act = OTB_ACT_SET, .key = "udp_max_associations",
      .arg = "N", .progs = OTB_PROG_BIT(OTB_PROG_SERVER) | OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "UDP associations kept; beyond, the least recently active goes" },
    { .letter = 'v', .act = OTB_ACT_MORE, .key = "verbose", .progs = OTB_PROGS_ALL,
      .help = "more logging; repeatable" },
    OTB_OPT_ARG(0, "voice-ports", "voice_ports", "P[-Q],...",
                "ports whose traffic is voice (besides SIP 5060-5061)"),
    OTB_OPT_ARG(0, "voice-hosts", "voice_hosts", "IP[/LEN],...",
                "hosts whose traffic is voice"),
    OTB_OPT_FLAG(0, "syslog", "syslog", "true", "log to syslog"),
    OTB_OPT_ARG(0, "status-socket", "status_socket", "PATH",
                "serve the counters as JSON on this unix socket"),
    { .letter = 'h', .long_name = "help", .act = OTB_ACT_HELP, .progs = OTB_PROGS_ALL,
      .help = "show this help" },
    { .letter = 'V', .long_name = "version", .act = OTB_ACT_VERSION, .progs = OTB_PROGS_ALL,
      .help = "show the version" },
};

static const char *const otb_config_prog_names[] = {
    [OTB_PROG_SERVER] = "otb-server",
    [OTB_PROG_REDIR] = "otb-redir",
    [OTB_PROG_TUNNEL] = "otb-tunnel",
};

static const char *const otb_config_prog_summaries[] = {
    [OTB_PROG_SERVER] = "Shadowsocks AEAD server: relays tunnel traffic to its destinations.",
    [OTB_PROG_REDIR] = "Transparent proxy: relays redirected traffic through the servers.",
    [OTB_PROG_TUNNEL] = ("UDP relay: intercepted (TPROXY) or local_port to tunnel_address (-L)\n"
                         "datagrams through the servers; with -L and -u, TCP too."),
};

static const char *const otb_config_mode_names[] = {
    [OTB_MODE_TCP_ONLY] = "tcp_only",
    [OTB_MODE_TCP_AND_UDP] = "tcp_and_udp",
    [OTB_MODE_UDP_ONLY] = "udp_only",
};

/* Everything one load needs, so that the module itself keeps no state. */
struct otb_config_ctx {
    struct otb_config *cfg;
    char *err;
    size_t errlen;
    bool from_cli;
    bool cleared[OTB_GROUP_COUNT];
    char num[24]; /* a JSON integer given where text is expected, as text */
};

__attribute__((format(printf, 3, 0))) static int otb_config_verror(char *err, size_t errlen,
                                                                  const char *fmt, va_list ap)
{
    if (err != NULL && errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    return OTB_CONFIG_ERROR;
}

__attribute__((format(printf, 3, 4))) static int otb_config_error(char *err, size_t errlen,
                                                                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    otb_config_verror(err, errlen, fmt, ap);
    va_end(ap);
    return OTB_CONFIG_ERROR;
}

__attribute__((format(printf, 2, 3))) static int otb_config_fail(struct otb_config_ctx *ctx,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    otb_config_verror(ctx->err, ctx->errlen, fmt, ap);
    va_end(ap);
    return OTB_CONFIG_ERROR;
}

/* The messages below are shared by the final check and otb_config_master(). */
static int otb_config_error_method(const char *method, char *err, size_t errlen)
{
    return otb_config_error(err, errlen, "method (-m): unknown method \"%.40s\" (supported: %s)",
                            method, otb_method_names());
}

static int otb_config_error_secret(char *err, size_t errlen)
{
    return otb_config_error(err, errlen,
                            "missing secret: set password (-k), password_file (--password-file) "
                            "or key (--key)");
}

static int otb_config_error_key(enum otb_method method, char *err, size_t errlen)
{
    const struct otb_cipher_info *info = otb_method_info(method);
    return otb_config_error(err, errlen, "key (--key): expected base64 of a %zu-byte key for %s",
                            info->key_len, info->name);
}

static const struct otb_config_key *otb_config_find_key(const char *name)
{
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_config_keys); i++)
        if (strcmp(otb_config_keys[i].name, name) == 0)
            return &otb_config_keys[i];
    return NULL;
}

/* Integer fields differ in width (uint16_t ports, int timeouts, long limits);
 * all hold non-negative values, so storing by size is exact. */
static void otb_config_store_uint(void *field, size_t size, unsigned long long v)
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

static unsigned long long otb_config_load_uint(const void *field, size_t size)
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
                                 const char *label, const char *text, struct json_object *jv)
{
    const char *s = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &s);
    if (rc != OTB_CONFIG_OK)
        return rc;
    return otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, s);
}

static int otb_config_set_method(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *text, struct json_object *jv)
{
    const char *s = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &s);
    if (rc != OTB_CONFIG_OK)
        return rc;
    if (otb_method_from_name(s) < 0)
        return otb_config_fail(ctx, "%s: unknown method \"%.40s\" (supported: %s)", label, s,
                               otb_method_names());
    return otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, s);
}

/* Whether the kernel has the algorithm is only known at run time (modules);
 * here the name must merely look like one. */
static int otb_config_set_congestion(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                     const char *label, const char *text,
                                     struct json_object *jv)
{
    const char *s = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &s);
    if (rc != OTB_CONFIG_OK)
        return rc;
    if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(s))
        return otb_config_fail(ctx, "%s: \"%.40s\" is not a congestion control name (e.g. "
                               "cubic, bbr, reno; \"\" for the system default)", label, s);
    return otb_config_copy(ctx, label, (char *)ctx->cfg + k->offset, k->size, s);
}

static int otb_config_set_mode(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                               const char *label, const char *text, struct json_object *jv)
{
    const char *s = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &s);
    if (rc != OTB_CONFIG_OK)
        return rc;
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

static int otb_config_set_servers(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                  const char *label, const char *text, struct json_object *jv)
{
    const char *s = NULL;
    int rc;

    (void)k; /* the list is the servers[]/n_servers pair, not one field */
    if (jv == NULL) /* -s appends; the first one dropped the file's list */
        return otb_config_add_server(ctx, label, text);
    /* The file's "server" is the whole list. */
    ctx->cfg->n_servers = 0;
    if (!json_object_is_type(jv, json_type_array)) {
        rc = otb_config_text(ctx, label, NULL, jv, "a string or an array of strings", &s);
        return rc != OTB_CONFIG_OK ? rc : otb_config_add_server(ctx, label, s);
    }
    size_t n = json_object_array_length(jv);
    for (size_t i = 0; i < n; i++) {
        rc = otb_config_text(ctx, label, NULL, json_object_array_get_idx(jv, i),
                             "an array of strings", &s);
        if (rc == OTB_CONFIG_OK)
            rc = otb_config_add_server(ctx, label, s);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    return OTB_CONFIG_OK;
}

static int otb_config_set_hostport(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                   const char *label, const char *text, struct json_object *jv)
{
    struct otb_hostport hp;
    const char *s = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &s);
    if (rc != OTB_CONFIG_OK)
        return rc;
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
                                        const char *text, struct json_object *jv)
{
    char line[sizeof(ctx->cfg->password) + 2]; /* room for "\r\n" */
    const char *path = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &path);
    if (rc != OTB_CONFIG_OK)
        return rc;

    FILE *f = fopen(path, "re");
    if (f == NULL)
        return otb_config_fail(ctx, "%s: cannot read \"%s\": %s", label, path, strerror(errno));
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
                                      const char *label, const char *text,
                                      struct json_object *jv)
{
    const char *s = NULL;
    int rc = otb_config_text(ctx, label, text, jv, "a string", &s);

    (void)k;
    if (rc != OTB_CONFIG_OK)
        return rc;
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

typedef int (*otb_config_setter)(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                                 const char *label, const char *text, struct json_object *jv);

static const otb_config_setter otb_config_setters[] = {
    [OTB_CFG_STRING] = otb_config_set_string,
    [OTB_CFG_METHOD] = otb_config_set_method,
    [OTB_CFG_CONGESTION] = otb_config_set_congestion,
    [OTB_CFG_MODE] = otb_config_set_mode,
    [OTB_CFG_BOOL] = otb_config_set_bool,
    [OTB_CFG_UINT] = otb_config_set_uint,
    [OTB_CFG_LEVEL] = otb_config_set_level,
    [OTB_CFG_SERVERS] = otb_config_set_servers,
    [OTB_CFG_HOSTPORT] = otb_config_set_hostport,
    [OTB_CFG_PASSWORD_FILE] = otb_config_set_password_file,
    [OTB_CFG_IGNORED] = otb_config_set_uint,
    [OTB_CFG_WANS] = otb_config_set_policy,
    [OTB_CFG_PINS] = otb_config_set_policy,
    [OTB_CFG_FIREWALL] = otb_config_set_policy,
    [OTB_CFG_VOICE_PORTS] = otb_config_set_voice_ports,
    [OTB_CFG_VOICE_HOSTS] = otb_config_set_voice_hosts,
};

/* One value for one key, from a flag (text) or from the file (jv). label
 * names the key in errors, e.g. `config key "timeout"` or `option -t (timeout)`. */
static int otb_config_set(struct otb_config_ctx *ctx, const struct otb_config_key *k,
                          const char *label, const char *text, struct json_object *jv)
{
    otb_config_clear_group(ctx, k->group);
    return otb_config_setters[k->type](ctx, k, label, text, jv);
}

/* Line of a byte offset, for JSON syntax errors. */
static unsigned otb_config_line_of(const char *text, size_t offset)
{
    unsigned line = 1;
    for (size_t i = 0; i < offset; i++)
        line += text[i] == '\n';
    return line;
}

/* Comments are allowed (json-c's non-strict mode), as shadowsocks-libev's
 * parser allows them. */
static int otb_config_parse_json(struct otb_config_ctx *ctx, const char *text, size_t len,
                                 struct json_object **out)
{
    if (len > INT_MAX)
        return otb_config_fail(ctx, "invalid JSON: too large");
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return otb_config_fail(ctx, "out of memory");
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    if (root == NULL && jerr == json_tokener_continue)
        return otb_config_fail(ctx, "invalid JSON: unexpected end of file");
    if (root == NULL)
        return otb_config_fail(ctx, "invalid JSON at line %u: %s", otb_config_line_of(text, end),
                               json_tokener_error_desc(jerr));
    while (end < len && isspace((unsigned char)text[end]))
        end++;
    if (end < len) {
        json_object_put(root);
        return otb_config_fail(ctx, "invalid JSON at line %u: unexpected text after the object",
                               otb_config_line_of(text, end));
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return otb_config_fail(ctx, "invalid JSON: expected an object { ... }");
    }
    *out = root;
    return OTB_CONFIG_OK;
}

/* Keys for other programs (e.g. "tunnel_address" read by otb-server) are
 * accepted: shadowsocks-libev users share one file between programs. */
static int otb_config_apply_object(struct otb_config_ctx *ctx, struct json_object *root)
{
    struct json_object *wans;

    /* Pins name WANs: read the WANs first, wherever they stand in the file. */
    if (json_object_object_get_ex(root, "wans", &wans) && wans &&
        otb_config_set(ctx, otb_config_find_key("wans"), "config key \"wans\"", NULL, wans) !=
            OTB_CONFIG_OK)
        return OTB_CONFIG_ERROR;
    json_object_object_foreach(root, name, val)
    {
        const struct otb_config_key *k = otb_config_find_key(name);
        if (k && k->type == OTB_CFG_WANS)
            continue;
        char label[96];
        if (k == NULL)
            return otb_config_fail(ctx, "unknown config key \"%.64s\"", name);
        snprintf(label, sizeof(label), "config key \"%s\"", k->name);
        /* json-c's null is a NULL pointer, which the setters read as "from a flag". */
        if (val == NULL)
            return otb_config_fail(ctx, "%s: null is not a valid value", label);
        int rc = otb_config_set(ctx, k, label, NULL, val);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    return OTB_CONFIG_OK;
}

int otb_config_apply_json(struct otb_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen)
{
    struct otb_config_ctx ctx = { .cfg = cfg, .err = err, .errlen = errlen };
    struct json_object *root;
    int rc = otb_config_parse_json(&ctx, text, len, &root);
    if (rc != OTB_CONFIG_OK)
        return rc;
    rc = otb_config_apply_object(&ctx, root);
    json_object_put(root);
    sodium_memzero(ctx.num, sizeof(ctx.num));
    return rc;
}

/* 0 or an errno value. */
static int otb_config_read_file(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno;
    char *buf = malloc(OTB_CONFIG_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return ENOMEM;
    }
    size_t n = fread(buf, 1, OTB_CONFIG_FILE_MAX + 1, f);
    int e = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
    fclose(f);
    if (e == 0 && n > OTB_CONFIG_FILE_MAX)
        e = EFBIG;
    if (e != 0) {
        sodium_memzero(buf, n);
        free(buf);
        return e;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

static int otb_config_apply_file(struct otb_config_ctx *ctx, const char *path)
{
    char inner[512];
    char *text = NULL;
    size_t len = 0;

    errno = 0;
    int e = otb_config_read_file(path, &text, &len);
    if (e != 0)
        return otb_config_fail(ctx, "config file \"%s\": cannot read: %s", path, strerror(e));
    int rc = otb_config_apply_json(ctx->cfg, text, len, inner, sizeof(inner));
    /* The file text holds the password. */
    sodium_memzero(text, len);
    free(text);
    if (rc != OTB_CONFIG_OK)
        return otb_config_fail(ctx, "%s: %s", path, inner);
    return OTB_CONFIG_OK;
}

static void otb_config_opt_name(const struct otb_config_opt *o, char *buf, size_t size)
{
    if (o->letter != 0)
        snprintf(buf, size, "-%c", o->letter);
    else
        snprintf(buf, size, "--%s", o->long_name);
}

static const struct otb_config_opt *otb_config_opt_by_val(int val)
{
    if (val >= OTB_OPT_LONG_BASE &&
        (size_t)(val - OTB_OPT_LONG_BASE) < OTB_ARRAY_LEN(otb_config_opts))
        return &otb_config_opts[val - OTB_OPT_LONG_BASE];
    for (size_t i = 0; val != 0 && i < OTB_ARRAY_LEN(otb_config_opts); i++)
        if (otb_config_opts[i].letter == val)
            return &otb_config_opts[i];
    return NULL;
}

/* getopt's tables, built from ours. "+" stops at the first non-option
 * (reported as an error) instead of permuting argv; ":" reports a missing
 * argument apart from an unknown option. */
static void otb_config_getopt_tables(char *shortopts, size_t size, struct option *longopts)
{
    size_t n = 0, j = 0;
    shortopts[n++] = '+';
    shortopts[n++] = ':';
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_config_opts); i++) {
        const struct otb_config_opt *o = &otb_config_opts[i];
        bool has_arg = o->arg != NULL;
        if (o->letter != 0 && n + 3 <= size) {
            shortopts[n++] = (char)o->letter;
            if (has_arg)
                shortopts[n++] = ':';
        }
        if (o->long_name != NULL) {
            longopts[j++] = (struct option){
                .name = o->long_name,
                .has_arg = has_arg ? required_argument : no_argument,
                .val = o->letter != 0 ? o->letter : OTB_OPT_LONG_BASE + (int)i,
            };
        }
    }
    shortopts[n] = '\0';
    longopts[j] = (struct option){ .name = NULL };
}

static int otb_config_getopt_error(struct otb_config_ctx *ctx, int c, char **argv)
{
    const struct otb_config_opt *o = otb_config_opt_by_val(optopt);
    char name[40];
    if (o != NULL) {
        otb_config_opt_name(o, name, sizeof(name));
        if (c == ':' && o->key != NULL)
            return otb_config_fail(ctx, "option %s (%s) requires an argument", name, o->key);
        if (c == ':')
            return otb_config_fail(ctx, "option %s requires an argument", name);
        return otb_config_fail(ctx, "option %s takes no argument", name);
    }
    if (optopt > 0 && optopt < OTB_OPT_LONG_BASE)
        return otb_config_fail(ctx, "unknown option -%c (see --help)", optopt);
    return otb_config_fail(ctx, "unknown option \"%.64s\" (see --help)", argv[optind - 1]);
}

static int otb_config_apply_opt(struct otb_config_ctx *ctx, const struct otb_config_opt *o,
                                const char *name, const char *arg)
{
    const struct otb_config_key *k = otb_config_find_key(o->key);
    char label[96];
    if (k == NULL)
        return otb_config_fail(ctx, "option %s: no such setting", name);
    if (o->act == OTB_ACT_MORE) {
        void *field = (char *)ctx->cfg + k->offset;
        unsigned long long v = otb_config_load_uint(field, k->size);
        otb_config_store_uint(field, k->size, v < k->max ? v + 1 : v);
        return OTB_CONFIG_OK;
    }
    snprintf(label, sizeof(label), "option %s (%s)", name, k->name);
    return otb_config_set(ctx, k, label, o->arg != NULL ? arg : o->fixed, NULL);
}

/* One walk over argv. The first (apply = false) reports syntax errors and
 * flags foreign to this program, finds -c, and handles --help/--version;
 * the second applies the settings over the file's. */
static int otb_config_scan(struct otb_config_ctx *ctx, int argc, char **argv, bool apply,
                           const char **config_path)
{
    struct option longopts[OTB_ARRAY_LEN(otb_config_opts) + 1];
    char shortopts[2 + 2 * OTB_ARRAY_LEN(otb_config_opts) + 1];
    enum otb_prog prog = ctx->cfg->prog;
    int c;

    otb_config_getopt_tables(shortopts, sizeof(shortopts), longopts);
    optind = 0; /* GNU: full re-initialisation, needed for a second walk */
    opterr = 0; /* we report errors ourselves, as one line in err */
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return otb_config_getopt_error(ctx, c, argv);
        const struct otb_config_opt *o = otb_config_opt_by_val(c);
        char name[40];
        if (o == NULL)
            return otb_config_fail(ctx, "unknown option \"%.64s\"", argv[optind - 1]);
        otb_config_opt_name(o, name, sizeof(name));
        if (!(o->progs & OTB_PROG_BIT(prog)))
            return otb_config_fail(ctx, "option %s (%s) does not apply to %s", name,
                                   o->key != NULL ? o->key : "?", otb_config_prog_names[prog]);
        int rc = OTB_CONFIG_OK;
        if (apply && (o->act == OTB_ACT_SET || o->act == OTB_ACT_MORE)) {
            rc = otb_config_apply_opt(ctx, o, name, optarg);
        } else if (!apply && o->act == OTB_ACT_CONFIG) {
            *config_path = optarg;
        } else if (!apply && o->act == OTB_ACT_HELP) {
            otb_config_usage(prog, stdout);
            rc = OTB_CONFIG_EXIT;
        } else if (!apply && o->act == OTB_ACT_VERSION) {
            printf("%s %s\n", otb_config_prog_names[prog], OTB_VERSION);
            rc = OTB_CONFIG_EXIT;
        }
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    if (optind < argc)
        return otb_config_fail(ctx, "unexpected argument \"%.64s\" (see --help)", argv[optind]);
    return OTB_CONFIG_OK;
}

/* Required keys and the checks that need several keys at once. */
static int otb_config_check(struct otb_config_ctx *ctx)
{
    struct otb_config *cfg = ctx->cfg;
    bool box = cfg->prog != OTB_PROG_SERVER;

    if (cfg->server_port == 0)
        return otb_config_fail(ctx, "missing server_port (-p)");
    if (box && cfg->n_servers == 0)
        return otb_config_fail(ctx, "missing server (-s)");
    if (box && cfg->local_port == 0)
        return otb_config_fail(ctx, "missing local_port (-l)");
    if (cfg->socks5_user[0] != '\0' && cfg->socks5_password[0] == '\0')
        return otb_config_fail(ctx, "socks5_user is set but socks5_password is missing");
    if (cfg->socks5_port != 0 && cfg->socks5_port == cfg->local_port)
        return otb_config_fail(ctx, "socks5_port must differ from local_port (-l)");
    int method = otb_method_from_name(cfg->method);
    if (method < 0)
        return otb_config_error_method(cfg->method, ctx->err, ctx->errlen);
    if (cfg->password[0] == '\0' && cfg->key_b64[0] == '\0')
        return otb_config_error_secret(ctx->err, ctx->errlen);
    if (cfg->key_b64[0] != '\0') {
        struct otb_master scratch;
        int rc = otb_master_from_base64(&scratch, (enum otb_method)method, cfg->key_b64);
        otb_master_wipe(&scratch);
        if (rc != 0)
            return otb_config_error_key((enum otb_method)method, ctx->err, ctx->errlen);
    }
    if (!box && cfg->n_servers == 0) {
        /* Both families: "::" alone would depend on net.ipv6.bindv6only. */
        static const char *const any[] = { "0.0.0.0", "::" };
        for (size_t i = 0; i < OTB_ARRAY_LEN(any); i++)
            otb_config_parse_hostport(any[i], &cfg->servers[cfg->n_servers++]);
    }
    return OTB_CONFIG_OK;
}

void otb_config_defaults(struct otb_config *cfg, enum otb_prog prog)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->prog = prog;
    snprintf(cfg->method, sizeof(cfg->method), "%s", OTB_DEFAULT_METHOD);
    cfg->timeout = 60;
    cfg->connect_timeout = 10;
    cfg->mptcp = true;
    /* Loss-based cubic keeps every MPTCP subflow's window matched to its own
     * link; with BBR the lab measured 70-80% of the links' sum and large
     * per-second swings, with cubic 93% and steady (see otb-redir(8)). */
    snprintf(cfg->congestion, sizeof(cfg->congestion), "cubic");
    cfg->mode = OTB_MODE_TCP_ONLY;
    cfg->shutdown_timeout = 10;
    cfg->udp_max_assoc = 4096;
}

int otb_config_load(struct otb_config *cfg, enum otb_prog prog, int argc, char **argv,
                    char *err, size_t errlen)
{
    struct otb_config_ctx ctx = { .cfg = cfg, .err = err, .errlen = errlen };
    const char *path = NULL;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    otb_config_defaults(cfg, prog);
    int rc = otb_config_scan(&ctx, argc, argv, false, &path);
    if (rc == OTB_CONFIG_OK && path != NULL)
        rc = otb_config_apply_file(&ctx, path);
    if (rc == OTB_CONFIG_OK) {
        ctx.from_cli = true;
        rc = otb_config_scan(&ctx, argc, argv, true, NULL);
    }
    if (rc == OTB_CONFIG_OK)
        rc = otb_config_check(&ctx);
    if (rc != OTB_CONFIG_OK) {
        /* The caller exits: leave no secret behind in its memory. */
        sodium_memzero(cfg->password, sizeof(cfg->password));
        sodium_memzero(cfg->key_b64, sizeof(cfg->key_b64));
    }
    return rc;
}

int otb_config_master(const struct otb_config *cfg, struct otb_master *m, char *err,
                      size_t errlen)
{
    int method = otb_method_from_name(cfg->method);
    if (method < 0)
        return otb_config_error_method(cfg->method, err, errlen);
    if (cfg->key_b64[0] != '\0') {
        if (otb_master_from_base64(m, (enum otb_method)method, cfg->key_b64) != 0)
            return otb_config_error_key((enum otb_method)method, err, errlen);
        return OTB_CONFIG_OK;
    }
    if (cfg->password[0] == '\0')
        return otb_config_error_secret(err, errlen);
    otb_master_from_password(m, (enum otb_method)method, cfg->password);
    return OTB_CONFIG_OK;
}

/* " (default X)" for an option taking a value whose default is not empty. */
static void otb_config_default_text(const struct otb_config *def, const struct otb_config_opt *o,
                                    char *buf, size_t size)
{
    const struct otb_config_key *k = o->key != NULL ? otb_config_find_key(o->key) : NULL;
    buf[0] = '\0';
    if (k == NULL || o->act != OTB_ACT_SET || o->arg == NULL)
        return;
    const char *field = (const char *)def + k->offset;
    if ((k->type == OTB_CFG_STRING || k->type == OTB_CFG_METHOD ||
         k->type == OTB_CFG_CONGESTION) && field[0] != '\0')
        snprintf(buf, size, " (default %s)", field);
    else if (k->type == OTB_CFG_UINT && otb_config_load_uint(field, k->size) != 0)
        snprintf(buf, size, " (default %llu)", otb_config_load_uint(field, k->size));
}

void otb_config_usage(enum otb_prog prog, FILE *out)
{
    struct otb_config def;
    otb_config_defaults(&def, prog);

    fprintf(out, "Usage: %s [options]\n%s\n\nOptions:\n", otb_config_prog_names[prog],
            otb_config_prog_summaries[prog]);
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_config_opts); i++) {
        const struct otb_config_opt *o = &otb_config_opts[i];
        char left[64], dflt[64];
        if (!(o->progs & OTB_PROG_BIT(prog)))
            continue;
        if (o->letter != 0 && o->long_name != NULL)
            snprintf(left, sizeof(left), "-%c, --%s", o->letter, o->long_name);
        else if (o->letter != 0)
            snprintf(left, sizeof(left), "-%c%s%s", o->letter, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->long_name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        otb_config_default_text(&def, o, dflt, sizeof(dflt));
        const char *help = prog == OTB_PROG_SERVER && o->help_server ? o->help_server : o->help;
        fprintf(out, "  %-32s %s%s\n", left, help, dflt);
    }
    fprintf(out,
            "\nMethods: %s\n"
            "Config file keys are the option names above in shadowsocks-libev spelling\n"
            "(server_port, local_address, ...); command-line options override them.\n",
            otb_method_names());
}
