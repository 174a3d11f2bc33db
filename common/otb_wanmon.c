#include "otb_wanmon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mptcp.h>

#include "otb_addr.h"
#include "otb_common.h"
#include "otb_netlink.h"
#include "otb_probe.h"
#include "otb_qos.h"
#include "otb_sock.h"

extern char **environ;

/* WAN list refresh: hotplug and DHCP are seen within this. */
#define OTB_WANMON_SCAN_INTERVAL 2.
/* Probe intervals when a probe was just lost (confirm fast) and while down
 * (see the return fast, but not flood a dead line). */
#define OTB_WANMON_SUSPECT_INTERVAL 0.2
#define OTB_WANMON_DOWN_INTERVAL 0.5
#define OTB_WANMON_RTO_MIN 0.25
#define OTB_WANMON_RTO_MAX 1.0
/* Probes lost in a row before silence can mean down; answers in a row to be up again. */
#define OTB_WANMON_LOST_FOR_DOWN 3
#define OTB_WANMON_ANSWERS_FOR_UP 3
/* A WAN that received more packets than this since its first lost probe is
 * carrying traffic (a dead line receives nothing, at most ARP): its probes
 * are more likely lost in a full queue, so it needs a longer silence. Counted
 * from the first loss, not the last answer: what arrived just before a line
 * died says nothing. */
#define OTB_WANMON_BUSY_PACKETS 50
#define OTB_WANMON_BUSY_FACTOR 4
/* A reply this many sequence numbers late still proves the WAN alive. */
#define OTB_WANMON_LATE_WINDOW 64

static const char *const otb_wanmon_states[] = { "unknown", "up", "down" };

const char *otb_wanmon_state_name(enum otb_wan_state s)
{
    return otb_wanmon_states[s];
}

static int otb_wanmon_index(const struct otb_wanmon_wan *w)
{
    return (int)(w - w->mon->wans);
}

/* --------------------------------------------------------- transitions */

static void otb_wanmon_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    struct otb_wanmon *m = otb_container_of(w, struct otb_wanmon, child);

    if (!WIFEXITED(w->rstatus) || WEXITSTATUS(w->rstatus) != 0)
        OTB_WARN(m->log, "wan_hook %s (pid %d) failed: status %d", m->hook, w->rpid,
                 w->rstatus);
}

/* The WAN's source address as text ("" when it has none). */
static void otb_wanmon_addr_text(const struct otb_wanmon_wan *w, char *out, size_t len)
{
    out[0] = '\0';
    if (w->addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&w->addr)->sin_addr, out, len);
    else if (w->addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&w->addr)->sin6_addr, out,
                  len);
}

/* The hook gets WAN name, interface and new state as arguments, and the
 * same plus the WAN's source address in OTB_WAN_* variables. */
static void otb_wanmon_run_hook(struct otb_wanmon *m, const struct otb_wanmon_wan *w)
{
    const char *state = otb_wanmon_state_name(w->state);
    char *argv[] = { m->hook, (char *)w->name, (char *)w->iface, (char *)state, NULL };
    char e_name[64], e_iface[32], e_state[32], e_addr[80];
    char addr[INET6_ADDRSTRLEN];
    size_t n = 0;
    char **envp;
    pid_t pid;
    int rc;

    if (!m->hook[0])
        return;
    otb_wanmon_addr_text(w, addr, sizeof(addr));
    snprintf(e_name, sizeof(e_name), "OTB_WAN=%s", w->name);
    snprintf(e_iface, sizeof(e_iface), "OTB_WAN_IFACE=%s", w->iface);
    snprintf(e_state, sizeof(e_state), "OTB_WAN_STATE=%s", state);
    snprintf(e_addr, sizeof(e_addr), "OTB_WAN_ADDRESS=%s", addr);
    while (environ[n])
        n++;
    envp = calloc(n + 5, sizeof(*envp));
    if (!envp)
        return;
    memcpy(envp, environ, n * sizeof(*envp));
    envp[n] = e_name;
    envp[n + 1] = e_iface;
    envp[n + 2] = e_state;
    envp[n + 3] = e_addr;
    rc = posix_spawn(&pid, m->hook, NULL, NULL, argv, envp);
    free(envp);
    if (rc != 0)
        OTB_WARN(m->log, "wan_hook %s: %s", m->hook, strerror(rc));
}

