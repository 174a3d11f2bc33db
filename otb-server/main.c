/* otb-server: accepts Shadowsocks-AEAD streams from boxes (MPTCP or TCP),
 * checks and decrypts them, and relays to the Internet from its own address. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "otb_acl.h"
#include "otb_config.h"
#include "otb_daemon.h"
#include "otb_dns.h"
#include "otb_probe.h"
#include "otb_ifwatch.h"
#include "otb_program.h"
#include "otb_relay.h"
#include "otb_replay.h"
#include "otb_shaper.h"
#include "otb_udprelay.h"

/* One entry of "listeners": a further port with its own method and key, so
 * that boxes can move from one method family to the other one at a time.
 * TCP goes through the shared relay under this key; UDP and the WAN probes
 * need relays of their own (their datagrams carry no hint of the key). */
struct otb_server_port {
    uint16_t port;
    struct otb_master master;
    struct otb_relay_key *key;
    struct otb_listener_set listeners;
    struct otb_udprelay udp;
    bool udp_on;
    struct otb_probe_responder probes;
};

struct otb_server {
    struct otb_config cfg;
    struct otb_logger log;
    struct otb_master master;
    struct otb_relay relay;
    struct otb_egress egress; /* shared by the TCP and UDP relays */
    struct otb_replay replay;
    struct otb_listener_set listeners;
    struct otb_udprelay udp; /* -u / -U */
    bool udp_on;
    /* Without -u: UDP sockets that answer the boxes' WAN health probes only. */
    struct otb_probe_responder probes;
    struct otb_ifwatch ifwatch; /* this host's addresses, refused as destinations */
    struct otb_shaper shaper;   /* --shape-downloads */
    bool shaping;
    struct otb_server_port extra[OTB_MAX_LISTENERS]; /* "listeners" */
    size_t n_extra;
    struct otb_program prog;
};

/* The ACL's client lists are applied before a byte is read. l->arg: the
 * listener's port of "listeners", NULL for server_port (the relay's key). */
static void otb_server_on_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                                 socklen_t len)
{
    struct otb_relay *r = l->relay;
    struct otb_server_port *port = l->arg;

    if (!otb_acl_client_permitted(r->egress->acl, peer)) {
        r->stats.client_refused++;
        if (otb_log_enabled(r->log, OTB_LOG_DEBUG)) {
            char from[OTB_ADDR_FMT_LEN];
            otb_sockaddr_format(peer, from, sizeof(from));
            OTB_DEBUG(r->log, "connection from %s refused by the ACL's client lists", from);
        }
        close(fd);
        return;
    }
    otb_relay_accept_cipher_key(r, port ? port->key : r->key, fd, peer);
}

/* An address of this host came or went. */
static void otb_server_addrs_changed(void *arg)
{
    struct otb_server *s = arg;

    if (otb_egress_refresh_local(&s->egress) < 0)
        OTB_WARN(&s->log, "cannot read this host's addresses: keeping the previous list");
    else
        OTB_DEBUG(&s->log, "this host's addresses changed: list of refused destinations updated");
}

/* The block lists from the configuration: built-in ranges, public addresses,
 * this host's addresses. */
static int otb_server_block_lists(struct otb_server *s)
{
    if (otb_egress_block_builtin(&s->egress, s->cfg.public_addrs, s->cfg.n_public_addrs) < 0) {
        OTB_ERR(&s->log, "cannot build the outbound block list");
        return -1;
    }
    return 0;
}

/* The replay filter's size and memory, stated once at start. */
static void otb_server_log_replay(struct otb_server *s, const char *what,
                                  const struct otb_replay *r)
{
    OTB_INFO(&s->log, "%s replay filter: 2 generations of %zu salts, %.1f MiB", what,
             r->capacity, (double)otb_replay_bytes(r) / (1024. * 1024.));
}

/* ----------------------------------------------------- UDP relay (-u, -U) */

/* After the TCP relay's setup: u shares its egress, listens on the same
 * addresses and on port (0: server_port and the servers' own ports) under
 * master; *on is set once u needs destroying. */
