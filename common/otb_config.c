/* Configuration: shadowsocks-libev compatible JSON file plus getopt flags.
 *
 * One table describes every setting (JSON key, storage, limits:
 * otb_config_keys.c) and another every command-line flag (otb_config_cli.c).
 * The file (otb_config_json.c) and the flags go through the same typed
 * setters, so a value is checked the same way wherever it comes from, and
 * --help is generated from the same rows it documents. This file puts them
 * together: defaults, the order of sources, the checks across keys. */
#include "otb_config.h"
#include "otb_shaper.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "otb_common.h"
#include "otb_config_keys.h"
#include "otb_log.h"

/* The messages below return otb_log_seterr()'s -1 as the config result. */
_Static_assert(OTB_CONFIG_ERROR == -1, "OTB_CONFIG_ERROR is otb_log_seterr()'s value");

/* Where a method and its secret come from, named in the messages: the
 * top-level keys with their flags, or one entry of "listeners". */
struct otb_config_secret {
    const char *method, *password, *key_b64;
    const char *method_label, *password_label, *key_label;
    const char *missing; /* the message when neither secret is set */
};

static struct otb_config_secret otb_config_main_secret(const struct otb_config *cfg)
{
    return (struct otb_config_secret){
        .method = cfg->method, .password = cfg->password, .key_b64 = cfg->key_b64,
        .method_label = "method (-m)", .password_label = "password (-k)",
        .key_label = "key (--key)",
        .missing = "missing secret: set password (-k), password_file (--password-file) or key "
                   "(--key)",
    };
}

/* labels: storage for the listener's labels, kept while s is used. */
static struct otb_config_secret otb_config_listener_secret(const struct otb_config *cfg, size_t i,
                                                           char labels[3][40])
{
    const struct otb_listen_cfg *l = &cfg->listeners[i];

    snprintf(labels[0], 40, "listeners[%zu].method", i);
    snprintf(labels[1], 40, "listeners[%zu].password", i);
    snprintf(labels[2], 40, "listeners[%zu].key", i);
    return (struct otb_config_secret){
        .method = l->method, .password = l->password, .key_b64 = l->key_b64,
        .method_label = labels[0], .password_label = labels[1], .key_label = labels[2],
        .missing = "listeners: an entry has neither password nor key",
    };
}

/* A 2022 method's PSK is key or password, which for these methods is the
 * base64 PSK itself (no password hashing, per the 2022 spec); a SIP004
 * method's key is key, or the password hashed. The key named in a message is
 * the one that was set. The one derivation of the start, of SIGHUP and of the
 * final check. */
static int otb_config_derive(const struct otb_config_secret *s, struct otb_master *m, char *err,
                             size_t errlen)
{
    int method = otb_method_from_name(s->method);
    bool from_key = s->key_b64[0] != '\0';

    if (method < 0)
        return otb_log_seterr(err, errlen, "%s: unknown method \"%.40s\" (supported: %s)",
                              s->method_label, s->method, otb_method_names());
    if (s->password[0] == '\0' && !from_key)
        return otb_log_seterr(err, errlen, "%s", s->missing);
    const struct otb_cipher_info *info = otb_method_info((enum otb_method)method);
    if (otb_method_is_2022((enum otb_method)method)) {
        if (otb_master_from_base64(m, (enum otb_method)method,
                                   from_key ? s->key_b64 : s->password) == 0)
            return OTB_CONFIG_OK;
        return otb_log_seterr(err, errlen,
                              "%s: %s needs the base64 of a %zu-byte key (e.g. openssl rand "
                              "-base64 %zu)",
                              from_key ? s->key_label : s->password_label, info->name,
                              info->key_len, info->key_len);
    }
    if (!from_key) {
        otb_master_from_password(m, (enum otb_method)method, s->password);
        return OTB_CONFIG_OK;
    }
    if (otb_master_from_base64(m, (enum otb_method)method, s->key_b64) == 0)
        return OTB_CONFIG_OK;
    return otb_log_seterr(err, errlen, "%s: expected base64 of a %zu-byte key for %s",
                          s->key_label, info->key_len, info->name);
}

/* The derivation as a check: the key itself is not kept. */
static int otb_config_check_secret(const struct otb_config_secret *s, char *err, size_t errlen)
{
    struct otb_master scratch;
    int rc = otb_config_derive(s, &scratch, err, errlen);

    otb_master_wipe(&scratch);
    return rc;
}

