#include "otb_metrics.h"

#include <string.h>

#include "otb_upstream.h"

/* Groups whose keys are the values of one label of one family:
 * "refused":{"auth_fail":..} -> otb_tcp_refused_total{reason="auth_fail"}. */
static const struct {
    const char *group, *label;
} otb_metrics_key_labels[] = {
    { "refused", "reason" },
    { "failures", "reason" },
    { "bytes", "direction" },
};

/* Groups that are themselves a label value, their keys the families:
 * "up":{"bytes":..} -> otb_udp_bytes_total{direction="up"}. */
static const struct {
    const char *group, *label;
} otb_metrics_group_labels[] = {
    { "up", "direction" },
    { "down", "direction" },
};

/* Values that go down as well as up (filled when the document is written). */
static bool otb_metrics_is_gauge(const char *key)
{
    return strcmp(key, "active") == 0 || strcmp(key, "max") == 0 || strcmp(key, "voice") == 0;
}

bool otb_metrics_name(const char *scope, const struct otb_counter_desc *d,
                      struct otb_metric_name *m)
{
    if (!d->group)
        return false;
    *m = (struct otb_metric_name){ .type = "counter" };
    if (otb_metrics_is_gauge(d->key)) {
        m->type = "gauge";
        snprintf(m->family, sizeof(m->family), "otb_%s_%s_%s", scope, d->group, d->key);
        return true;
    }
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_metrics_key_labels); i++)
        if (strcmp(d->group, otb_metrics_key_labels[i].group) == 0) {
            snprintf(m->family, sizeof(m->family), "otb_%s_%s_total", scope, d->group);
            m->label = otb_metrics_key_labels[i].label;
            m->value = d->key;
            return true;
        }
    for (size_t i = 0; i < OTB_ARRAY_LEN(otb_metrics_group_labels); i++)
        if (strcmp(d->group, otb_metrics_group_labels[i].group) == 0) {
            snprintf(m->family, sizeof(m->family), "otb_%s_%s_total", scope, d->key);
            m->label = otb_metrics_group_labels[i].label;
            m->value = d->group;
            return true;
        }
    snprintf(m->family, sizeof(m->family), "otb_%s_%s_%s_total", scope, d->group, d->key);
    return true;
}

/* Label values are names from the configuration: quote what the format
 * requires. */
static void otb_metrics_label_value(const char *s, FILE *out)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void otb_metrics_head(const char *family, const char *type, const char *help, FILE *out)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, type);
}

void otb_metrics_write_counters(const char *scope, const struct otb_counter_table *t,
                                const void *c, FILE *out)
{
    /* A family's samples must be together: labelled families gather
     * counters of several groups, so each family is written at its first
     * counter, with all of its counters. */
    for (size_t i = 0; i < t->n; i++) {
        struct otb_metric_name m, o;
        bool seen = false;
        char help[160];

        if (!otb_metrics_name(scope, &t->desc[i], &m))
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen = otb_metrics_name(scope, &t->desc[j], &o) && strcmp(o.family, m.family) == 0;
        if (seen)
            continue;
        snprintf(help, sizeof(help), "%s relay: status document's %s.%s%s%s", scope,
                 t->desc[i].group, m.label ? "*" : t->desc[i].key, m.label ? ", by " : "",
                 m.label ? m.label : "");
        otb_metrics_head(m.family, m.type, help, out);
        for (size_t j = i; j < t->n; j++) {
            if (!otb_metrics_name(scope, &t->desc[j], &o) || strcmp(o.family, m.family) != 0)
                continue;
            fputs(o.family, out);
            if (o.label)
                fprintf(out, "{%s=\"%s\"}", o.label, o.value);
            fprintf(out, " %llu\n", (unsigned long long)otb_counter_get(&t->desc[j], c));
        }
    }
}

/* ------------------------------------------------------------- the box */

