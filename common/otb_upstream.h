/* The box's servers: the cloud side may run on two sites. The first healthy
 * server in configured order takes new connections; a failed connect marks a
 * server down at once, and a periodic TCP probe (to our own server only)
 * brings it back when it answers again. */
#ifndef OTB_UPSTREAM_H
#define OTB_UPSTREAM_H

#include <ev.h>

#include "otb_config.h"
#include "otb_relay.h"
#include "otb_wanmon.h"

enum otb_upstream_health { OTB_UPSTREAM_UNKNOWN, OTB_UPSTREAM_UP, OTB_UPSTREAM_DOWN };

struct otb_upstreams;

struct otb_upstream {
    struct otb_upstreams *set;
    int index;
    struct sockaddr_storage sa;
    socklen_t len;
    char name[OTB_HOST_MAX + 16];
    enum otb_upstream_health health;
    ev_io probe_io;
    ev_timer probe_timer;
    int probe_fd;
    uint64_t failures;
};

struct otb_upstreams {
    struct ev_loop *loop;
    const struct otb_logger *log;
    struct otb_upstream srv[OTB_MAX_SERVERS];
    size_t n;
    int current; /* last server handed out, for "switching to" logs */
    ev_timer tick;
    ev_tstamp interval, timeout;
    struct otb_sock_opts opts;
    /* Box: the WANs' health, probed toward the server in use; its loop is
     * NULL when WAN health is off (the routing alone chooses). */
    struct otb_wanmon wanmon;
};

/* Resolves every configured server (at startup, before the loop runs).
 * 0, or -1 with err naming the server. */
int otb_upstreams_init(struct otb_upstreams *u, struct ev_loop *loop,
                       const struct otb_logger *log, const struct otb_config *cfg, char *err,
                       size_t errlen);
/* Starts the health probes every interval seconds. */
void otb_upstreams_start(struct otb_upstreams *u, ev_tstamp interval);
void otb_upstreams_stop(struct otb_upstreams *u);
/* WAN health (cfg->wan_health): probes every WAN toward the server in use;
 * new connections and datagrams then leave by healthy WANs (upstream ops'
 * source). endpoints: flag dead WANs' MPTCP endpoints backup. on_change
 * (may be NULL) hears of each transition. */
void otb_upstreams_watch_wans(struct otb_upstreams *u, const struct otb_config *cfg,
                              const struct otb_master *master, bool endpoints,
                              otb_wanmon_change_fn on_change, void *arg);
/* The relay's view: pick and report. */
void otb_upstreams_bind(struct otb_upstreams *u, struct otb_upstream_ops *ops);
int otb_upstreams_pick(struct otb_upstreams *u, uint32_t exclude, struct sockaddr_storage *sa,
                       socklen_t *len);
void otb_upstreams_report(struct otb_upstreams *u, int index, bool ok);
/* The box's TCP relay toward the servers (otb-redir, otb-tunnel -u): made
 * with master, its servers from cfg resolved into u and picked through u,
 * timeouts and socket options from cfg. 0, or -1 after logging why. */
int otb_upstreams_client_relay(struct otb_upstreams *u, struct otb_relay *relay,
                               struct ev_loop *loop, const struct otb_logger *log,
                               const struct otb_config *cfg, const struct otb_master *master,
                               size_t max_conns);

#endif
