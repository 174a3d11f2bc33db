/* The box's firewall and routing plan from its config: see otb_fwplan.h.
 *
 * Numbers shared with otb-redir (common/otb_policy.h): WAN i has mark
 * OTB_WAN_MARK_BASE + i and table OTB_WAN_TABLE_BASE + i unless its config
 * says otherwise, so otb-redir's marked sockets and these rules meet in the
 * same tables. */
#include "otb_fwplan.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "otb_common.h"

/* ip rule priorities: after the kernel's local table, before main (32766).
 * WAN i uses OTB_FW_WAN_RULE_PREF + 10 * i + 0..3, pair k
 * OTB_FW_PAIR_RULE_PREF + 10 * k + 0..1. */
#define OTB_FW_TPROXY_RULE_PREF 9000
#define OTB_FW_WAN_RULE_PREF 10000
#define OTB_FW_PAIR_RULE_PREF 10100
/* Metrics inside a WAN's table: its own default route, the fallback WAN's,
 * and last an unreachable default, so nothing falls through to main. */
#define OTB_FW_WAN_METRIC 10
#define OTB_FW_FALLBACK_METRIC 20
#define OTB_FW_UNREACHABLE_METRIC 1000000

/* Destinations that never go through the server: this network, loopback,
 * link-local, CGNAT, private, multicast and reserved space. */
static const char *const otb_fwplan_builtin_bypass[] = {
    "0.0.0.0/8",      "10.0.0.0/8",  "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12",  "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::1/128",
    "fc00::/7",       "fe80::/10",   "ff00::/8",
};

/* One line naming the key into err; the value of the expression is -1. */
#define otb_fwplan_err(err, errlen, ...) (snprintf((err), (errlen), __VA_ARGS__), -1)

static const char *otb_fwplan_cidr_text(const struct otb_cidr *c, bool with_prefix, char *buf,
                                        size_t size)
{
    char addr[INET6_ADDRSTRLEN];

    inet_ntop(c->family, c->addr, addr, sizeof(addr));
    if (with_prefix)
        snprintf(buf, size, "%s/%u", addr, c->prefix);
    else
        snprintf(buf, size, "%s", addr);
    return buf;
}

/* An IP pin's network as parsed by the config: never the text again. */
static void otb_fwplan_pin_cidr(const struct otb_pin *pin, struct otb_cidr *c)
{
    memset(c, 0, sizeof(*c));
    c->family = pin->net.ss_family;
    c->prefix = pin->prefix;
    if (c->family == AF_INET)
        memcpy(c->addr, &((const struct sockaddr_in *)&pin->net)->sin_addr, 4);
    else
        memcpy(c->addr, &((const struct sockaddr_in6 *)&pin->net)->sin6_addr, 16);
}

/* --- settings and checks ------------------------------------------------------------------ */

static int otb_fwplan_pair_of(struct otb_fw_plan *pl, int wan, int fallback)
{
    for (size_t k = 0; k < pl->n_pairs; k++)
        if (pl->pairs[k].wan == wan && pl->pairs[k].fallback == fallback)
            return (int)k;
    struct otb_fw_pair *p = &pl->pairs[pl->n_pairs];
    p->wan = wan;
    p->fallback = fallback;
    p->mark = OTB_FW_PAIR_MARK_BASE + (uint32_t)pl->n_pairs;
    p->table = OTB_WAN_TABLE_BASE + 16 + (uint32_t)pl->n_pairs;
    return (int)pl->n_pairs++;
}

