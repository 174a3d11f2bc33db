#include "otb_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "otb_common.h"
#include "otb_log.h"

/* The message into err, -1 (otb_log.h). */
#define otb_policy_err otb_log_seterr

static int otb_policy_wan_index(const struct otb_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_wans; i++)
        if (strcmp(p->wans[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool otb_policy_wan_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < OTB_WAN_NAME_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A positive integer up to max; 0 when absent, 1 when set, -1 when bad. */
static int otb_policy_uint(struct json_object *obj, const char *key, uint32_t max,
                           uint32_t *out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
        json_object_get_int64(v) > (int64_t)max)
        return -1;
    *out = (uint32_t)json_object_get_int64(v);
    return 1;
}

bool otb_policy_table_ok(uint32_t t)
{
    return t != 0 && (t < 253 || t > 255);
}

/* "gateway": one address or an array of one per family. */
static int otb_policy_parse_gateways(struct otb_wan *w, struct json_object *v)
{
    size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;

    if (n == 0 || n > 2)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_is_type(v, json_type_array)
                                    ? json_object_array_get_idx(v, i) : v;
        struct otb_cidr gw;
        if (!json_object_is_type(e, json_type_string) || strchr(json_object_get_string(e), '/') ||
            otb_policy_parse_cidr(json_object_get_string(e), &gw) < 0)
            return -1;
        struct otb_cidr *slot = gw.family == AF_INET ? &w->gw4 : &w->gw6;
        if (slot->family != 0)
            return -1;
        *slot = gw;
    }
    return 0;
}

/* "download_auto" and its bounds, "download_min_kbit" (default a quarter of
 * download_kbit) and "download_max_kbit" (default twice). */
static int otb_policy_parse_wan_auto(struct otb_wan *w, const char *name,
                                     struct json_object *obj, char *err, size_t errlen)
{
    struct json_object *v;
    int has_min, has_max;

    if (json_object_object_get_ex(obj, "download_auto", &v)) {
        if (!json_object_is_type(v, json_type_boolean))
            return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": "
                                  "\"download_auto\" must be true or false", name);
        w->download_auto = json_object_get_boolean(v);
    }
    if (w->download_auto && !w->download_kbit)
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": "
                              "\"download_auto\" needs a \"download_kbit\" to start from", name);
    if ((has_min = otb_policy_uint(obj, "download_min_kbit", 100000000,
                                   &w->download_min_kbit)) < 0 ||
        (has_min && (!w->download_auto || w->download_min_kbit > w->download_kbit)))
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": "
                              "\"download_min_kbit\" must be a positive integer (kbit/s), "
                              "at most \"download_kbit\", with \"download_auto\"", name);
    if ((has_max = otb_policy_uint(obj, "download_max_kbit", 100000000,
                                   &w->download_max_kbit)) < 0 ||
        (has_max && (!w->download_auto || w->download_max_kbit < w->download_kbit)))
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": "
                              "\"download_max_kbit\" must be a positive integer (kbit/s), "
                              "at least \"download_kbit\", with \"download_auto\"", name);
    if (w->download_auto && !has_min)
        w->download_min_kbit = w->download_kbit / 4 ? w->download_kbit / 4 : 1;
    if (w->download_auto && !has_max)
        w->download_max_kbit = w->download_kbit > 50000000 ? 100000000 : w->download_kbit * 2;
    return 0;
}

/* The keys only otb-firewall and otb-qos read: table, gateway, upload_kbit; and
 * download_kbit, which the WAN's health probes tell the server. */
static int otb_policy_parse_wan_routing(struct otb_wan *w, const char *name,
                                        struct json_object *obj, char *err, size_t errlen)
{
    struct json_object *v;

