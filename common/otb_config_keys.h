/* Inside the configuration module, not for the programs (they use
 * otb_config.h): the key table every setting goes through, whether it comes
 * from the JSON file (otb_config_json.c) or a flag (otb_config_cli.c).
 * A new setting is one row in otb_config_keys.c, plus a flag row in
 * otb_config_cli.c if it has one. */
#ifndef OTB_CONFIG_KEYS_H
#define OTB_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "otb_config.h"

enum otb_config_type {
    OTB_CFG_STRING,        /* char array; never echoed in errors: may be a secret */
    OTB_CFG_METHOD,        /* cipher name, checked against otb_crypto */
    OTB_CFG_CONGESTION,    /* TCP congestion control name ("" = system default) */
    OTB_CFG_MODE,          /* "tcp_only" | "tcp_and_udp" | "udp_only" */
    OTB_CFG_BOOL,          /* JSON boolean; flags give "true" or "false" */
    OTB_CFG_UINT,          /* unsigned integer in [min, max], stored by field size */
    OTB_CFG_LEVEL,         /* verbose: an integer, or a boolean as 0/1 */
    OTB_CFG_SERVERS,       /* string or array of strings, each a host[:port] */
    OTB_CFG_PUBLIC_ADDRS,  /* string or array of strings, each an IP address */
    OTB_CFG_HOSTPORT,      /* host:port with the port required */
    OTB_CFG_PASSWORD_FILE, /* path whose first line becomes the password */
    OTB_CFG_IGNORED,       /* integer accepted for shadowsocks-libev files, no effect */
    OTB_CFG_WANS,          /* object of WANs (otb_policy) */
    OTB_CFG_PINS,          /* array of host pins (otb_policy), after "wans" */
    OTB_CFG_FIREWALL,      /* object: what otb-firewall intercepts (otb_policy) */
    OTB_CFG_VOICE_PORTS,   /* "5060-5061,10000-20000" (otb_qos) */
    OTB_CFG_VOICE_HOSTS,   /* array of IP/CIDR strings, or one comma-separated string */
    OTB_CFG_LISTENERS,     /* array of {server_port, method, password | key} (server) */
};

/* Settings that the command line replaces as a whole: "-s B" after a file
 * listing A must mean servers = {B}, and "-k" must beat a file's "key" even
 * though a key normally takes precedence over a password. */
enum otb_config_group {
    OTB_GROUP_NONE,
    OTB_GROUP_SERVERS,
    OTB_GROUP_SECRET,
    OTB_GROUP_PUBLIC_ADDRS,
    OTB_GROUP_COUNT
};

struct otb_config_key {
    const char *name; /* JSON key */
    enum otb_config_type type;
    size_t offset; /* into struct otb_config */
    size_t size;
    unsigned long long min, max; /* OTB_CFG_UINT, OTB_CFG_LEVEL, OTB_CFG_IGNORED */
    bool hex;                    /* also accept 0x...: fwmarks are usually written in hex */
    enum otb_config_group group;
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

__attribute__((format(printf, 2, 3))) int otb_config_fail(struct otb_config_ctx *ctx,
                                                        const char *fmt, ...);
/* The row of a JSON key, NULL if there is none. */
const struct otb_config_key *otb_config_find_key(const char *name);
/* One value for one key, from a flag (text) or from the file (jv). label
 * names the key in errors, e.g. `config key "timeout"` or `option -t (timeout)`. */
int otb_config_set(struct otb_config_ctx *ctx, const struct otb_config_key *k, const char *label,
                   const char *text, struct json_object *jv);
/* Integer fields by their size (2, 4 or 8 bytes). */
void otb_config_store_uint(void *field, size_t size, unsigned long long v);
unsigned long long otb_config_load_uint(const void *field, size_t size);

/* -c FILE: its keys onto ctx->cfg (otb_config_json.c). */
int otb_config_apply_file(struct otb_config_ctx *ctx, const char *path);
/* One walk over argv (otb_config_cli.c). The first (apply = false) reports
 * syntax errors and flags foreign to this program, finds -c, and handles
 * --help/--version; the second applies the settings over the file's. */
int otb_config_scan(struct otb_config_ctx *ctx, int argc, char **argv, bool apply,
                    const char **config_path);

#endif