static int otb_fwplan_pins(struct otb_fw_plan *pl, char *err, size_t errlen)
{
    const struct otb_policy *p = &pl->cfg->policy;

    for (size_t j = 0; j < p->n_pins; j++) {
        const struct otb_pin *pin = &p->pins[j];
        /* otb-redir only sees IP addresses: it could not apply it. */
        if (pin->is_mac && pin->mode == OTB_PIN_TUNNEL_VIA)
            return otb_fwplan_err(err, errlen, "config key \"pins\": \"%s\": tunnel-via pins "
                                  "need an IP or CIDR host", pin->host);
        if (pin->fallback == pin->wan)
            return otb_fwplan_err(err, errlen, "config key \"pins\": \"%s\": the fallback is "
                                  "the pinned WAN", pin->host);
        if (pin->mode != OTB_PIN_DIRECT)
            continue;
        if (pin->fallback < 0)
            pl->pin_mark[j] = p->wans[pin->wan].mark;
        else
            pl->pin_mark[j] = pl->pairs[otb_fwplan_pair_of(pl, pin->wan, pin->fallback)].mark;
    }
    return 0;
}

/* A WAN's or a pair's mark and table against the mask, TPROXY and the others. */
struct otb_fwplan_slot {
    char what[128]; /* fits two WAN names (OTB_WAN_NAME_MAX) */
    uint32_t mark, table;
};

static int otb_fwplan_marks(const struct otb_fw_plan *pl, char *err, size_t errlen)
{
    const struct otb_policy *p = &pl->cfg->policy;
    struct otb_fwplan_slot s[OTB_MAX_WANS + OTB_FW_MAX_PAIRS];
    size_t n = 0;

    for (size_t i = 0; i < p->n_wans; i++, n++) {
        snprintf(s[n].what, sizeof(s[n].what), "config key \"wans\": WAN \"%s\"",
                 p->wans[i].name);
        s[n].mark = p->wans[i].mark;
        s[n].table = pl->wan_table[i];
    }
    for (size_t k = 0; k < pl->n_pairs; k++, n++) {
        snprintf(s[n].what, sizeof(s[n].what), "config key \"pins\": direct pins on \"%s\" "
                 "with fallback \"%s\"", p->wans[pl->pairs[k].wan].name,
                 p->wans[pl->pairs[k].fallback].name);
        s[n].mark = pl->pairs[k].mark;
        s[n].table = pl->pairs[k].table;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i].mark & ~pl->wan_mask)
            return otb_fwplan_err(err, errlen, "%s: mark 0x%x has bits outside \"wan_mask\" "
                                  "0x%x", s[i].what, s[i].mark, pl->wan_mask);
        if (!otb_policy_table_ok(s[i].table))
            return otb_fwplan_err(err, errlen, "%s: table %u is a kernel table (0, 253-255)",
                                  s[i].what, s[i].table);
        if (pl->tunnel_port && s[i].mark == pl->tproxy_mark)
            return otb_fwplan_err(err, errlen, "%s: mark 0x%x is the TPROXY mark", s[i].what,
                                  s[i].mark);
        if (pl->tunnel_port && s[i].table == pl->tproxy_table)
            return otb_fwplan_err(err, errlen, "%s: table %u is the TPROXY table", s[i].what,
                                  s[i].table);
        for (size_t k = 0; k < i; k++)
            if (s[i].mark == s[k].mark || s[i].table == s[k].table)
                return otb_fwplan_err(err, errlen, "%s: same %s as %s", s[i].what,
                                      s[i].mark == s[k].mark ? "mark" : "table", s[k].what);
    }
    return 0;
}

/* A word of the summary and of the nft and ip lines: the parser checks each
 * name, this is the last guard before root's tools and the state file. */
static bool otb_fwplan_word_ok(const char *s)
{
    for (const char *c = s; *c; c++)
        if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '\'' || *c == '\\' || *c == '#')
            return false;
    return *s != '\0';
}

static int otb_fwplan_words(const struct otb_fw_plan *pl, char *err, size_t errlen)
{
    const struct otb_policy *p = &pl->cfg->policy;

    for (size_t i = 0; i < p->fw.n_lans; i++)
        if (!otb_fwplan_word_ok(p->fw.lans[i]))
            return otb_fwplan_err(err, errlen, "config key \"firewall\": \"lan\": bad "
                                  "interface name");
    for (size_t i = 0; i < p->n_wans; i++)
        if (!otb_fwplan_word_ok(p->wans[i].name) || !otb_fwplan_word_ok(p->wans[i].iface))
            return otb_fwplan_err(err, errlen, "config key \"wans\": a WAN name or "
                                  "\"interface\" holds a space, quote or control character");
    return otb_fwplan_word_ok(pl->table) ? 0
           : otb_fwplan_err(err, errlen, "config key \"firewall\": bad \"table\"");
}