/* Each listener's port is its own, and its key is valid. */
static int otb_config_check_listeners(struct otb_config_ctx *ctx)
{
    const struct otb_config *cfg = ctx->cfg;

    for (size_t i = 0; i < cfg->n_listeners; i++) {
        char labels[3][40];
        struct otb_config_secret s = otb_config_listener_secret(cfg, i, labels);
        uint16_t port = cfg->listeners[i].port;
        bool taken = port == cfg->server_port;
        for (size_t j = 0; j < i; j++)
            taken = taken || port == cfg->listeners[j].port;
        if (taken)
            return otb_config_fail(ctx, "listeners[%zu].server_port: port %u is already "
                                   "served (server_port or an earlier entry)", i, port);
        int rc = otb_config_check_secret(&s, ctx->err, ctx->errlen);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    return OTB_CONFIG_OK;
}

/* The HTTP listener binds one address, never a name to resolve. */
static bool otb_config_numeric_ip(const char *host)
{
    struct in6_addr a;

    return inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
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
    if (cfg->metrics.port != 0 && !otb_config_numeric_ip(cfg->metrics.host))
        return otb_config_fail(ctx, "metrics_address: expected IP:PORT, got host \"%.80s\"",
                               cfg->metrics.host);
    struct otb_config_secret secret = otb_config_main_secret(cfg);
    int rc = otb_config_check_secret(&secret, ctx->err, ctx->errlen);
    if (rc == OTB_CONFIG_OK && !box)
        rc = otb_config_check_listeners(ctx);
    if (rc != OTB_CONFIG_OK)
        return rc;
    if (cfg->shape_downloads[0] != '\0') {
        char ifs[OTB_SHAPER_IFACES][IFNAMSIZ], why[160];
        size_t n;
        if (otb_shaper_parse_ifaces(cfg->shape_downloads, ifs, OTB_SHAPER_IFACES, &n, why,
                                    sizeof(why)) < 0)
            return otb_config_fail(ctx, "shape_downloads: %s", why);
        /* tc runs whenever a box WAN comes or goes: privileges are needed all along. */
        if (cfg->user[0] != '\0')
            return otb_config_fail(ctx, "shape_downloads: not with user (-a): tc needs "
                                   "CAP_NET_ADMIN for as long as the server runs");
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
    cfg->preauth_timeout = 10;
    cfg->max_preauth_per_source = 64;
    cfg->mptcp = true;
    cfg->shape_share = 90;
    /* Loss-based cubic keeps every MPTCP subflow's window matched to its own
     * link; with BBR the lab measured 70-80% of the links' sum and large
     * per-second swings, with cubic 93% and steady (see otb-redir(8)). */
    snprintf(cfg->congestion, sizeof(cfg->congestion), "cubic");
    cfg->mode = OTB_MODE_TCP_ONLY;
    cfg->shutdown_timeout = 10;
    cfg->udp_max_assoc = 4096;
    cfg->max_pending = 1024;
    cfg->max_pending_per_source = 64;
    cfg->wan_health = true;
    cfg->wan_probe_ms = 1000;
    cfg->wan_down_ms = 800;
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
    if (rc != OTB_CONFIG_OK)
        otb_config_wipe_secrets(cfg); /* the caller exits: leave no secret behind */
    return rc;
}

void otb_config_wipe_secrets(struct otb_config *cfg)
{
    sodium_memzero(cfg->password, sizeof(cfg->password));
    sodium_memzero(cfg->key_b64, sizeof(cfg->key_b64));
    for (size_t i = 0; i < OTB_MAX_LISTENERS; i++) {
        sodium_memzero(cfg->listeners[i].password, sizeof(cfg->listeners[i].password));
        sodium_memzero(cfg->listeners[i].key_b64, sizeof(cfg->listeners[i].key_b64));
    }
}

int otb_config_master(const struct otb_config *cfg, struct otb_master *m, char *err,
                      size_t errlen)
{
    struct otb_config_secret s = otb_config_main_secret(cfg);

    return otb_config_derive(&s, m, err, errlen);
}

int otb_config_listener_master(const struct otb_config *cfg, size_t i, struct otb_master *m,
                               char *err, size_t errlen)
{
    char labels[3][40];
    struct otb_config_secret s = otb_config_listener_secret(cfg, i, labels);

    return otb_config_derive(&s, m, err, errlen);
}