static bool otb_wanmon_endpoint_is(const struct otb_wanmon_wan *w, const struct otb_nl_endpoint *e)
{
    const struct sockaddr *a = (const struct sockaddr *)&w->addr;

    if (!w->addr_len || e->addr.ss_family != a->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)&e->addr)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)&e->addr)->sin6_addr, 16) == 0;
}

/* Down: the WAN's endpoints become backup, so existing connections send on
 * the other subflows at once (MP_PRIO) instead of waiting for retransmission
 * timeouts; up: the ones we flagged are restored. */
static void otb_wanmon_endpoints(struct otb_wanmon_wan *w, bool down)
{
    struct otb_wanmon *m = w->mon;
    struct otb_nl_endpoint eps[32];
    int n;

    if (!m->manage_endpoints)
        return;
    if (!down) {
        for (unsigned i = 0; i < w->n_backup_ids; i++)
            if (otb_nl_mptcp_set_backup(w->backup_ids[i], false) < 0)
                OTB_WARN(m->log, "%s: MPTCP endpoint %u not restored", w->name,
                         w->backup_ids[i]);
        w->n_backup_ids = 0;
        return;
    }
    n = otb_nl_mptcp_endpoints(eps, OTB_ARRAY_LEN(eps));
    for (int i = 0; i < n && w->n_backup_ids < OTB_WANMON_ENDPOINTS; i++) {
        if (!otb_wanmon_endpoint_is(w, &eps[i]) || (eps[i].flags & MPTCP_PM_ADDR_FLAG_BACKUP))
            continue;
        if (otb_nl_mptcp_set_backup(eps[i].id, true) == 0)
            w->backup_ids[w->n_backup_ids++] = eps[i].id;
        else
            OTB_WARN(m->log, "%s: MPTCP endpoint %u not flagged backup", w->name, eps[i].id);
    }
}

static void otb_wanmon_transition(struct otb_wanmon_wan *w, enum otb_wan_state to,
                                  const char *why)
{
    struct otb_wanmon *m = w->mon;
    unsigned moved;

    if (w->state == to)
        return;
    w->state = to;
    w->last_change = ev_now(m->loop);
    w->answers_in_row = 0;
    if (to != OTB_WAN_UNKNOWN)
        otb_wanmon_endpoints(w, to == OTB_WAN_DOWN);
    moved = m->on_change ? m->on_change(m->arg, otb_wanmon_index(w), to) : 0;
    if (moved)
        OTB_INFO(m->log, "%s %s: %s, moved %u UDP associations", w->name,
                 otb_wanmon_state_name(to), why, moved);
    else
        OTB_INFO(m->log, "%s %s: %s", w->name, otb_wanmon_state_name(to), why);
    otb_wanmon_run_hook(m, w);
}

/* -------------------------------------------------------------- probes */

/* An RTT-based delay kept within the probe timeout's bounds. */
static ev_tstamp otb_wanmon_bounded(ev_tstamp d)
{
    return d < OTB_WANMON_RTO_MIN ? OTB_WANMON_RTO_MIN : d > OTB_WANMON_RTO_MAX ? OTB_WANMON_RTO_MAX : d;
}

/* WAN i, or NULL when there is no such WAN. */
static struct otb_wanmon_wan *otb_wanmon_at(const struct otb_wanmon *m, int i)
{
    return i >= 0 && (size_t)i < m->n ? (struct otb_wanmon_wan *)&m->wans[i] : NULL;
}