int otb_fwplan_init(struct otb_fw_plan *pl, const struct otb_config *cfg, char *err,
                    size_t errlen)
{
    const struct otb_fw_settings *fw = &cfg->policy.fw;

    memset(pl, 0, sizeof(*pl));
    pl->cfg = cfg;
    pl->table = fw->table[0] ? fw->table : "otb";
    pl->redir_port = fw->no_tcp ? 0 : cfg->local_port;
    pl->tunnel_port = fw->tunnel_port;
    pl->socks5_port = cfg->socks5_port;
    pl->tproxy_mark = fw->tproxy_mark ? fw->tproxy_mark : 0x1;
    pl->tproxy_table = fw->tproxy_table ? fw->tproxy_table : 100;
    pl->wan_mask = fw->wan_mask ? fw->wan_mask : 0xff;
    if (fw->n_lans == 0)
        return otb_fwplan_err(err, errlen, "config key \"firewall\": missing \"lan\" (the LAN "
                              "interfaces to intercept)");
    if (!fw->no_tcp && cfg->local_port == 0)
        return otb_fwplan_err(err, errlen, "missing local_port (otb-redir's port, where LAN "
                              "TCP goes; or \"firewall\": {\"tcp\": false})");
    if (pl->redir_port == 0 && pl->tunnel_port == 0)
        return otb_fwplan_err(err, errlen, "config key \"firewall\": nothing to intercept: "
                              "\"tcp\" is false and no \"tunnel_port\"");
    if (otb_fwplan_words(pl, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < cfg->policy.n_wans; i++) {
        uint32_t t = cfg->policy.wans[i].table;
        pl->wan_table[i] = t ? t : OTB_WAN_TABLE_BASE + (uint32_t)i;
    }
    if (otb_fwplan_pins(pl, err, errlen) < 0)
        return -1;
    return otb_fwplan_marks(pl, err, errlen);
}

/* --- nft ----------------------------------------------------------------------------------- */

static bool otb_fwplan_cidr_equal(const struct otb_cidr *a, const struct otb_cidr *b)
{
    return a->family == b->family && a->prefix == b->prefix &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

#define OTB_FW_BUILTIN_N OTB_ARRAY_LEN(otb_fwplan_builtin_bypass)

static bool otb_fwplan_listed(const struct otb_cidr *const *list, size_t n,
                              const struct otb_cidr *c)
{
    for (size_t k = 0; k < n; k++)
        if (otb_fwplan_cidr_equal(list[k], c))
            return true;
    return false;
}

static size_t otb_fwplan_add_unique(const struct otb_cidr **list, size_t n,
                                    const struct otb_cidr *c, int family)
{
    if (c->family != family || otb_fwplan_listed(list, n, c))
        return n;
    list[n] = c;
    return n + 1;
}

/* The bypass entries of a family, in order, without repeats: built-in, servers
 * (IP literals; names are resolved by otb-redir, not here), "bypass", files.
 * scratch holds the parsed built-in and server entries. */
static size_t otb_fwplan_bypass_list(const struct otb_fw_plan *pl, int family,
                                     struct otb_cidr *scratch, const struct otb_cidr **list)
{
    const struct otb_config *cfg = pl->cfg;
    const struct otb_fw_settings *fw = &cfg->policy.fw;
    size_t n = 0, ns = 0;

    for (size_t i = 0; !fw->no_default_bypass && i < OTB_FW_BUILTIN_N; i++)
        if (otb_policy_parse_cidr(otb_fwplan_builtin_bypass[i], &scratch[ns]) == 0)
            n = otb_fwplan_add_unique(list, n, &scratch[ns++], family);
    for (size_t i = 0; i < cfg->n_servers; i++)
        if (!strchr(cfg->servers[i].host, '/') &&
            otb_policy_parse_cidr(cfg->servers[i].host, &scratch[ns]) == 0)
            n = otb_fwplan_add_unique(list, n, &scratch[ns++], family);
    for (size_t i = 0; i < fw->n_bypass; i++)
        n = otb_fwplan_add_unique(list, n, &fw->bypass[i], family);
    for (size_t i = 0; i < pl->n_extra_bypass; i++)
        n = otb_fwplan_add_unique(list, n, &pl->extra_bypass[i], family);
    return n;
}

static void otb_fwplan_set_head(FILE *out, const char *name, const char *type, const char *flags)
{
    fprintf(out, "\tset %s {\n\t\ttype %s\n", name, type);
    if (flags)
        fprintf(out, "\t\t%s\n", flags);
}

/* Elements are left out when empty: nft rejects "elements = { }". -2 when out
 * of memory: an empty set would intercept what should be bypassed. */
static int otb_fwplan_set_bypass(const struct otb_fw_plan *pl, FILE *out, int family)
{
    struct otb_cidr scratch[OTB_FW_BUILTIN_N + OTB_MAX_SERVERS];
    const struct otb_cidr **list =
        calloc(OTB_FW_BUILTIN_N + OTB_MAX_SERVERS + OTB_MAX_BYPASS + pl->n_extra_bypass,
               sizeof(*list));
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n;

    if (list == NULL)
        return -2;
    n = otb_fwplan_bypass_list(pl, family, scratch, list);

    otb_fwplan_set_head(out, family == AF_INET ? "bypass4" : "bypass6",
                        family == AF_INET ? "ipv4_addr" : "ipv6_addr",
                        "flags interval; auto-merge");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i == 0 ? "\t\telements = { " : ",\n\t\t\t",
                otb_fwplan_cidr_text(list[i], true, buf, sizeof(buf)));
    fprintf(out, "%s\t}\n", n ? " }\n" : "");
    free(list);
    return 0;
}

static void otb_fwplan_set_ifaces(FILE *out, const char *name, const char *const *names, size_t n)
{
    otb_fwplan_set_head(out, name, "ifname", NULL);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s\"%s\"", i == 0 ? "\t\telements = { " : ", ", names[i]);
    fprintf(out, "%s\t}\n", n ? " }\n" : "");
}

