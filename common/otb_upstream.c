#include "otb_upstream.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "otb_daemon.h"

static int otb_upstream_resolve(struct otb_upstream *s, const struct otb_hostport *hp,
                                uint16_t default_port, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res;
    char port[8];
    int rc;

    snprintf(port, sizeof(port), "%u", hp->port ? hp->port : default_port);
    rc = getaddrinfo(hp->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "server %s: %s", hp->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&s->sa, res->ai_addr, res->ai_addrlen);
    s->len = res->ai_addrlen;
    freeaddrinfo(res);
    otb_sockaddr_format((struct sockaddr *)&s->sa, s->name, sizeof(s->name));
    return 0;
}

int otb_upstreams_init(struct otb_upstreams *u, struct ev_loop *loop,
                       const struct otb_logger *log, const struct otb_config *cfg, char *err,
                       size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->loop = loop;
    u->log = log;
    u->current = -1;
    u->timeout = cfg->connect_timeout;
    u->opts.mark = cfg->mark;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        struct otb_upstream *s = &u->srv[i];
        s->set = u;
        s->index = (int)i;
        s->probe_fd = -1;
        if (otb_upstream_resolve(s, &cfg->servers[i], cfg->server_port, err, errlen) < 0)
            return -1;
        u->n++;
    }
    return 0;
}

static void otb_upstream_set_health(struct otb_upstream *s, bool ok, const char *why)
{
    enum otb_upstream_health h = ok ? OTB_UPSTREAM_UP : OTB_UPSTREAM_DOWN;

    if (s->health == h)
        return;
    if (ok && s->health == OTB_UPSTREAM_DOWN)
        OTB_INFO(s->set->log, "server %s is answering again", s->name);
    else if (!ok)
        OTB_WARN(s->set->log, "server %s is down: %s", s->name, why);
    s->health = h;
}

static void otb_upstream_probe_cancel(struct otb_upstream *s)
{
    ev_io_stop(s->set->loop, &s->probe_io);
    ev_timer_stop(s->set->loop, &s->probe_timer);
    if (s->probe_fd >= 0)
        close(s->probe_fd);
    s->probe_fd = -1;
}

static void otb_upstream_probe_end(struct otb_upstream *s, bool ok, const char *why)
{
    otb_upstream_probe_cancel(s);
    otb_upstream_set_health(s, ok, why);
}

static void otb_upstream_probe_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_upstream *s = otb_container_of(w, struct otb_upstream, probe_io);
    int err = otb_sock_error(s->probe_fd);

    otb_upstream_probe_end(s, err == 0, err ? strerror(-err) : "connected");
}

static void otb_upstream_probe_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_upstream *s = otb_container_of(w, struct otb_upstream, probe_timer);

    otb_upstream_probe_end(s, false, "health check timed out");
}

/* A TCP connect to the server's own port: answers prove the host and the
 * program are alive; the probe sends nothing and closes. */
static void otb_upstream_probe(struct otb_upstream *s)
{
    struct otb_upstreams *u = s->set;
    int fd, rc;

    if (s->probe_fd >= 0)
        return;
    fd = otb_sock_outbound(s->sa.ss_family, &u->opts, NULL, 0, NULL);
    if (fd < 0)
        return;
    rc = otb_sock_connect(fd, (struct sockaddr *)&s->sa, s->len);
    if (rc < 0) {
        close(fd);
        otb_upstream_set_health(s, false, strerror(-rc));
        return;
    }
    s->probe_fd = fd;
    ev_io_init(&s->probe_io, otb_upstream_probe_io_cb, fd, EV_WRITE);
    ev_timer_init(&s->probe_timer, otb_upstream_probe_timeout_cb, u->timeout, 0.);
    ev_io_start(u->loop, &s->probe_io);
    ev_timer_start(u->loop, &s->probe_timer);
}

static void otb_upstreams_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_upstreams *u = otb_container_of(w, struct otb_upstreams, tick);

    for (size_t i = 0; i < u->n; i++)
        otb_upstream_probe(&u->srv[i]);
}

void otb_upstreams_start(struct otb_upstreams *u, ev_tstamp interval)
{
    u->interval = interval;
    ev_timer_init(&u->tick, otb_upstreams_tick_cb, 0., interval);
    ev_timer_start(u->loop, &u->tick);
}

void otb_upstreams_watch_wans(struct otb_upstreams *u, const struct otb_config *cfg,
                              const struct otb_master *master, bool endpoints,
                              otb_wanmon_change_fn on_change, void *arg)
{
    struct otb_wanmon_settings set = { .probe_interval = cfg->wan_probe_ms / 1000.,
                                       .down_after = cfg->wan_down_ms / 1000.,
                                       .hook = cfg->wan_hook, .manage_endpoints = endpoints,
                                       .autorate = cfg->prog == OTB_PROG_REDIR };
    int first = u->current >= 0 ? u->current : 0;

    if (!cfg->wan_health || u->n == 0)
        return;
    u->wanmon.on_change = on_change;
    u->wanmon.arg = arg;
    otb_wanmon_start(&u->wanmon, u->loop, u->log, master, &cfg->policy, &set,
                     (const struct sockaddr *)&u->srv[first].sa, u->srv[first].len);
}