static ev_tstamp otb_wanmon_rto(const struct otb_wanmon_wan *w)
{
    return otb_wanmon_bounded(w->srtt > 0 ? w->srtt + 4 * w->rttvar : OTB_WANMON_RTO_MAX);
}

static void otb_wanmon_note(struct otb_wanmon_wan *w, bool lost)
{
    w->recent = (w->recent << 1) | (lost ? 1u : 0u);
    if (w->recent_n < 32)
        w->recent_n++;
}

unsigned otb_wanmon_loss_pct(const struct otb_wanmon_wan *w)
{
    uint32_t mask = w->recent_n >= 32 ? 0xffffffffu : (1u << w->recent_n) - 1;

    return w->recent_n ? (unsigned)__builtin_popcount(w->recent & mask) * 100u / w->recent_n
                       : 0;
}

/* An RTT sample of a WAN with "download_auto": the estimate's next step. The
 * log says changes of more than 10% since the last said. */
static void otb_wanmon_autorate(struct otb_wanmon_wan *w, ev_tstamp rtt)
{
    struct otb_autorate *a = &w->autorate;
    uint32_t said = w->auto_logged_kbit;

    if (!w->download_auto ||
        !otb_autorate_step(a, ev_now(w->mon->loop), otb_wanmon_ifstat(w->iface, "rx_bytes"), rtt))
        return;
    w->download_kbit = a->rate_kbit;
    if ((uint64_t)a->rate_kbit * 10 > (uint64_t)said * 11 ||
        (uint64_t)a->rate_kbit * 10 < (uint64_t)said * 9) {
        OTB_INFO(w->mon->log, "WAN %s: download rate estimate %u kbit/s (was %u; received %u "
                 "kbit/s, rtt %+.0f ms over its %.0f ms baseline)", w->name, a->rate_kbit, said,
                 a->rx_kbit, a->rise * 1000, a->baseline * 1000);
        w->auto_logged_kbit = a->rate_kbit;
    }
}

/* The download rate from the config: fixed, or where the estimate starts
 * (again only when the config changed: a rescan keeps the estimate). */
static void otb_wanmon_config_rate(struct otb_wanmon_wan *w, const struct otb_wan *c)
{
    if (!c->download_auto || !w->mon->autorate) {
        w->download_auto = false;
        w->download_kbit = c->download_auto ? 0 : c->download_kbit;
        return;
    }
    if (!w->download_auto || w->auto_start_kbit != c->download_kbit ||
        w->autorate.min_kbit != c->download_min_kbit ||
        w->autorate.max_kbit != c->download_max_kbit) {
        otb_autorate_init(&w->autorate, c->download_kbit, c->download_min_kbit,
                          c->download_max_kbit);
        w->download_auto = true;
        w->auto_start_kbit = c->download_kbit;
        w->auto_logged_kbit = w->autorate.rate_kbit;
    }
    w->download_kbit = w->autorate.rate_kbit;
}

static void otb_wanmon_answered(struct otb_wanmon_wan *w, ev_tstamp rtt)
{
    char why[64];

    w->answers++;
    w->mon->ever_answered = true;
    w->last_answer = ev_now(w->mon->loop);
    w->lost_in_row = 0;
    w->answers_in_row++;
    otb_wanmon_note(w, false);
    if (rtt > 0) { /* RFC 6298's estimator */
        if (w->srtt == 0) {
            w->srtt = rtt;
            w->rttvar = rtt / 2;
        } else {
            w->rttvar = 0.75 * w->rttvar + 0.25 * (w->srtt > rtt ? w->srtt - rtt : rtt - w->srtt);
            w->srtt = 0.875 * w->srtt + 0.125 * rtt;
        }
        otb_wanmon_autorate(w, rtt);
    }
    if (w->state == OTB_WAN_UP ||
        (w->state == OTB_WAN_DOWN && w->answers_in_row < OTB_WANMON_ANSWERS_FOR_UP))
        return;
    snprintf(why, sizeof(why), "rtt %.0f ms", w->srtt * 1000);
    otb_wanmon_transition(w, OTB_WAN_UP, why);
}