static int otb_fwplan_set(const struct otb_fw_plan *pl, FILE *out, const char *name)
{
    const struct otb_policy *p = &pl->cfg->policy;
    const char *names[OTB_MAX_LANS > OTB_MAX_WANS ? OTB_MAX_LANS : OTB_MAX_WANS];

    if (strcmp(name, "lan_ifaces") == 0) {
        for (size_t i = 0; i < p->fw.n_lans; i++)
            names[i] = p->fw.lans[i];
        otb_fwplan_set_ifaces(out, name, names, p->fw.n_lans);
    } else if (strcmp(name, "wan_ifaces") == 0) {
        for (size_t i = 0; i < p->n_wans; i++)
            names[i] = p->wans[i].iface;
        otb_fwplan_set_ifaces(out, name, names, p->n_wans);
    } else if (strcmp(name, "bypass4") == 0) {
        return otb_fwplan_set_bypass(pl, out, AF_INET);
    } else if (strcmp(name, "bypass6") == 0) {
        return otb_fwplan_set_bypass(pl, out, AF_INET6);
    } else {
        return -1;
    }
    return 0;
}

/* Packets of direct-pinned hosts (marked in prerouting_pin, which runs first)
 * are not intercepted. */
static void otb_fwplan_direct_marks(const struct otb_fw_plan *pl, FILE *out)
{
    uint32_t seen[OTB_MAX_PINS];
    size_t n = 0;

    for (size_t j = 0; j < pl->cfg->policy.n_pins; j++) {
        bool dup = pl->pin_mark[j] == 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = seen[k] == pl->pin_mark[j];
        if (!dup)
            seen[n++] = pl->pin_mark[j];
    }
    for (size_t k = 0; k < n; k++)
        fprintf(out, "%s0x%x", k == 0 ? "\t\tmeta mark & $wan_mask { " : ", ", seen[k]);
    if (n)
        fprintf(out, " } accept\n");
}