static int otb_server_setup_udp(struct otb_server *s, struct ev_loop *loop,
                                struct otb_udprelay *u, bool *on,
                                const struct otb_master *master, uint16_t port)
{
    struct otb_sock_opts opts = { .reuse_port = s->cfg.reuse_port };

    if (otb_udprelay_init(u, loop, &s->log, master, OTB_UDP_SERVER,
                          (size_t)s->cfg.udp_max_assoc) < 0) {
        OTB_ERR(&s->log, "out of memory");
        return -1;
    }
    *on = true;
    u->idle_timeout = s->cfg.timeout;
    u->egress = &s->egress;
    for (size_t i = 0; i < s->cfg.n_servers; i++) {
        const struct otb_hostport *hp = &s->cfg.servers[i];
        uint16_t p = port ? port : hp->port ? hp->port : s->cfg.server_port;
        if (otb_udprelay_listen_host(u, hp->host, p, &opts) < 0)
            return -1;
    }
    OTB_INFO(&s->log, "UDP relay (%s): up to %zu associations", otb_method_info(master->method)->name,
             u->max_assoc);
    otb_server_log_replay(s, "UDP", &u->replay);
    return 0;
}

/* Without a UDP relay the boxes' WAN probes still need an answer: they
 * tell a WAN that passes nothing from a server that does not relay UDP. */
static void otb_server_setup_probes(struct otb_server *s, struct ev_loop *loop,
                                    struct otb_probe_responder *pr,
                                    const struct otb_master *master, uint16_t port)
{
    *pr = (struct otb_probe_responder){ .loop = loop, .log = &s->log, .master = master };
    for (size_t i = 0; i < s->cfg.n_servers; i++) {
        const struct otb_hostport *hp = &s->cfg.servers[i];
        uint16_t p = port ? port : hp->port ? hp->port : s->cfg.server_port;
        /* Not fatal: relaying matters more; the boxes then keep their
         * routing's choice of WAN (their log says their probes go unanswered). */
        if (otb_probe_responder_listen(pr, hp->host, p) < 0)
            OTB_WARN(&s->log, "WAN health probes of the boxes will go unanswered");
    }
}

/* Before the secrets are wiped: the keys of "listeners". */
static int otb_server_keys(void *arg, char *err, size_t errlen)
{
    struct otb_server *s = arg;

    for (size_t i = 0; i < s->cfg.n_listeners; i++) {
        struct otb_server_port *p = &s->extra[i];
        if (otb_config_listener_master(&s->cfg, i, &p->master, err, errlen) != OTB_CONFIG_OK)
            return -1;
        p->port = s->cfg.listeners[i].port;
        s->n_extra = i + 1;
    }
    return 0;
}

