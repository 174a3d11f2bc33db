/* The "firewall" object of the box's config: what otb-firewall intercepts.
 * The rest of the box model (WANs, pins, servers, local_port) is read by the
 * same parser for otb-redir; otb_fwplan turns the whole into rules. */
#include "otb_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#define OTB_FW_KEY "config key \"firewall\""

__attribute__((format(printf, 3, 4))) static int otb_policy_fw_err(char *err, size_t errlen,
                                                                   const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, errlen, OTB_FW_KEY ": ");

    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

bool otb_policy_ifname_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= IFNAMSIZ)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-@") == n;
}

bool otb_policy_table_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < OTB_FW_TABLE_MAX && s[0] >= 'a' && s[0] <= 'z' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* A string or an array of strings, each passed to add(); -1 names the key. */
static int otb_policy_fw_list(struct otb_fw_settings *fw, const char *key, struct json_object *v,
                              int (*add)(struct otb_fw_settings *, const char *), char *err,
                              size_t errlen)
{
    bool array = json_object_is_type(v, json_type_array);
    size_t n = array ? json_object_array_length(v) : 1;

    for (size_t i = 0; i < n; i++) {
        struct json_object *e = array ? json_object_array_get_idx(v, i) : v;
        if (!json_object_is_type(e, json_type_string))
            return otb_policy_fw_err(err, errlen, "\"%s\": expected a string or an array of "
                                     "strings", key);
        if (add(fw, json_object_get_string(e)) < 0)
            return otb_policy_fw_err(err, errlen, "\"%s\": bad entry \"%.60s\"", key,
                                     json_object_get_string(e));
    }
    return 0;
}

static int otb_policy_fw_add_lan(struct otb_fw_settings *fw, const char *s)
{
    if (fw->n_lans == OTB_MAX_LANS || !otb_policy_ifname_ok(s))
        return -1;
    snprintf(fw->lans[fw->n_lans++], IFNAMSIZ, "%s", s);
    return 0;
}

static int otb_policy_fw_add_bypass(struct otb_fw_settings *fw, const char *s)
{
    if (fw->n_bypass == OTB_MAX_BYPASS)
        return -1;
    return otb_policy_parse_cidr(s, &fw->bypass[fw->n_bypass++]) < 0 ? -1 : 0;
}

static int otb_policy_fw_add_file(struct otb_fw_settings *fw, const char *s)
{
    if (fw->n_bypass_files == OTB_MAX_BYPASS_FILES || s[0] != '/' ||
        strlen(s) >= sizeof(fw->bypass_files[0]))
        return -1;
    snprintf(fw->bypass_files[fw->n_bypass_files++], sizeof(fw->bypass_files[0]), "%s", s);
    return 0;
}

static int otb_policy_fw_bool(struct json_object *v, const char *key, bool *negated, char *err,
                              size_t errlen)
{
    if (!json_object_is_type(v, json_type_boolean))
        return otb_policy_fw_err(err, errlen, "\"%s\" must be true or false", key);
    *negated = !json_object_get_boolean(v);
    return 0;
}

/* Integers 1..max; hex is written as a JSON integer (JSON has no 0x). */
static int otb_policy_fw_uint(struct json_object *v, const char *key, uint32_t max,
                              uint32_t *out, char *err, size_t errlen)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
        json_object_get_int64(v) > (int64_t)max)
        return otb_policy_fw_err(err, errlen, "\"%s\" must be an integer from 1 to %lu", key,
                                 (unsigned long)max);
    *out = (uint32_t)json_object_get_int64(v);
    return 0;
}

static int otb_policy_fw_key(struct otb_fw_settings *fw, const char *key, struct json_object *v,
                             char *err, size_t errlen)
{
    uint32_t u = 0;

    if (strcmp(key, "lan") == 0)
        return otb_policy_fw_list(fw, key, v, otb_policy_fw_add_lan, err, errlen);
    if (strcmp(key, "bypass") == 0)
        return otb_policy_fw_list(fw, key, v, otb_policy_fw_add_bypass, err, errlen);
    if (strcmp(key, "bypass_files") == 0)
        return otb_policy_fw_list(fw, key, v, otb_policy_fw_add_file, err, errlen);
    if (strcmp(key, "tcp") == 0)
        return otb_policy_fw_bool(v, key, &fw->no_tcp, err, errlen);
    if (strcmp(key, "default_bypass") == 0)
        return otb_policy_fw_bool(v, key, &fw->no_default_bypass, err, errlen);
    if (strcmp(key, "mptcp_endpoints") == 0)
        return otb_policy_fw_bool(v, key, &fw->no_mptcp_endpoints, err, errlen);
    if (strcmp(key, "tunnel_port") == 0) {
        int rc = otb_policy_fw_uint(v, key, 65535, &u, err, errlen);
        fw->tunnel_port = (uint16_t)u;
        return rc;
    }
    if (strcmp(key, "tproxy_mark") == 0)
        return otb_policy_fw_uint(v, key, UINT32_MAX, &fw->tproxy_mark, err, errlen);
    if (strcmp(key, "wan_mask") == 0)
        return otb_policy_fw_uint(v, key, UINT32_MAX, &fw->wan_mask, err, errlen);
    if (strcmp(key, "tproxy_table") == 0) {
        if (otb_policy_fw_uint(v, key, UINT32_MAX, &fw->tproxy_table, err, errlen) < 0 ||
            (fw->tproxy_table >= 253 && fw->tproxy_table <= 255))
            return otb_policy_fw_err(err, errlen, "\"tproxy_table\" must be a routing table "
                                     "number, not 0 or 253-255");
        return 0;
    }
    if (strcmp(key, "table") == 0) {
        if (!json_object_is_type(v, json_type_string) ||
            !otb_policy_table_name_ok(json_object_get_string(v)))
            return otb_policy_fw_err(err, errlen, "\"table\" must be [a-z][a-z0-9_]*, at most "
                                     "16 characters");
        snprintf(fw->table, sizeof(fw->table), "%s", json_object_get_string(v));
        return 0;
    }
    return otb_policy_fw_err(err, errlen, "unknown key \"%.40s\"", key);
}

int otb_policy_parse_firewall(struct otb_policy *p, struct json_object *jv, char *err,
                              size_t errlen)
{
    memset(&p->fw, 0, sizeof(p->fw));
    if (!json_object_is_type(jv, json_type_object))
        return otb_policy_fw_err(err, errlen, "expected an object");
    json_object_object_foreach(jv, key, val) {
        if (val == NULL)
            return otb_policy_fw_err(err, errlen, "\"%.40s\": null is not a valid value", key);
        if (otb_policy_fw_key(&p->fw, key, val, err, errlen) < 0)
            return -1;
    }
    return 0;
}
