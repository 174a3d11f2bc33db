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

/* The messages below are shared by the final check and otb_config_master(). */
static int otb_config_error_method(const char *method, char *err, size_t errlen)
{
    return otb_log_seterr(err, errlen, "method (-m): unknown method \"%.40s\" (supported: %s)",
                          method, otb_method_names());
}

static int otb_config_error_secret(char *err, size_t errlen)
{
    return otb_log_seterr(err, errlen,
                          "missing secret: set password (-k), password_file (--password-file) "
                          "or key (--key)");
}

static int otb_config_error_key(enum otb_method method, char *err, size_t errlen)
{
    const struct otb_cipher_info *info = otb_method_info(method);
    return otb_log_seterr(err, errlen, "key (--key): expected base64 of a %zu-byte key for %s",
                          info->key_len, info->name);
}

/* The HTTP listener binds one address, never a name to resolve. */
static bool otb_config_numeric_ip(const char *host)
{
    struct in6_addr a;

    return inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
}

/* A 2022 method's PSK: key (--key) or password (-k), which for these methods
 * is the base64 PSK itself (no password hashing, per the 2022 spec). The key
 * named in the message is the one that was set. */
static int otb_config_psk_2022(const struct otb_config *cfg, enum otb_method method,
                               struct otb_master *m, char *err, size_t errlen)
{
    const struct otb_cipher_info *info = otb_method_info(method);
    bool from_key = cfg->key_b64[0] != '\0';

    if (otb_master_from_base64(m, method, from_key ? cfg->key_b64 : cfg->password) == 0)
        return OTB_CONFIG_OK;
    return otb_log_seterr(err, errlen,
                          "%s: %s needs the base64 of a %zu-byte key (e.g. openssl rand "
                          "-base64 %zu)",
                          from_key ? "key (--key)" : "password (-k)", info->name, info->key_len,
                          info->key_len);
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
    int method = otb_method_from_name(cfg->method);
    if (method < 0)
        return otb_config_error_method(cfg->method, ctx->err, ctx->errlen);
    if (cfg->password[0] == '\0' && cfg->key_b64[0] == '\0')
        return otb_config_error_secret(ctx->err, ctx->errlen);
    if (otb_method_is_2022((enum otb_method)method)) {
        struct otb_master scratch;
        int rc = otb_config_psk_2022(cfg, (enum otb_method)method, &scratch, ctx->err,
                                     ctx->errlen);
        otb_master_wipe(&scratch);
        if (rc != OTB_CONFIG_OK)
            return rc;
    } else if (cfg->key_b64[0] != '\0') {
        struct otb_master scratch;
        int rc = otb_master_from_base64(&scratch, (enum otb_method)method, cfg->key_b64);
        otb_master_wipe(&scratch);
        if (rc != 0)
            return otb_config_error_key((enum otb_method)method, ctx->err, ctx->errlen);
    }
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
}

int otb_config_master(const struct otb_config *cfg, struct otb_master *m, char *err,
                      size_t errlen)
{
    int method = otb_method_from_name(cfg->method);
    if (method < 0)
        return otb_config_error_method(cfg->method, err, errlen);
    if (cfg->password[0] == '\0' && cfg->key_b64[0] == '\0')
        return otb_config_error_secret(err, errlen);
    if (otb_method_is_2022((enum otb_method)method))
        return otb_config_psk_2022(cfg, (enum otb_method)method, m, err, errlen);
    if (cfg->key_b64[0] != '\0') {
        if (otb_master_from_base64(m, (enum otb_method)method, cfg->key_b64) != 0)
            return otb_config_error_key((enum otb_method)method, err, errlen);
        return OTB_CONFIG_OK;
    }
    otb_master_from_password(m, (enum otb_method)method, cfg->password);
    return OTB_CONFIG_OK;
}