static void otb_metrics_write_servers(const struct otb_upstreams *u, FILE *out)
{
    static const char *const health[] = { "unknown", "up", "down" };

    otb_metrics_head("otb_server_health", "gauge",
                     "health of each server (1 for its state: unknown, up, down)", out);
    for (size_t i = 0; i < u->n; i++)
        for (size_t s = 0; s < OTB_ARRAY_LEN(health); s++) {
            fputs("otb_server_health{server=\"", out);
            otb_metrics_label_value(u->srv[i].name, out);
            fprintf(out, "\",state=\"%s\"} %d\n", health[s], (size_t)u->srv[i].health == s);
        }
    otb_metrics_head("otb_server_in_use", "gauge", "1 for the server new connections use", out);
    for (size_t i = 0; i < u->n; i++) {
        fputs("otb_server_in_use{server=\"", out);
        otb_metrics_label_value(u->srv[i].name, out);
        fprintf(out, "\"} %d\n", u->current == (int)i);
    }
    otb_metrics_head("otb_server_failures_total", "counter",
                     "failed connects and health checks per server", out);
    for (size_t i = 0; i < u->n; i++) {
        fputs("otb_server_failures_total{server=\"", out);
        otb_metrics_label_value(u->srv[i].name, out);
        fprintf(out, "\"} %llu\n", (unsigned long long)u->srv[i].failures);
    }
}

/* One sample per WAN: name{wan="..."} value. */
static void otb_metrics_wan_sample(const char *name, const struct otb_wanmon_wan *w,
                                   bool whole, double v, FILE *out)
{
    fprintf(out, "%s{wan=\"", name);
    otb_metrics_label_value(w->name, out);
    fputs("\"} ", out);
    fprintf(out, whole ? "%.0f\n" : "%.6g\n", v);
}

static void otb_metrics_write_wans(const struct otb_wanmon *m, FILE *out)
{
    static const enum otb_wan_state states[] = { OTB_WAN_UNKNOWN, OTB_WAN_UP, OTB_WAN_DOWN };
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        { "otb_wan_up", "gauge", "1 when the WAN answers its probes" },
        { "otb_wan_rtt_seconds", "gauge", "smoothed round-trip time of the WAN's probes" },
        { "otb_wan_loss_ratio", "gauge", "share of the recent probes lost on the WAN" },
        { "otb_wan_transmit_bytes_total", "counter", "bytes sent by the WAN's interface" },
        { "otb_wan_receive_bytes_total", "counter", "bytes received by the WAN's interface" },
        { "otb_wan_probes_sent_total", "counter", "health probes sent through the WAN" },
        { "otb_wan_probes_lost_total", "counter", "health probes the WAN lost" },
    };

    otb_metrics_head("otb_wan_state", "gauge",
                     "state of each WAN (1 for its state: unknown, up, down)", out);
    for (size_t i = 0; i < m->n; i++)
        for (size_t s = 0; s < OTB_ARRAY_LEN(states); s++) {
            fputs("otb_wan_state{wan=\"", out);
            otb_metrics_label_value(m->wans[i].name, out);
            fprintf(out, "\",iface=\"%s\",state=\"%s\"} %d\n", m->wans[i].iface,
                    otb_wanmon_state_name(states[s]), m->wans[i].state == states[s]);
        }
    for (size_t f = 0; f < OTB_ARRAY_LEN(fam); f++) {
        otb_metrics_head(fam[f].name, fam[f].type, fam[f].help, out);
        for (size_t i = 0; i < m->n; i++) {
            const struct otb_wanmon_wan *w = &m->wans[i];
            double v[] = { w->state == OTB_WAN_UP, w->srtt, otb_wanmon_loss_pct(w) / 100.,
                           (double)otb_wanmon_ifstat(w->iface, "tx_bytes"),
                           (double)otb_wanmon_ifstat(w->iface, "rx_bytes"),
                           (double)w->probes_sent, (double)w->probes_lost };
            otb_metrics_wan_sample(fam[f].name, w, f >= 3, v[f], out);
        }
    }
}

void otb_metrics_write(const struct otb_status *st, FILE *out)
{
    otb_metrics_head("otb_build_info", "gauge", "the program and its version", out);
    fprintf(out, "otb_build_info{program=\"%s\",version=\"%s\"} 1\n", st->program, OTB_VERSION);
    otb_metrics_head("process_start_time_seconds", "gauge",
                     "start time of the process since the Unix epoch", out);
    fprintf(out, "process_start_time_seconds %.3f\n", st->started);
    if (st->tcp)
        otb_metrics_write_counters("tcp", &otb_tcp_counter_table, &st->tcp->stats, out);
    if (st->udp) {
        struct otb_udp_counters s;
        otb_udprelay_snapshot(st->udp, &s);
        otb_metrics_write_counters("udp", &otb_udp_counter_table, &s, out);
    }
    if (st->upstreams)
        otb_metrics_write_servers(st->upstreams, out);
    if (st->upstreams && st->upstreams->wanmon.loop)
        otb_metrics_write_wans(&st->upstreams->wanmon, out);
}