static void otb_wanmon_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct otb_wanmon_wan *w = otb_container_of(io, struct otb_wanmon_wan, io);
    uint8_t buf[64];
    uint32_t seq;

    for (int k = 0; k < 16; k++) {
        ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
        ev_tstamp rtt = 0;
        bool found = false;

        if (n < 0)
            return;
        if (!otb_probe_check_reply(w->mon->master, buf, (size_t)n, &seq))
            continue; /* not from our server: ignored */
        for (int i = 0; i < OTB_WANMON_INFLIGHT; i++)
            if (w->inflight[i].sent > 0 && w->inflight[i].seq == seq) {
                rtt = ev_now(loop) - w->inflight[i].sent;
                w->inflight[i].sent = 0;
                found = true;
            }
        /* Late (already counted lost): alive all the same, no RTT sample. */
        if (found || w->next_seq - seq <= OTB_WANMON_LATE_WINDOW)
            otb_wanmon_answered(w, rtt);
    }
}

static void otb_wanmon_send(struct otb_wanmon_wan *w)
{
    struct otb_wanmon *m = w->mon;
    uint8_t probe[OTB_PROBE_RATE_LEN];
    size_t len = OTB_PROBE_LEN;
    int slot = -1;

    for (int i = 0; i < OTB_WANMON_INFLIGHT && slot < 0; i++)
        if (w->inflight[i].sent == 0)
            slot = i;
    w->last_sent = ev_now(m->loop);
    if (slot < 0 || w->fd < 0 || !m->target_len)
        return;
    /* The rate only when configured: a server that predates rate probes ignores them. */
    if (w->download_kbit) {
        otb_probe_request_rate(m->master, w->next_seq, w->download_kbit, probe);
        len = OTB_PROBE_RATE_LEN;
    } else {
        otb_probe_request(m->master, w->next_seq, probe);
    }
    if (sendto(w->fd, probe, len, MSG_DONTWAIT, (const struct sockaddr *)&m->target,
               m->target_len) < 0)
        return; /* unreachable at once (no route): counted as lost when due */
    w->inflight[slot].seq = w->next_seq++;
    w->inflight[slot].sent = w->last_sent;
    w->probes_sent++;
}

/* How long data may go unanswered before the WAN is suspect: a few RTTs. */
static ev_tstamp otb_wanmon_quiet_limit(const struct otb_wanmon_wan *w)
{
    ev_tstamp q = 2 * w->srtt + 0.05;

    return q < 0.2 ? 0.2 : q;
}

/* Only flows that were being answered until just before count: a one-way
 * stream (or a destination that never replies) says nothing of the WAN. */
static bool otb_wanmon_data_unanswered(const struct otb_wanmon_wan *w, ev_tstamp now)
{
    return w->unanswered_since > 0 && w->last_heard > 0 &&
           w->unanswered_since - w->last_heard < 5. &&
           now - w->unanswered_since >= otb_wanmon_quiet_limit(w);
}

static ev_tstamp otb_wanmon_interval(const struct otb_wanmon_wan *w)
{
    if (w->state == OTB_WAN_DOWN)
        return OTB_WANMON_DOWN_INTERVAL;
    if (w->state == OTB_WAN_UNKNOWN || w->lost_in_row > 0 ||
        otb_wanmon_data_unanswered(w, ev_now(w->mon->loop)))
        return OTB_WANMON_SUSPECT_INTERVAL;
    /* The rate estimate needs several RTT samples a second (2.3 kbit/s). */
    if (w->download_auto && w->mon->probe_interval > OTB_WANMON_SUSPECT_INTERVAL)
        return OTB_WANMON_SUSPECT_INTERVAL;
    return w->mon->probe_interval;
}

/* Expires probes, decides down, sends the next probe, sleeps until the next
 * of those is due. */