void otb_upstreams_stop(struct otb_upstreams *u)
{
    otb_wanmon_stop(&u->wanmon);
    ev_timer_stop(u->loop, &u->tick);
    for (size_t i = 0; i < u->n; i++)
        otb_upstream_probe_cancel(&u->srv[i]);
}

int otb_upstreams_pick(struct otb_upstreams *u, uint32_t exclude, struct sockaddr_storage *sa,
                       socklen_t *len)
{
    int pick = -1;

    for (size_t i = 0; i < u->n && pick < 0; i++)
        if (!(exclude & (1u << i)) && u->srv[i].health != OTB_UPSTREAM_DOWN)
            pick = (int)i;
    /* All known to be down: try anyway in order, the state may be stale. */
    for (size_t i = 0; i < u->n && pick < 0; i++)
        if (!(exclude & (1u << i)))
            pick = (int)i;
    if (pick < 0)
        return -1;
    if (pick != u->current && u->n > 1)
        OTB_INFO(u->log, "new connections use server %s", u->srv[pick].name);
    if (pick != u->current) /* the WANs are judged by the server that matters */
        otb_wanmon_set_target(&u->wanmon, (const struct sockaddr *)&u->srv[pick].sa,
                              u->srv[pick].len);
    u->current = pick;
    memcpy(sa, &u->srv[pick].sa, u->srv[pick].len);
    *len = u->srv[pick].len;
    return pick;
}

void otb_upstreams_report(struct otb_upstreams *u, int index, bool ok)
{
    struct otb_upstream *s = &u->srv[index];

    if (!ok)
        s->failures++;
    otb_upstream_set_health(s, ok, "connection failed");
}

static int otb_upstreams_pick_cb(void *arg, uint32_t exclude, struct sockaddr_storage *sa,
                                 socklen_t *len)
{
    return otb_upstreams_pick(arg, exclude, sa, len);
}

static void otb_upstreams_report_cb(void *arg, int index, bool ok)
{
    otb_upstreams_report(arg, index, ok);
}

/* Healthy WANs first; each attempt on a WAN may take a few of its RTTs when
 * another WAN is left to try (happy eyeballs across WANs). */
static int otb_upstreams_source_cb(void *arg, int family, uint32_t tried,
                                   struct sockaddr_storage *src, socklen_t *len,
                                   ev_tstamp *delay)
{
    struct otb_upstreams *u = arg;
    int wan;

    if (!u->wanmon.loop)
        return -1;
    wan = otb_wanmon_pick(&u->wanmon, family, tried);
    if (wan < 0 || !otb_wanmon_source(&u->wanmon, wan, family, src, len))
        return -1;
    if (delay)
        *delay = otb_wanmon_pick(&u->wanmon, family, tried | 1u << wan) >= 0
                     ? otb_wanmon_attempt_delay(&u->wanmon, wan)
                     : 0;
    return wan;
}

static void otb_upstreams_suspect_cb(void *arg, int wan)
{
    struct otb_upstreams *u = arg;

    if (u->wanmon.loop)
        otb_wanmon_suspect(&u->wanmon, wan);
}

static void otb_upstreams_traffic_cb(void *arg, int wan, bool heard)
{
    struct otb_upstreams *u = arg;

    if (u->wanmon.loop)
        otb_wanmon_traffic(&u->wanmon, wan, heard);
}

static bool otb_upstreams_down_cb(void *arg, int wan)
{
    struct otb_upstreams *u = arg;

    return u->wanmon.loop && otb_wanmon_is_down(&u->wanmon, wan);
}

void otb_upstreams_bind(struct otb_upstreams *u, struct otb_upstream_ops *ops)
{
    ops->pick = otb_upstreams_pick_cb;
    ops->report = otb_upstreams_report_cb;
    ops->source = otb_upstreams_source_cb;
    ops->suspect = otb_upstreams_suspect_cb;
    ops->traffic = otb_upstreams_traffic_cb;
    ops->down = otb_upstreams_down_cb;
    ops->arg = u;
}

int otb_upstreams_client_relay(struct otb_upstreams *u, struct otb_relay *relay,
                               struct ev_loop *loop, const struct otb_logger *log,
                               const struct otb_config *cfg, const struct otb_master *master,
                               size_t max_conns)
{
    char err[512];

    if (otb_relay_init(relay, loop, log, master, OTB_ROLE_CLIENT) < 0) {
        OTB_ERR(log, "out of memory");
        return -1;
    }
    if (otb_upstreams_init(u, loop, log, cfg, err, sizeof(err)) < 0) {
        OTB_ERR(log, "%s", err);
        return -1;
    }
    otb_upstreams_bind(u, &relay->upstream);
    relay->idle_timeout = cfg->timeout;
    relay->connect_timeout = cfg->connect_timeout;
    relay->max_conns = max_conns;
    relay->out_opts = (struct otb_sock_opts){ .mptcp = cfg->mptcp,
                                              .fast_open = cfg->fast_open,
                                              .no_delay = cfg->no_delay,
                                              .mark = cfg->mark,
                                              .congestion = otb_daemon_congestion(
                                                  cfg->congestion, log) };
    snprintf(relay->out_opts.iface, sizeof(relay->out_opts.iface), "%s", cfg->iface);
    relay->qos = &cfg->qos; /* SIP over TCP is interactive on the wire */
    u->opts = relay->out_opts;
    return 0;
}