/* One rule per pin, in order, each ending the chain: the first matching pin
 * wins, as in otb-redir. Tunnel-via pins only stop the search. */
static void otb_fwplan_pin_rules(const struct otb_fw_plan *pl, FILE *out)
{
    const struct otb_policy *p = &pl->cfg->policy;
    char buf[INET6_ADDRSTRLEN + 8];

    for (size_t j = 0; j < p->n_pins; j++) {
        const struct otb_pin *pin = &p->pins[j];
        struct otb_cidr c = { 0 };
        if (pin->is_mac) {
            fprintf(out, "\t\tether saddr %02x:%02x:%02x:%02x:%02x:%02x", pin->mac[0],
                    pin->mac[1], pin->mac[2], pin->mac[3], pin->mac[4], pin->mac[5]);
        } else {
            otb_fwplan_pin_cidr(pin, &c);
            fprintf(out, "\t\t%s saddr %s", c.family == AF_INET ? "ip" : "ip6",
                    otb_fwplan_cidr_text(&c, true, buf, sizeof(buf)));
        }
        if (pl->pin_mark[j])
            fprintf(out, " meta mark set meta mark & 0x%x | 0x%x", ~pl->wan_mask,
                    pl->pin_mark[j]);
        fprintf(out, " return\n");
    }
}

static bool otb_fwplan_feature(const struct otb_fw_plan *pl, const char *name, bool *on)
{
    const struct otb_policy *p = &pl->cfg->policy;

    if (strcmp(name, "tcp") == 0)
        *on = pl->redir_port != 0;
    else if (strcmp(name, "udp") == 0)
        *on = pl->tunnel_port != 0;
    else if (strcmp(name, "socks5") == 0)
        *on = pl->socks5_port != 0;
    else if (strcmp(name, "wans") == 0)
        *on = p->n_wans > 0;
    else if (strcmp(name, "pins") == 0)
        *on = p->n_pins > 0;
    else
        return false;
    return true;
}

/* Writes one template line with @TABLE@ replaced. */
static void otb_fwplan_put_line(const struct otb_fw_plan *pl, const char *line, size_t len,
                                FILE *out)
{
    static const char tok[] = "@TABLE@";

    while (len > 0) {
        const char *at = memmem(line, len, tok, sizeof(tok) - 1);
        size_t n = at ? (size_t)(at - line) : len;
        fwrite(line, 1, n, out);
        if (!at)
            break;
        fputs(pl->table, out);
        len -= n + sizeof(tok) - 1;
        line = at + sizeof(tok) - 1;
    }
    fputc('\n', out);
}

/* "#@if FEATURE" / "#@end" keep or drop lines; "#@set NAME", "#@direct_marks"
 * and "#@pins" become generated text. */
static int otb_fwplan_directive(const struct otb_fw_plan *pl, const char *d, size_t len,
                                unsigned *skip, unsigned *depth, FILE *out)
{
    char word[64];
    bool on;

    snprintf(word, sizeof(word), "%.*s", (int)(len < 63 ? len : 63), d);
    if (strncmp(word, "if ", 3) == 0) {
        if (!otb_fwplan_feature(pl, word + 3, &on))
            return -1;
        (*depth)++;
        if (*skip || !on)
            (*skip)++;
        return 0;
    }
    if (strcmp(word, "end") == 0) {
        if (*depth == 0)
            return -1;
        (*depth)--;
        if (*skip)
            (*skip)--;
        return 0;
    }
    if (*skip)
        return 0;
    if (strncmp(word, "set ", 4) == 0)
        return otb_fwplan_set(pl, out, word + 4);
    if (strcmp(word, "direct_marks") == 0)
        otb_fwplan_direct_marks(pl, out);
    else if (strcmp(word, "pins") == 0)
        otb_fwplan_pin_rules(pl, out);
    else
        return -1;
    return 0;
}