static void otb_wanmon_tick(struct otb_wanmon_wan *w)
{
    struct otb_wanmon *m = w->mon;
    ev_tstamp now = ev_now(m->loop), rto = otb_wanmon_rto(w), next;
    ev_tstamp silent_since = w->last_answer > w->last_change ? w->last_answer : w->last_change;

    if (w->last_heard > silent_since)
        silent_since = w->last_heard;

    for (int i = 0; i < OTB_WANMON_INFLIGHT; i++)
        if (w->inflight[i].sent > 0 && now - w->inflight[i].sent >= rto) {
            w->inflight[i].sent = 0;
            w->probes_lost++;
            if (w->lost_in_row++ == 0)
                w->rx_at_loss = otb_wanmon_ifstat(w->iface, "rx_packets");
            w->answers_in_row = 0;
            otb_wanmon_note(w, true);
        }
    if (!m->ever_answered && !m->silence_logged && now - m->started >= 10) {
        char to[OTB_ADDR_FMT_LEN];
        otb_sockaddr_format((const struct sockaddr *)&m->target, to, sizeof(to));
        OTB_WARN(m->log, "no answer to WAN health probes from %s through any WAN (not an "
                 "otb-server, or UDP filtered): WANs are used as the routing says",
                 to);
        m->silence_logged = true;
    }
    if (m->ever_answered && w->state != OTB_WAN_DOWN &&
        w->lost_in_row >= OTB_WANMON_LOST_FOR_DOWN && now - silent_since >= m->down_after &&
        (now - silent_since >= OTB_WANMON_BUSY_FACTOR * m->down_after ||
         otb_wanmon_ifstat(w->iface, "rx_packets") - w->rx_at_loss <
             OTB_WANMON_BUSY_PACKETS)) {
        char why[80];
        snprintf(why, sizeof(why), "%u probes unanswered for %.1f s", w->lost_in_row,
                 now - silent_since);
        otb_wanmon_transition(w, OTB_WAN_DOWN, why);
    }
    if (now - w->last_sent >= otb_wanmon_interval(w) - 0.001)
        otb_wanmon_send(w);
    next = w->last_sent + otb_wanmon_interval(w);
    for (int i = 0; i < OTB_WANMON_INFLIGHT; i++)
        if (w->inflight[i].sent > 0 && w->inflight[i].sent + rto < next)
            next = w->inflight[i].sent + rto;
    next -= now;
    ev_timer_stop(m->loop, &w->timer);
    ev_timer_set(&w->timer, next < 0.01 ? 0.01 : next, 0.);
    ev_timer_start(m->loop, &w->timer);
}

static void otb_wanmon_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    otb_wanmon_tick(otb_container_of(t, struct otb_wanmon_wan, timer));
}

/* ---------------------------------------------------------------- scan */

static void otb_wanmon_close(struct otb_wanmon_wan *w)
{
    if (w->fd < 0)
        return;
    ev_io_stop(w->mon->loop, &w->io);
    close(w->fd);
    w->fd = -1;
    memset(w->inflight, 0, sizeof(w->inflight));
}

/* (Re)opens the probe socket when the WAN's address changed. */
static void otb_wanmon_refresh_addr(struct otb_wanmon_wan *w)
{
    struct otb_wanmon *m = w->mon;
    struct otb_sock_opts opts = { .mark = w->mark };
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int family = m->target.ss_family;

    if (!w->present || otb_policy_iface_addr(w->iface, family, &ss, &len) < 0)
        len = 0;
    if (len == w->addr_len && (len == 0 || memcmp(&ss, &w->addr, len) == 0) &&
        (len == 0 || w->fd >= 0))
        return;
    otb_wanmon_close(w);
    w->addr_len = len;
    if (!len) {
        memset(&w->addr, 0, sizeof(w->addr));
        otb_wanmon_transition(w, OTB_WAN_DOWN, w->present ? "no address" : "gone");
        return;
    }
    memcpy(&w->addr, &ss, len);
    memcpy(opts.iface, w->iface, sizeof(opts.iface)); /* both IFNAMSIZ */
    w->fd = otb_sock_dgram(family, &opts, (const struct sockaddr *)&w->addr, w->addr_len);
    if (w->fd < 0) {
        OTB_WARN(m->log, "%s: probe socket: %s", w->name, strerror(-w->fd));
        w->fd = -1;
        return;
    }
    /* Probes wait behind voice, never behind bulk (otb-qos classes). */
    otb_qos_mark_socket(w->fd, family, OTB_QOS_INTERACTIVE);
    ev_io_init(&w->io, otb_wanmon_read_cb, w->fd, EV_READ);
    ev_io_start(m->loop, &w->io);
    otb_wanmon_tick(w);
}