/* One port of "listeners": TCP on the shared relay, UDP or probes of its own. */
static int otb_server_setup_port(struct otb_server *s, struct ev_loop *loop,
                                 struct otb_server_port *p,
                                 const struct otb_sock_opts *listen_opts)
{
    if (!(p->key = otb_relay_key_new(&p->master))) {
        OTB_ERR(&s->log, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->cfg.n_servers && s->cfg.mode != OTB_MODE_UDP_ONLY; i++) {
        if (otb_daemon_listen(&s->relay, &p->listeners, s->cfg.servers[i].host, p->port,
                              listen_opts, otb_server_on_accept, p) < 0)
            return -1;
    }
    if (s->cfg.mode != OTB_MODE_TCP_ONLY) {
        if (otb_server_setup_udp(s, loop, &p->udp, &p->udp_on, &p->master, p->port) < 0)
            return -1;
        /* Reported with the main relay's counters: one "udp" for the whole server. */
        p->udp.also = s->udp.also;
        s->udp.also = &p->udp;
        p->udp.shaper = s->shaping ? &s->shaper : NULL;
        return 0;
    }
    otb_server_setup_probes(s, loop, &p->probes, &p->master, p->port);
    p->probes.shaper = s->shaping ? &s->shaper : NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */

/* SIGHUP: new key, ACL, timeouts for new connections and datagrams;
 * established connections go on. */
static void otb_server_reload(void *arg)
{
    struct otb_server *s = arg;

    s->probes.master = otb_relay_master(&s->relay);
    (void)otb_server_block_lists(s); /* on failure the previous lists stay */
    if (!s->udp_on)
        return;
    s->udp.master = otb_relay_master(&s->relay);
    s->udp.idle_timeout = s->cfg.timeout;
    for (size_t i = 0; i < s->n_extra; i++) /* their keys stay: read at start only */
        s->extra[i].udp.idle_timeout = s->cfg.timeout;
}

/* Builds the program's parts and declares them to the skeleton. */
static int otb_server_setup(void *arg, struct ev_loop *loop)
{
    struct otb_server *s = arg;
    /* Accepted (box-facing) sockets inherit the listener's congestion control;
     * Internet-facing ones keep the system's. */
    struct otb_sock_opts listen_opts = {
        .mptcp = s->cfg.mptcp, .fast_open = s->cfg.fast_open, .reuse_port = s->cfg.reuse_port,
        .no_delay = s->cfg.no_delay, .congestion = otb_daemon_congestion(s->cfg.congestion, &s->log)
    };
    char err[512];

    if (otb_relay_init(&s->relay, loop, &s->log, &s->master, OTB_ROLE_SERVER) < 0 ||
        otb_replay_init(&s->replay, OTB_REPLAY_DEFAULT_CAPACITY) < 0) {
        OTB_ERR(&s->log, "out of memory");
        return -1;
    }
    s->relay.replay = &s->replay;
    s->relay.idle_timeout = s->cfg.timeout;
    s->relay.connect_timeout = s->cfg.connect_timeout;
    s->relay.max_conns = s->prog.max_conns;
    if (otb_relay_set_preauth(&s->relay, s->cfg.preauth_timeout,
                              (size_t)s->cfg.max_preauth_per_source) < 0) {
        OTB_ERR(&s->log, "out of memory");
        return -1;
    }
    /* To the Internet: plain TCP (its servers do not speak MPTCP). */
    s->egress.opts = (struct otb_sock_opts){ .no_delay = s->cfg.no_delay,
                                             .fast_open = s->cfg.fast_open,
                                             .mark = s->cfg.mark };
    snprintf(s->egress.opts.iface, sizeof(s->egress.opts.iface), "%s", s->cfg.iface);
    s->relay.egress = &s->egress;
    /* Box-bound TCP carries the class the box gave it (same rule, both ends);
     * UDP copies the DSCP each association's datagrams came with. */
    s->relay.qos = &s->cfg.qos;
    if (otb_egress_set_bind(&s->egress, s->cfg.local_addr, err, sizeof(err)) < 0) {
        OTB_ERR(&s->log, "%s", err);
        return -1;
    }
    s->egress.dns = otb_dns_new(loop, s->cfg.nameserver, s->cfg.ipv6_first, err, sizeof(err));
    if (!s->egress.dns) {
        OTB_ERR(&s->log, "nameserver: %s", err);
        return -1;
    }
    if (otb_server_block_lists(s) < 0)
        return -1;
    if (otb_ifwatch_start(&s->ifwatch, loop, otb_server_addrs_changed, s) < 0)
        OTB_WARN(&s->log, "cannot watch this host's addresses (netlink): they are read at "
                          "start and on SIGHUP only");
    if (s->cfg.acl[0] && !(s->egress.acl = otb_daemon_load_acl(s->cfg.acl, &s->log)))
        return -1;
    /* Before the listeners: a socket takes its link's GSO limit when its handshake completes,
     * and the shaper sets that limit (a box connecting earlier would get bursts through). */
    if (s->cfg.shape_downloads[0]) {
        if (otb_shaper_start(&s->shaper, loop, &s->log, s->cfg.shape_downloads,
                             (unsigned)s->cfg.shape_share) < 0)
            return -1;
        s->shaping = true;
    }
    for (size_t i = 0; i < s->cfg.n_servers && s->cfg.mode != OTB_MODE_UDP_ONLY; i++) {
        const struct otb_hostport *hp = &s->cfg.servers[i];
        if (otb_daemon_listen(&s->relay, &s->listeners, hp->host,
                              hp->port ? hp->port : s->cfg.server_port, &listen_opts,
                              otb_server_on_accept, NULL) < 0)
            return -1;
    }
    if (s->cfg.mode != OTB_MODE_TCP_ONLY &&
        otb_server_setup_udp(s, loop, &s->udp, &s->udp_on, &s->master, 0) < 0)
        return -1;
    if (s->cfg.mode == OTB_MODE_TCP_ONLY)
        otb_server_setup_probes(s, loop, &s->probes, otb_relay_master(&s->relay), 0);
    if (s->shaping) {
        s->probes.shaper = &s->shaper;
        if (s->udp_on)
            s->udp.shaper = &s->shaper;
    }
    OTB_INFO(&s->log, "method %s, idle timeout %d s, up to %zu connections",
             otb_method_info(s->master.method)->name, s->cfg.timeout, s->relay.max_conns);
    for (size_t i = 0; i < s->n_extra; i++) {
        if (otb_server_setup_port(s, loop, &s->extra[i], &listen_opts) < 0)
            return -1;
        OTB_INFO(&s->log, "port %u: method %s (listeners[%zu])", s->extra[i].port,
                 otb_method_info(s->extra[i].master.method)->name, i);
    }
    OTB_INFO(&s->log, "before authentication: %d s from the accept, at most %ld per source",
             s->cfg.preauth_timeout, s->cfg.max_preauth_per_source);
    otb_server_log_replay(s, "TCP", &s->replay);
    s->prog.tcp = &s->relay;
    s->prog.udp = s->udp_on ? &s->udp : NULL;
    s->prog.acl = &s->egress.acl;
    return 0;
}

/* SIGTERM: the ports of "listeners" accept no more; their TCP connections
 * drain with the shared relay's. */
static void otb_server_stop(void *arg)
{
    struct otb_server *s = arg;

    for (size_t i = 0; i < s->n_extra; i++) {
        otb_daemon_close_listeners(&s->extra[i].listeners);
        if (s->extra[i].udp_on)
            otb_udprelay_stop(&s->extra[i].udp);
    }
}

static void otb_server_teardown(void *arg)
{
    struct otb_server *s = arg;

    for (size_t i = 0; i < s->n_extra; i++) {
        struct otb_server_port *p = &s->extra[i];
        if (p->udp_on)
            otb_udprelay_destroy(&p->udp);
        if (p->probes.loop)
            otb_probe_responder_close(&p->probes);
    }

    otb_ifwatch_stop(&s->ifwatch);
    if (s->shaping)
        otb_shaper_stop(&s->shaper);
    if (s->udp_on)
        otb_udprelay_destroy(&s->udp);
    otb_relay_destroy(&s->relay);
    otb_daemon_close_listeners(&s->listeners);
    for (size_t i = 0; i < s->n_extra; i++) {
        otb_daemon_close_listeners(&s->extra[i].listeners);
        otb_relay_key_put(s->extra[i].key); /* after the relay's connections */
        otb_master_wipe(&s->extra[i].master);
    }
    if (s->probes.loop)
        otb_probe_responder_close(&s->probes);
    otb_egress_free(&s->egress);
    otb_replay_free(&s->replay);
}

static const struct otb_program_ops otb_server_ops = {
    .keys = otb_server_keys, .setup = otb_server_setup, .stop = otb_server_stop,
    .reload = otb_server_reload, .teardown = otb_server_teardown
};

int main(int argc, char **argv)
{
    /* large; the one instance of this program */
    static struct otb_server server = {
        .prog = OTB_PROGRAM_INIT(server, "otb-server", OTB_PROG_SERVER, &otb_server_ops),
        .ifwatch = { .fd = -1 },
    };

    return otb_program_main(&server.prog, argc, argv);
}