    if (otb_policy_uint(obj, "table", UINT32_MAX, &w->table) < 0 ||
        (w->table && !otb_policy_table_ok(w->table)))
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": \"table\" must be "
                              "a routing table number, not 0 or 253-255", name);
    if (json_object_object_get_ex(obj, "gateway", &v) && otb_policy_parse_gateways(w, v) < 0)
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": \"gateway\" must "
                              "be an IP address (or one IPv4 and one IPv6)", name);
    if (otb_policy_uint(obj, "upload_kbit", 100000000, &w->upload_kbit) < 0)
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": \"upload_kbit\" "
                              "must be a positive integer (kbit/s)", name);
    if (otb_policy_uint(obj, "download_kbit", 100000000, &w->download_kbit) < 0)
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": \"download_kbit\" "
                              "must be a positive integer (kbit/s)", name);
    return otb_policy_parse_wan_auto(w, name, obj, err, errlen);
}

static int otb_policy_parse_wan(struct otb_wan *w, const char *name, struct json_object *obj,
                                char *err, size_t errlen)
{
    struct json_object *v;

    if (!json_object_is_type(obj, json_type_object))
        return otb_policy_err(err, errlen, "config key \"wans\": \"%s\" must be an object",
                              name);
    json_object_object_foreach(obj, key, val) {
        if (strcmp(key, "interface") && strcmp(key, "mark") && strcmp(key, "backup") &&
            strcmp(key, "table") && strcmp(key, "gateway") && strcmp(key, "upload_kbit") &&
            strcmp(key, "download_kbit") && strcmp(key, "download_auto") &&
            strcmp(key, "download_min_kbit") && strcmp(key, "download_max_kbit"))
            return otb_policy_err(err, errlen, "config key \"wans\": unknown key \"%s\" in "
                                  "WAN \"%s\"", key, name);
        (void)val;
    }
    if (!json_object_object_get_ex(obj, "interface", &v) ||
        !json_object_is_type(v, json_type_string) ||
        !otb_policy_ifname_ok(json_object_get_string(v)))
        return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\" needs an "
                              "\"interface\" name (1 to 15 of A-Z a-z 0-9 _ . - @)", name);
    snprintf(w->iface, sizeof(w->iface), "%s", json_object_get_string(v));
    if (json_object_object_get_ex(obj, "mark", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
            json_object_get_int64(v) > (int64_t)UINT32_MAX)
            return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": \"mark\" "
                                  "must be a positive integer", name);
        w->mark = (uint32_t)json_object_get_int64(v);
    }
    if (json_object_object_get_ex(obj, "backup", &v)) {
        if (!json_object_is_type(v, json_type_boolean))
            return otb_policy_err(err, errlen, "config key \"wans\": WAN \"%s\": \"backup\" "
                                  "must be true or false", name);
        w->backup = json_object_get_boolean(v);
    }
    return otb_policy_parse_wan_routing(w, name, obj, err, errlen);
}

int otb_policy_parse_wans(struct otb_policy *p, struct json_object *jv, char *err, size_t errlen)
{
    p->n_wans = 0;
    if (!json_object_is_type(jv, json_type_object))
        return otb_policy_err(err, errlen, "config key \"wans\": expected an object of "
                              "WANs");
    json_object_object_foreach(jv, name, obj) {
        struct otb_wan *w = &p->wans[p->n_wans];
        if (p->n_wans == OTB_MAX_WANS)
            return otb_policy_err(err, errlen, "config key \"wans\": more than 8 WANs");
        /* The name itself is not echoed: it may hold a newline or a quote. */
        if (!otb_policy_wan_name_ok(name))
            return otb_policy_err(err, errlen, "config key \"wans\": bad WAN name (1 to 31 "
                                  "of A-Z a-z 0-9 _ -)");
        memset(w, 0, sizeof(*w));
        snprintf(w->name, sizeof(w->name), "%s", name);
        w->mark = OTB_WAN_MARK_BASE + (uint32_t)p->n_wans;
        if (otb_policy_parse_wan(w, name, obj, err, errlen) < 0)
            return -1;
        p->n_wans++;
    }
    return 0;
}

static int otb_policy_parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;

    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6 || strlen(text) != 17)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