static struct otb_wanmon_wan *otb_wanmon_slot(struct otb_wanmon *m, const char *name,
                                              const char *iface, uint32_t mark)
{
    struct otb_wanmon_wan *w;
    int i = otb_wanmon_find(m, name);

    if (i >= 0)
        return &m->wans[i];
    if (m->n == OTB_MAX_WANS)
        return NULL;
    w = &m->wans[m->n++];
    memset(w, 0, sizeof(*w));
    w->mon = m;
    w->fd = -1;
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->iface, sizeof(w->iface), "%s", iface);
    w->mark = mark;
    w->next_seq = randombytes_random();
    w->last_change = ev_now(m->loop);
    ev_timer_init(&w->timer, otb_wanmon_timer_cb, 0., 0.);
    OTB_INFO(m->log, "WAN %s (%s): health probes to the server", name, iface);
    return w;
}

static void otb_wanmon_see(struct otb_wanmon *m, const char *ifname, bool *seen)
{
    struct otb_wanmon_wan *w;

    if (!ifname[0] || strcmp(ifname, "lo") == 0)
        return;
    w = otb_wanmon_slot(m, ifname, ifname, 0);
    if (w)
        seen[otb_wanmon_index(w)] = true;
}

/* Interfaces with an MPTCP endpoint are WANs too (after the default routes'
 * ones: a WAN used only for extra subflows has no default route). */
static void otb_wanmon_scan_endpoints(struct otb_wanmon *m, bool *seen)
{
    struct otb_nl_endpoint eps[32];
    char ifname[IF_NAMESIZE];
    int n = otb_nl_mptcp_endpoints(eps, OTB_ARRAY_LEN(eps));

    for (int i = 0; i < n; i++)
        if (eps[i].ifindex > 0 && eps[i].addr.ss_family == m->target.ss_family &&
            if_indextoname((unsigned)eps[i].ifindex, ifname))
            otb_wanmon_see(m, ifname, seen);
}

/* The WANs: configured ones, or one per interface of a main-table default
 * route (in metric order: the routing's own preference) or MPTCP endpoint. */
static void otb_wanmon_scan(struct otb_wanmon *m)
{
    struct otb_nl_route routes[2 * OTB_MAX_WANS];
    bool seen[OTB_MAX_WANS] = { false };
    int n;

    if (m->policy && m->policy->n_wans) {
        for (size_t i = 0; i < m->policy->n_wans; i++) {
            const struct otb_wan *c = &m->policy->wans[i];
            struct otb_wanmon_wan *w = otb_wanmon_slot(m, c->name, c->iface, c->mark);
            if (w) {
                seen[otb_wanmon_index(w)] = true;
                otb_wanmon_config_rate(w, c);
            }
        }
    } else if ((n = otb_nl_default_routes(m->target.ss_family, routes,
                                          OTB_ARRAY_LEN(routes))) >= 0) {
        for (int i = 0; i < n; i++)
            otb_wanmon_see(m, routes[i].ifname, seen);
        otb_wanmon_scan_endpoints(m, seen);
    } else {
        return; /* netlink failed: keep what we know */
    }
    for (size_t i = 0; i < m->n; i++) {
        m->wans[i].present = seen[i];
        otb_wanmon_refresh_addr(&m->wans[i]);
    }
}

