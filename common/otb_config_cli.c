/* The command line: one table of flags, each naming the setting it changes
 * in the key table (otb_config_keys.c); getopt's tables and --help are
 * generated from it. */
#include "otb_config_keys.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "otb_common.h"

#ifndef OTB_VERSION
#define OTB_VERSION "0.1.0"
#endif

/* getopt_long values of long-only options: above every char. */
#define OTB_OPT_LONG_BASE 256

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
    { .long_name = "preauth-timeout", .act = OTB_ACT_SET, .key = "preauth_timeout",
      .arg = "SECONDS", .progs = OTB_PROG_BIT(OTB_PROG_SERVER),
      .help = "time from the accept for a connection to authenticate (default 10)" },
    { .long_name = "max-preauth-per-source", .act = OTB_ACT_SET,
      .key = "max_preauth_per_source", .arg = "N", .progs = OTB_PROG_BIT(OTB_PROG_SERVER),
      .help = "unauthenticated connections per source address (default 64, 0 = no cap)" },
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
    { .long_name = "public-address", .act = OTB_ACT_SET, .key = "public_address",
      .arg = "ADDR", .progs = OTB_PROG_BIT(OTB_PROG_SERVER),
      .help = "own public IP on no interface (1:1 NAT), refused as a destination; "
              "repeatable" },
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
    { .long_name = "socks5-address", .act = OTB_ACT_SET, .key = "socks5_address",
      .arg = "ADDR", .progs = OTB_PROG_BIT(OTB_PROG_REDIR),
      .help = "SOCKS5 listen address (default: -b if one address, else loopback)" },
    { .long_name = "max-pending", .act = OTB_ACT_SET, .key = "max_pending", .arg = "N",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR),
      .help = "LAN connections in a SOCKS5 handshake or being sniffed (default 1024)" },
    { .long_name = "max-pending-per-source", .act = OTB_ACT_SET,
      .key = "max_pending_per_source", .arg = "N", .progs = OTB_PROG_BIT(OTB_PROG_REDIR),
      .help = "the same from one LAN address (default 64); beyond, its oldest is closed" },
    { .letter = 'L', .act = OTB_ACT_SET, .key = "tunnel_address", .arg = "HOST:PORT",
      .progs = OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "forward to this destination (default: transparent, TPROXY)" },
    { .long_name = "udp-max-assoc", .act = OTB_ACT_SET, .key = "udp_max_associations",
      .arg = "N", .progs = OTB_PROG_BIT(OTB_PROG_SERVER) | OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "UDP associations kept; when full, the heaviest client's oldest non-voice one goes" },
    { .long_name = "no-wan-health", .act = OTB_ACT_SET, .key = "wan_health", .fixed = "false",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR) | OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "do not probe the WANs (the routing alone chooses)" },
    { .long_name = "wan-probe-ms", .act = OTB_ACT_SET, .key = "wan_probe_ms", .arg = "MS",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR) | OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "probe interval of a healthy WAN (default 1000)" },
    { .long_name = "wan-down-ms", .act = OTB_ACT_SET, .key = "wan_down_ms", .arg = "MS",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR) | OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "a WAN silent this long is down (default 800)" },
    { .long_name = "wan-hook", .act = OTB_ACT_SET, .key = "wan_hook", .arg = "PATH",
      .progs = OTB_PROG_BIT(OTB_PROG_REDIR) | OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "run PATH WAN IFACE up|down on each WAN transition" },
    { .long_name = "shape-downloads", .act = OTB_ACT_SET, .key = "shape_downloads",
      .arg = "IFACE[,IFACE]", .progs = OTB_PROG_BIT(OTB_PROG_SERVER),
      .help = "shape what goes to each box WAN at its download_kbit, voice first (tc, HTB)" },
    { .long_name = "shape-share", .act = OTB_ACT_SET, .key = "shape_share", .arg = "PCT",
      .progs = OTB_PROG_BIT(OTB_PROG_SERVER),
      .help = "shaped rate, percent of each WAN's download_kbit (50-100, default 90)" },
    { .letter = 'v', .act = OTB_ACT_MORE, .key = "verbose", .progs = OTB_PROGS_ALL,
      .help = "more logging; repeatable" },
    OTB_OPT_ARG(0, "voice-ports", "voice_ports", "P[-Q],...",
                "ports whose traffic is voice (besides SIP 5060-5061)"),
    OTB_OPT_ARG(0, "voice-hosts", "voice_hosts", "IP[/LEN],...",
                "hosts whose traffic is voice"),
    { .long_name = "voice-duplicate", .act = OTB_ACT_SET, .key = "voice_duplicate",
      .fixed = "true", .progs = OTB_PROG_BIT(OTB_PROG_TUNNEL),
      .help = "send voice datagrams by two healthy WANs (2022 methods)" },
    OTB_OPT_FLAG(0, "syslog", "syslog", "true", "log to syslog"),
    OTB_OPT_ARG(0, "status-socket", "status_socket", "PATH",
                "serve the counters as JSON on this unix socket"),
    OTB_OPT_ARG(0, "metrics", "metrics_address", "IP:PORT",
                "serve /metrics (Prometheus) and the status page over HTTP"),
    { .long_name = "tunnel-status-socket", .act = OTB_ACT_SET, .key = "tunnel_status_socket",
      .arg = "PATH", .progs = OTB_PROG_BIT(OTB_PROG_REDIR),
      .help = "otb-tunnel's status socket: its UDP and voice flows in the status" },
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

int otb_config_scan(struct otb_config_ctx *ctx, int argc, char **argv, bool apply,
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
            "2022-* (Shadowsocks 2022): the password or key is a base64 pre-shared key of\n"
            "the method's key length (openssl rand -base64 32; 16 for 2022-blake3-aes-128-gcm).\n"
            "Config file keys are the option names above in shadowsocks-libev spelling\n"
            "(server_port, local_address, ...); command-line options override them.\n",
            otb_method_names());
}