int otb_policy_parse_host(const char *text, struct otb_pin *pin)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned long prefix;
    char *end;

    pin->is_mac = otb_policy_parse_mac(text, pin->mac) == 0;
    if (pin->is_mac)
        return 0;
    if (alen == 0 || alen >= sizeof(addr))
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(&pin->net, 0, sizeof(pin->net));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&pin->net)->sin_addr) == 1)
        pin->net.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&pin->net)->sin6_addr) == 1)
        pin->net.ss_family = AF_INET6;
    else
        return -1;
    unsigned max = pin->net.ss_family == AF_INET ? 32 : 128;
    pin->prefix = max;
    if (slash) {
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix > max)
            return -1;
        pin->prefix = (unsigned)prefix;
    }
    return 0;
}

static int otb_policy_pin_field(struct json_object *obj, const char *key, const char **out)
{
    struct json_object *v;

    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *out = json_object_get_string(v);
    return 0;
}

static int otb_policy_parse_pin(struct otb_policy *p, struct otb_pin *pin,
                                struct json_object *obj, char *err, size_t errlen)
{
    const char *host, *wan, *mode, *fallback;

    if (!json_object_is_type(obj, json_type_object) ||
        otb_policy_pin_field(obj, "host", &host) || otb_policy_pin_field(obj, "wan", &wan) ||
        otb_policy_pin_field(obj, "mode", &mode) ||
        otb_policy_pin_field(obj, "fallback", &fallback) || !host || !wan)
        return otb_policy_err(err, errlen, "config key \"pins\": each pin is an object with "
                              "string keys \"host\", \"wan\" and optional \"mode\", \"fallback\"");
    json_object_object_foreach(obj, key, val) {
        (void)val;
        if (strcmp(key, "host") && strcmp(key, "wan") && strcmp(key, "mode") &&
            strcmp(key, "fallback"))
            return otb_policy_err(err, errlen, "config key \"pins\": unknown key \"%s\"",
                                  key);
    }
    struct otb_cidr net;
    memset(pin, 0, sizeof(*pin));
    snprintf(pin->host, sizeof(pin->host), "%s", host);
    /* The whole text is checked, and kept whole: CIDR rules (no host bits, no "/08") as for
     * "bypass", since the firewall and otb-redir both use the parsed network. */
    if (strlen(host) >= sizeof(pin->host) || otb_policy_parse_host(host, pin) < 0 ||
        (!pin->is_mac && otb_policy_parse_cidr(host, &net) < 0))
        return otb_policy_err(err, errlen, "config key \"pins\": \"%.60s\" is not an IP, "
                              "CIDR (no host bits) or MAC address", host);
    if ((pin->wan = otb_policy_wan_index(p, wan)) < 0)
        return otb_policy_err(err, errlen, "config key \"pins\": unknown WAN \"%.31s\" "
                              "(not in \"wans\")", wan);
    pin->fallback = fallback ? otb_policy_wan_index(p, fallback) : -1;
    if (fallback && pin->fallback < 0)
        return otb_policy_err(err, errlen, "config key \"pins\": unknown fallback WAN "
                              "\"%.31s\"", fallback);
    if (!mode || strcmp(mode, "tunnel-via") == 0)
        pin->mode = OTB_PIN_TUNNEL_VIA;
    else if (strcmp(mode, "direct") == 0)
        pin->mode = OTB_PIN_DIRECT;
    else
        return otb_policy_err(err, errlen, "config key \"pins\": mode \"%.20s\" is not "
                              "\"direct\" or \"tunnel-via\"", mode);
    return 0;
}

/* Same MAC, or same network (the written text may differ: "10.0.0.1" and "10.0.0.1/32"). */
static bool otb_policy_same_host(const struct otb_pin *a, const struct otb_pin *b)
{
    if (a->is_mac || b->is_mac)
        return a->is_mac && b->is_mac && memcmp(a->mac, b->mac, sizeof(a->mac)) == 0;
    if (a->net.ss_family != b->net.ss_family || a->prefix != b->prefix)
        return false;
    if (a->net.ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)&a->net)->sin_addr,
                      &((const struct sockaddr_in *)&b->net)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)&a->net)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->net)->sin6_addr, 16) == 0;
}