static void otb_wanmon_scan_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    otb_wanmon_scan(otb_container_of(t, struct otb_wanmon, scan));
}

/* ------------------------------------------------------------- control */

void otb_wanmon_start(struct otb_wanmon *m, struct ev_loop *loop, const struct otb_logger *log,
                      const struct otb_master *master, const struct otb_policy *policy,
                      const struct otb_wanmon_settings *s, const struct sockaddr *target,
                      socklen_t target_len)
{
    m->loop = loop;
    m->log = log;
    m->master = master;
    m->policy = policy;
    m->n = 0;
    m->probe_interval = s->probe_interval;
    m->autorate = s->autorate;
    m->down_after = s->down_after;
    m->manage_endpoints = s->manage_endpoints;
    m->ever_answered = m->silence_logged = false;
    m->started = ev_now(loop);
    snprintf(m->hook, sizeof(m->hook), "%s", s->hook ? s->hook : "");
    memcpy(&m->target, target, target_len);
    m->target_len = target_len;
    ev_child_init(&m->child, otb_wanmon_child_cb, 0, 0);
    if (m->hook[0])
        ev_child_start(loop, &m->child);
    ev_timer_init(&m->scan, otb_wanmon_scan_cb, OTB_WANMON_SCAN_INTERVAL,
                  OTB_WANMON_SCAN_INTERVAL);
    ev_timer_start(loop, &m->scan);
    otb_wanmon_scan(m);
}

void otb_wanmon_set_target(struct otb_wanmon *m, const struct sockaddr *target,
                           socklen_t target_len)
{
    if (!m->loop || (target_len == m->target_len && memcmp(target, &m->target, target_len) == 0))
        return;
    memcpy(&m->target, target, target_len);
    m->target_len = target_len;
    for (size_t i = 0; i < m->n; i++) {
        memset(m->wans[i].inflight, 0, sizeof(m->wans[i].inflight));
        otb_wanmon_refresh_addr(&m->wans[i]); /* the family may have changed */
    }
}

void otb_wanmon_stop(struct otb_wanmon *m)
{
    if (!m->loop)
        return;
    ev_timer_stop(m->loop, &m->scan);
    if (ev_is_active(&m->child))
        ev_child_stop(m->loop, &m->child);
    for (size_t i = 0; i < m->n; i++) {
        struct otb_wanmon_wan *w = &m->wans[i];
        ev_timer_stop(m->loop, &w->timer);
        otb_wanmon_close(w);
        if (w->n_backup_ids)
            otb_wanmon_endpoints(w, false);
    }
    m->loop = NULL;
}

/* ---------------------------------------------------------------- picks */

static bool otb_wanmon_usable(const struct otb_wanmon_wan *w, int family)
{
    return w->present && w->addr_len && w->addr.ss_family == family;
}

static bool otb_wanmon_is_backup(const struct otb_wanmon *m, size_t i)
{
    return m->policy && i < m->policy->n_wans && m->policy->wans[i].backup;
}

int otb_wanmon_pick(const struct otb_wanmon *m, int family, uint32_t tried)
{
    /* up, up but "backup", unknown (not probed yet, or the server does not
     * answer probes), and last down ones: when every WAN is down, trying
     * each in turn finds the one that came back before its probes say so */
    for (int pass = 0; pass < 4; pass++)
        for (size_t i = 0; i < m->n; i++) {
            const struct otb_wanmon_wan *w = &m->wans[i];
            bool want = pass == 3   ? w->state == OTB_WAN_DOWN
                        : pass == 2 ? w->state == OTB_WAN_UNKNOWN
                                    : w->state == OTB_WAN_UP &&
                                          otb_wanmon_is_backup(m, i) == (pass == 1);
            if (want && !(tried & (1u << i)) && otb_wanmon_usable(w, family))
                return (int)i;
        }
    return -1;
}