/* "add; delete; define" in one nft transaction replaces an existing table
 * atomically: re-running up never leaves a moment without interception. */
static void otb_fwplan_nft_head(const struct otb_fw_plan *pl, FILE *out)
{
    fprintf(out, "add table inet %s\ndelete table inet %s\n", pl->table, pl->table);
    fprintf(out, "define redir_port = %u\n", pl->redir_port);
    fprintf(out, "define tunnel_port = %u\n", pl->tunnel_port);
    fprintf(out, "define socks5_port = %u\n", pl->socks5_port);
    fprintf(out, "define tproxy_mark = 0x%x\n", pl->tproxy_mark);
    fprintf(out, "define wan_mask = 0x%x\n", pl->wan_mask);
}

int otb_fwplan_nft(const struct otb_fw_plan *pl, const char *tmpl, FILE *out, char *err,
                   size_t errlen)
{
    unsigned skip = 0, depth = 0, lineno = 0;

    otb_fwplan_nft_head(pl, out);
    while (*tmpl) {
        size_t len = strcspn(tmpl, "\n");
        const char *s = tmpl + strspn(tmpl, " \t");
        lineno++;
        if (strncmp(s, "#@", 2) == 0) {
            int rc = otb_fwplan_directive(pl, s + 2, len - (size_t)(s + 2 - tmpl), &skip,
                                          &depth, out);
            if (rc == -2)
                return otb_fwplan_err(err, errlen, "nft template line %u: out of memory",
                                      lineno);
            if (rc < 0)
                return otb_fwplan_err(err, errlen, "nft template line %u: bad directive",
                                      lineno);
        } else if (!skip && tmpl[0] != '#') {
            /* Comments at column 0 speak of the template itself: left out. */
            otb_fwplan_put_line(pl, tmpl, len, out);
        }
        tmpl += len + (tmpl[len] == '\n');
    }
    if (depth)
        return otb_fwplan_err(err, errlen, "nft template: #@if without #@end");
    return 0;
}

/* --- routing ------------------------------------------------------------------------------- */

static const char *otb_fwplan_any(int fam)
{
    return fam == 0 ? "0.0.0.0/0" : "::/0";
}

static void otb_fwplan_mark_rules(const struct otb_fw_plan *pl, FILE *out, int fam,
                                  uint32_t mark, uint32_t table, unsigned pref)
{
    int v = fam == 0 ? 4 : 6;

    fprintf(out, "-%d rule add fwmark 0x%x/0x%x lookup main suppress_prefixlength 0 pref %u\n",
            v, mark, pl->wan_mask, pref);
    fprintf(out, "-%d rule add fwmark 0x%x/0x%x lookup %u pref %u\n", v, mark, pl->wan_mask,
            table, pref + 1);
}

/* WAN i's default route into table: the config's gateway, else the main
 * table's; nothing while the WAN is down or has no route. */
static void otb_fwplan_wan_route(const struct otb_fw_plan *pl, const struct otb_fw_facts *f,
                                 FILE *out, size_t i, int fam, unsigned metric, uint32_t table)
{
    const struct otb_wan *w = &pl->cfg->policy.wans[i];
    const struct otb_fw_wan_facts *wf = &f->wans[i];
    const struct otb_cidr *gw = fam == 0 ? &w->gw4 : &w->gw6;
    char buf[INET6_ADDRSTRLEN + 8];

    if (!wf->up)
        return;
    if (gw->family == 0 && !wf->has_default[fam])
        return;
    if (gw->family == 0)
        gw = &wf->gw[fam];
    fprintf(out, "-%d route add unicast %s", fam == 0 ? 4 : 6, otb_fwplan_any(fam));
    if (gw->family != 0)
        fprintf(out, " via %s", otb_fwplan_cidr_text(gw, false, buf, sizeof(buf)));
    fprintf(out, " dev %s metric %u table %u\n", w->iface, metric, table);
}

static void otb_fwplan_unreachable(FILE *out, int fam, uint32_t table)
{
    fprintf(out, "-%d route add unreachable %s metric %u table %u\n", fam == 0 ? 4 : 6,
            otb_fwplan_any(fam), OTB_FW_UNREACHABLE_METRIC, table);
}