int otb_policy_parse_pins(struct otb_policy *p, struct json_object *jv, char *err, size_t errlen)
{
    size_t n;

    p->n_pins = 0;
    if (!json_object_is_type(jv, json_type_array))
        return otb_policy_err(err, errlen, "config key \"pins\": expected an array");
    n = json_object_array_length(jv);
    if (n > OTB_MAX_PINS)
        return otb_policy_err(err, errlen, "config key \"pins\": more than 64 pins");
    for (size_t i = 0; i < n; i++) {
        if (otb_policy_parse_pin(p, &p->pins[i], json_object_array_get_idx(jv, i), err,
                                 errlen) < 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (otb_policy_same_host(&p->pins[k], &p->pins[i]))
                return otb_policy_err(err, errlen, "config key \"pins\": duplicate pin "
                                      "\"%.60s\" (the first one would always win)",
                                      p->pins[i].host);
        p->n_pins++;
    }
    return 0;
}

static bool otb_policy_prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ b[full]) & (uint8_t)(0xFF << (8 - rest))) == 0;
}

const struct otb_pin *otb_policy_pin_for(const struct otb_policy *p, const struct sockaddr *src)
{
    for (size_t i = 0; i < p->n_pins; i++) {
        const struct otb_pin *pin = &p->pins[i];
        if (pin->is_mac || pin->net.ss_family != src->sa_family)
            continue;
        const uint8_t *a, *b;
        if (src->sa_family == AF_INET) {
            a = (const uint8_t *)&((const struct sockaddr_in *)src)->sin_addr;
            b = (const uint8_t *)&((const struct sockaddr_in *)&pin->net)->sin_addr;
        } else {
            a = (const uint8_t *)&((const struct sockaddr_in6 *)src)->sin6_addr;
            b = (const uint8_t *)&((const struct sockaddr_in6 *)&pin->net)->sin6_addr;
        }
        if (otb_policy_prefix_match(a, b, pin->prefix))
            return pin;
    }
    return NULL;
}

int otb_policy_iface_addr(const char *iface, int family, struct sockaddr_storage *ss,
                          socklen_t *len)
{
    struct ifaddrs *ifa, *it;
    int rc = -EADDRNOTAVAIL;

    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (it = ifa; it; it = it->ifa_next) {
        if (!it->ifa_addr || strcmp(it->ifa_name, iface) != 0 ||
            it->ifa_addr->sa_family != family)
            continue;
        /* A WAN that is down or without carrier keeps its address: it is
         * still no way out (and its pins' fallback applies). */
        if ((it->ifa_flags & (IFF_UP | IFF_RUNNING)) != (IFF_UP | IFF_RUNNING)) {
            rc = -ENETDOWN;
            break;
        }
        *len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        memcpy(ss, it->ifa_addr, *len);
        ((struct sockaddr_in *)ss)->sin_port = 0; /* same offset for both families */
        rc = 0;
        break;
    }
    freeifaddrs(ifa);
    return rc;
}

static bool otb_policy_host_bits_clear(const uint8_t *addr, unsigned len, unsigned prefix)
{
    for (unsigned bit = prefix; bit < len * 8; bit++)
        if (addr[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    return true;
}

int otb_policy_parse_cidr(const char *text, struct otb_cidr *out)
{
    struct otb_pin pin;

    if (otb_policy_parse_host(text, &pin) < 0 || pin.is_mac)
        return -1;
    memset(out, 0, sizeof(*out));
    out->family = pin.net.ss_family;
    out->prefix = pin.prefix;
    if (out->family == AF_INET)
        memcpy(out->addr, &((struct sockaddr_in *)&pin.net)->sin_addr, 4);
    else
        memcpy(out->addr, &((struct sockaddr_in6 *)&pin.net)->sin6_addr, 16);
    /* A prefix with a leading zero ("/08") is refused: some tools read it as octal. */
    const char *slash = strchr(text, '/');
    if (slash && slash[1] == '0' && slash[2] != '\0')
        return -1;
    return otb_policy_host_bits_clear(out->addr, out->family == AF_INET ? 4 : 16, out->prefix)
               ? 0 : -1;
}