bool otb_wanmon_source(const struct otb_wanmon *m, int i, int family,
                       struct sockaddr_storage *ss, socklen_t *len)
{
    const struct otb_wanmon_wan *w = otb_wanmon_at(m, i);

    if (!w || !otb_wanmon_usable(w, family))
        return false;
    memcpy(ss, &w->addr, w->addr_len);
    ((struct sockaddr_in *)ss)->sin_port = 0; /* same offset in sockaddr_in6 */
    *len = w->addr_len;
    return true;
}

ev_tstamp otb_wanmon_attempt_delay(const struct otb_wanmon *m, int i)
{
    ev_tstamp srtt = m->wans[i].srtt;

    return otb_wanmon_bounded(srtt > 0 ? 3 * srtt + 0.1 : OTB_WANMON_RTO_MAX);
}

void otb_wanmon_suspect(struct otb_wanmon *m, int i)
{
    struct otb_wanmon_wan *w = otb_wanmon_at(m, i);

    if (!w || w->fd < 0 || w->state == OTB_WAN_DOWN)
        return;
    if (ev_now(m->loop) - w->last_sent >= OTB_WANMON_SUSPECT_INTERVAL) {
        otb_wanmon_send(w);
        otb_wanmon_tick(w);
    }
}

void otb_wanmon_traffic(struct otb_wanmon *m, int i, bool heard)
{
    struct otb_wanmon_wan *w = otb_wanmon_at(m, i);
    ev_tstamp now;

    if (!w)
        return;
    now = ev_now(m->loop);
    if (heard) {
        w->last_heard = now;
        w->unanswered_since = 0;
        return;
    }
    if (w->unanswered_since == 0)
        w->unanswered_since = now;
    else if (otb_wanmon_data_unanswered(w, now) && w->state != OTB_WAN_DOWN &&
             now - w->last_sent >= OTB_WANMON_SUSPECT_INTERVAL)
        otb_wanmon_tick(w); /* probes faster from now on */
}

bool otb_wanmon_is_down(const struct otb_wanmon *m, int i)
{
    const struct otb_wanmon_wan *w = otb_wanmon_at(m, i);

    return w && w->state == OTB_WAN_DOWN;
}

int otb_wanmon_find(const struct otb_wanmon *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->wans[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ----------------------------------------------------------------- JSON */

uint64_t otb_wanmon_ifstat(const char *iface, const char *what)
{
    char path[128];
    unsigned long long v = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", iface, what);
    f = fopen(path, "re");
    if (!f)
        return 0;
    if (fscanf(f, "%llu", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

void otb_wanmon_write_json(const struct otb_wanmon *m, FILE *out)
{
    fputs(",\"wans\":[", out);
    for (size_t i = 0; i < m->n; i++) {
        const struct otb_wanmon_wan *w = &m->wans[i];
        char addr[INET6_ADDRSTRLEN];

        otb_wanmon_addr_text(w, addr, sizeof(addr));
        fprintf(out,
                "%s{\"name\":\"%s\",\"iface\":\"%s\",\"address\":\"%s\",\"state\":\"%s\","
                "\"rtt_ms\":%.1f,\"loss_pct\":%u,\"last_change\":%.0f,\"tx_bytes\":%llu,"
                "\"rx_bytes\":%llu,\"probes_sent\":%llu,\"probes_lost\":%llu,\"download_kbit\":%u,"
                "\"download_auto\":%s}",
                i ? "," : "", w->name, w->iface, addr, otb_wanmon_state_name(w->state),
                w->srtt * 1000, otb_wanmon_loss_pct(w), w->last_change,
                (unsigned long long)otb_wanmon_ifstat(w->iface, "tx_bytes"),
                (unsigned long long)otb_wanmon_ifstat(w->iface, "rx_bytes"),
                (unsigned long long)w->probes_sent, (unsigned long long)w->probes_lost,
                w->download_kbit, w->download_auto ? "true" : "false");
    }
    fputc(']', out);
}