/* Marked packets and sockets bound to the WAN's addresses use its table,
 * except for destinations the main table knows more precisely than by its
 * default route (LAN, connected networks). */
static void otb_fwplan_wan_items(const struct otb_fw_plan *pl, const struct otb_fw_facts *f,
                                 FILE *out, size_t i, int fam)
{
    unsigned pref = OTB_FW_WAN_RULE_PREF + 10 * (unsigned)i;
    uint32_t table = pl->wan_table[i];
    char buf[INET6_ADDRSTRLEN + 8];

    otb_fwplan_mark_rules(pl, out, fam, pl->cfg->policy.wans[i].mark, table, pref);
    for (size_t a = 0; a < f->wans[i].n_addrs[fam]; a++) {
        const char *addr = otb_fwplan_cidr_text(&f->wans[i].addrs[fam][a], false, buf,
                                                sizeof(buf));
        fprintf(out, "-%d rule add from %s lookup main suppress_prefixlength 0 pref %u\n",
                fam == 0 ? 4 : 6, addr, pref + 2);
        fprintf(out, "-%d rule add from %s lookup %u pref %u\n", fam == 0 ? 4 : 6, addr, table,
                pref + 3);
    }
    otb_fwplan_wan_route(pl, f, out, i, fam, OTB_FW_WAN_METRIC, table);
    otb_fwplan_unreachable(out, fam, table);
}

void otb_fwplan_routes(const struct otb_fw_plan *pl, const struct otb_fw_facts *f, FILE *out)
{
    int nfam = f->ipv6 ? 2 : 1;

    /* TPROXY'd packets are delivered locally, to the TPROXY socket. */
    for (int fam = 0; pl->tunnel_port && fam < nfam; fam++) {
        fprintf(out, "-%d rule add fwmark 0x%x lookup %u pref %u\n", fam == 0 ? 4 : 6,
                pl->tproxy_mark, pl->tproxy_table, OTB_FW_TPROXY_RULE_PREF);
        fprintf(out, "-%d route add local %s dev lo table %u\n", fam == 0 ? 4 : 6,
                otb_fwplan_any(fam), pl->tproxy_table);
    }
    for (size_t i = 0; i < pl->cfg->policy.n_wans; i++)
        for (int fam = 0; fam < nfam; fam++)
            otb_fwplan_wan_items(pl, f, out, i, fam);
    for (size_t k = 0; k < pl->n_pairs; k++) {
        const struct otb_fw_pair *p = &pl->pairs[k];
        for (int fam = 0; fam < nfam; fam++) {
            otb_fwplan_mark_rules(pl, out, fam, p->mark, p->table,
                                  OTB_FW_PAIR_RULE_PREF + 10 * (unsigned)k);
            otb_fwplan_wan_route(pl, f, out, (size_t)p->wan, fam, OTB_FW_WAN_METRIC, p->table);
            otb_fwplan_wan_route(pl, f, out, (size_t)p->fallback, fam, OTB_FW_FALLBACK_METRIC,
                                 p->table);
            otb_fwplan_unreachable(out, fam, p->table);
        }
    }
}

void otb_fwplan_mptcp(const struct otb_fw_plan *pl, const struct otb_fw_facts *f, FILE *out)
{
    const struct otb_policy *p = &pl->cfg->policy;
    char buf[INET6_ADDRSTRLEN + 8];

    if (p->fw.no_mptcp_endpoints)
        return;
    for (size_t i = 0; i < p->n_wans; i++)
        for (int fam = 0; fam < (f->ipv6 ? 2 : 1); fam++)
            for (size_t a = 0; a < f->wans[i].n_addrs[fam]; a++)
                fprintf(out, "%s %s %s\n",
                        otb_fwplan_cidr_text(&f->wans[i].addrs[fam][a], false, buf, sizeof(buf)),
                        p->wans[i].iface, p->wans[i].backup ? "backup" : "nobackup");
}

