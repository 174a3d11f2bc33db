#include "otb_web.h"

#include <stdlib.h>
#include <string.h>

#include "otb_metrics.h"
#include "otb_upstream.h"

extern const char otb_page_html[];
extern const size_t otb_page_html_len;

/* ------------------------------------------------------------- history */

void otb_web_record(struct otb_web *w, size_t i, const char *name, uint64_t tx, uint64_t rx,
                    ev_tstamp dt)
{
    struct otb_web_wan *s = &w->wans[i];
    bool fresh = strcmp(s->name, name) != 0;

    if (fresh) { /* a new WAN in this slot: its past is not the old one's */
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", name);
    }
    /* Counters that went back (interface re-created) give no rate. */
    s->up[w->head] = !fresh && dt > 0 && tx >= s->tx ? (float)((double)(tx - s->tx) / dt) : 0;
    s->down[w->head] = !fresh && dt > 0 && rx >= s->rx ? (float)((double)(rx - s->rx) / dt) : 0;
    s->tx = tx;
    s->rx = rx;
}

void otb_web_advance(struct otb_web *w)
{
    w->head = (w->head + 1) % OTB_WEB_HISTORY;
    if (w->n < OTB_WEB_HISTORY)
        w->n++;
}

static void otb_web_write_ring(const float *ring, size_t head, size_t n, FILE *out)
{
    for (size_t k = 0; k < n; k++)
        fprintf(out, "%s%.0f", k ? "," : "",
                ring[(head + OTB_WEB_HISTORY - n + k) % OTB_WEB_HISTORY]);
}

void otb_web_write_history(const struct otb_web *w, FILE *out)
{
    bool first = true;

    fprintf(out, "{\"interval\":%g,\"wans\":[", OTB_WEB_INTERVAL);
    for (size_t i = 0; i < OTB_MAX_WANS; i++) {
        const struct otb_web_wan *s = &w->wans[i];
        if (!s->name[0])
            continue;
        fprintf(out, "%s{\"name\":\"%s\",\"up\":[", first ? "" : ",", s->name);
        otb_web_write_ring(s->up, w->head, w->n, out);
        fputs("],\"down\":[", out);
        otb_web_write_ring(s->down, w->head, w->n, out);
        fputs("]}", out);
        first = false;
    }
    fputs("]}\n", out);
}

static void otb_web_sample_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct otb_web *w = otb_container_of(t, struct otb_web, sample);
    const struct otb_wanmon *m = &w->status->upstreams->wanmon;
    ev_tstamp now = ev_now(loop);

    for (size_t i = 0; i < m->n && i < OTB_MAX_WANS; i++)
        otb_web_record(w, i, m->wans[i].name, otb_wanmon_ifstat(m->wans[i].iface, "tx_bytes"),
                       otb_wanmon_ifstat(m->wans[i].iface, "rx_bytes"), now - w->last);
    w->last = now;
    otb_web_advance(w);
}

/* -------------------------------------------------------------- routes */

static void otb_web_handle(void *arg, const char *path, struct otb_http_reply *rep)
{
    struct otb_web *w = arg;
    FILE *f;

    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        rep->status = 200;
        rep->type = "text/html; charset=utf-8";
        rep->body = malloc(otb_page_html_len);
        rep->len = otb_page_html_len;
        if (rep->body)
            memcpy(rep->body, otb_page_html, otb_page_html_len);
        return;
    }
    f = open_memstream(&rep->body, &rep->len);
    if (!f)
        return;
    rep->status = 200;
    if (strcmp(path, "/metrics") == 0) {
        rep->type = "text/plain; version=0.0.4; charset=utf-8";
        otb_metrics_write(w->status, f);
    } else if (strcmp(path, "/status.json") == 0) {
        rep->type = "application/json";
        otb_status_write(w->status, f);
    } else if (strcmp(path, "/history.json") == 0) {
        rep->type = "application/json";
        otb_web_write_history(w, f);
    } else {
        rep->status = 0;
    }
    fclose(f);
}

int otb_web_start(struct otb_web *w, const struct otb_status *st, const char *host,
                  unsigned port, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->status = st;
    if (otb_http_start(&w->http, st->loop, st->log, host, port, otb_web_handle, w, err,
                       errlen) < 0)
        return -1;
    ev_timer_init(&w->sample, otb_web_sample_cb, OTB_WEB_INTERVAL, OTB_WEB_INTERVAL);
    w->last = ev_now(st->loop);
    if (st->upstreams && st->upstreams->wanmon.loop)
        ev_timer_start(st->loop, &w->sample);
    OTB_INFO(st->log, "metrics and status page on http://%s%s%s:%u/", strchr(host, ':') ? "[" : "",
             host, strchr(host, ':') ? "]" : "", port);
    return 0;
}

void otb_web_stop(struct otb_web *w)
{
    if (!w->status)
        return;
    ev_timer_stop(w->status->loop, &w->sample);
    otb_http_stop(&w->http);
    w->status = NULL;
}