/* --- summary and notes --------------------------------------------------------------------- */

static void otb_fwplan_summary_pin(const struct otb_fw_plan *pl, FILE *out, size_t j)
{
    const struct otb_policy *p = &pl->cfg->policy;
    const struct otb_pin *pin = &p->pins[j];
    char buf[INET6_ADDRSTRLEN + 8];
    struct otb_cidr c;

    otb_fwplan_pin_cidr(pin, &c);
    if (pin->is_mac)
        fprintf(out, "pin %02x:%02x:%02x:%02x:%02x:%02x", pin->mac[0], pin->mac[1],
                pin->mac[2], pin->mac[3], pin->mac[4], pin->mac[5]);
    else
        fprintf(out, "pin %s", otb_fwplan_cidr_text(&c, true, buf, sizeof(buf)));
    fprintf(out, " wan %s %s", p->wans[pin->wan].name,
            pin->mode == OTB_PIN_DIRECT ? "direct" : "tunnel-via");
    if (pin->fallback >= 0)
        fprintf(out, " fallback %s", p->wans[pin->fallback].name);
    if (pl->pin_mark[j])
        fprintf(out, " mark 0x%x", pl->pin_mark[j]);
    fputc('\n', out);
}

void otb_fwplan_summary(const struct otb_fw_plan *pl, FILE *out)
{
    const struct otb_policy *p = &pl->cfg->policy;

    fprintf(out, "table %s\nlan", pl->table);
    for (size_t i = 0; i < p->fw.n_lans; i++)
        fprintf(out, " %s", p->fw.lans[i]);
    fputc('\n', out);
    if (pl->redir_port)
        fprintf(out, "redir_port %u\n", pl->redir_port);
    if (pl->tunnel_port)
        fprintf(out, "tunnel_port %u mark 0x%x route_table %u\n", pl->tunnel_port,
                pl->tproxy_mark, pl->tproxy_table);
    for (size_t i = 0; i < p->n_wans; i++)
        fprintf(out, "wan %s %s mark 0x%x/0x%x table %u%s\n", p->wans[i].name, p->wans[i].iface,
                p->wans[i].mark, pl->wan_mask, pl->wan_table[i],
                p->wans[i].backup ? " backup" : "");
    for (size_t j = 0; j < p->n_pins; j++)
        otb_fwplan_summary_pin(pl, out, j);
    for (size_t i = 0; i < p->n_wans; i++)
        if (p->wans[i].upload_kbit)
            fprintf(out, "qos %s %u\n", p->wans[i].iface, p->wans[i].upload_kbit);
}

void otb_fwplan_notes(const struct otb_fw_plan *pl, const struct otb_fw_facts *f, FILE *out)
{
    const struct otb_policy *p = &pl->cfg->policy;

    for (size_t i = 0; i < p->n_wans; i++) {
        const struct otb_fw_wan_facts *wf = &f->wans[i];
        for (int fam = 0; fam < (f->ipv6 ? 2 : 1); fam++)
            if (wf->n_addrs[fam] && (!wf->up || (!wf->has_default[fam] &&
                                                 (fam ? p->wans[i].gw6 : p->wans[i].gw4).family == 0)))
                fprintf(out, "WAN %s: %s is down or has no IPv%d default route: table %u left "
                        "without it until the next up\n", p->wans[i].name, p->wans[i].iface,
                        fam ? 6 : 4, pl->wan_table[i]);
        /* UDP (otb-tunnel) follows the main table: a backup WAN whose default
         * route comes first would carry it while the others are up. */
        for (size_t k = 0; p->wans[i].backup && wf->has_default[0] && k < p->n_wans; k++)
            if (!p->wans[k].backup && f->wans[k].has_default[0] &&
                f->wans[k].metric[0] >= wf->metric[0])
                fprintf(out, "backup WAN %s: its default route (metric %u) does not come after "
                        "%s's (metric %u): UDP would use it\n", p->wans[i].name, wf->metric[0],
                        p->wans[k].name, f->wans[k].metric[0]);
    }
}
