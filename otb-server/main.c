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
#include "otb_relay.h"
#include "otb_replay.h"
#include "otb_status.h"
#include "otb_udprelay.h"

struct otb_server {
    struct otb_config cfg;
    struct otb_logger log;
    struct otb_master master;
    struct otb_relay relay;
    struct otb_egress egress; /* shared by the TCP and UDP relays */
    struct otb_replay replay;
    struct otb_signals signals;
    struct otb_status status;
    struct otb_listener_set listeners;
    struct otb_udprelay udp; /* -u / -U */
    bool udp_on;
    struct otb_reload reload;
};

static void otb_server_on_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                                 socklen_t len)
{
    otb_relay_accept_cipher(l->relay, fd, peer);
}

/* ----------------------------------------------------- UDP relay (-u, -U) */

/* After the TCP relay's setup: shares its egress, listens on the same
 * addresses and port. */
static int otb_server_setup_udp(struct otb_server *s, struct ev_loop *loop)
{
    struct otb_sock_opts opts = { .reuse_port = s->cfg.reuse_port };

    if (otb_udprelay_init(&s->udp, loop, &s->log, &s->master, OTB_UDP_SERVER,
                          (size_t)s->cfg.udp_max_assoc) < 0) {
        OTB_ERR(&s->log, "out of memory");
        return -1;
    }
    s->udp_on = true;
    s->udp.idle_timeout = s->cfg.timeout;
    s->udp.egress = &s->egress;
    for (size_t i = 0; i < s->cfg.n_servers; i++) {
        const struct otb_hostport *hp = &s->cfg.servers[i];
        if (otb_udprelay_listen_host(&s->udp, hp->host, hp->port ? hp->port : s->cfg.server_port,
                                     &opts) < 0)
            return -1;
    }
    OTB_INFO(&s->log, "UDP relay: up to %zu associations", s->udp.max_assoc);
    return 0;
}

static void otb_server_stop_udp(void *arg)
{
    struct otb_server *s = arg;

    if (s->udp_on)
        otb_udprelay_stop(&s->udp);
}

static void otb_server_udp_status(void *arg, FILE *out)
{
    struct otb_server *s = arg;

    otb_udprelay_write_json(&s->udp, out);
}

/* ------------------------------------------------------------------------ */

/* SIGHUP: new key, ACL, timeouts for new connections and datagrams;
 * established connections go on. */
static void otb_server_reload(void *arg)
{
    struct otb_server *s = arg;
    bool key_changed;

    if (otb_daemon_reload(&s->reload, &key_changed) < 0 || !s->udp_on)
        return;
    s->udp.master = otb_relay_master(&s->relay);
    s->udp.idle_timeout = s->cfg.timeout;
}

static void otb_server_log_status(void *arg)
{
    struct otb_server *s = arg;

    if (s->status.relay)
        otb_status_log(&s->status);
}

static int otb_server_setup(struct otb_server *s, struct ev_loop *loop)
{
    /* Accepted (box-facing) sockets inherit the listener's congestion control;
     * Internet-facing ones keep the system's. */
    struct otb_sock_opts listen_opts = {
        .mptcp = s->cfg.mptcp, .fast_open = s->cfg.fast_open, .reuse_port = s->cfg.reuse_port,
        .no_delay = s->cfg.no_delay, .congestion = otb_daemon_congestion(s->cfg.congestion, &s->log)
    };
    char err[512];
    long nofile;

    if (otb_relay_init(&s->relay, loop, &s->log, &s->master, OTB_ROLE_SERVER) < 0 ||
        otb_replay_init(&s->replay, OTB_REPLAY_DEFAULT_CAPACITY) < 0) {
        OTB_ERR(&s->log, "out of memory");
        return -1;
    }
    s->relay.replay = &s->replay;
    s->relay.idle_timeout = s->cfg.timeout;
    s->relay.connect_timeout = s->cfg.connect_timeout;
    nofile = otb_daemon_raise_nofile(s->cfg.nofile, &s->log);
    s->relay.max_conns = s->cfg.max_conns ? (size_t)s->cfg.max_conns : otb_daemon_max_conns(nofile);
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
    if (otb_egress_block_builtin(&s->egress) < 0) {
        OTB_ERR(&s->log, "cannot build the outbound block list");
        return -1;
    }
    if (s->cfg.acl[0] && !(s->egress.acl = otb_daemon_load_acl(s->cfg.acl, &s->log)))
        return -1;
    for (size_t i = 0; i < s->cfg.n_servers && s->cfg.mode != OTB_MODE_UDP_ONLY; i++) {
        const struct otb_hostport *hp = &s->cfg.servers[i];
        if (otb_daemon_listen(&s->relay, &s->listeners, hp->host,
                              hp->port ? hp->port : s->cfg.server_port, &listen_opts,
                              otb_server_on_accept, s) < 0)
            return -1;
    }
    if (s->cfg.mode != OTB_MODE_TCP_ONLY && otb_server_setup_udp(s, loop) < 0)
        return -1;
    OTB_INFO(&s->log, "method %s, idle timeout %d s, up to %zu connections",
             otb_method_info(s->master.method)->name, s->cfg.timeout, s->relay.max_conns);
    return 0;
}

static int otb_server_run(struct otb_server *s)
{
    struct ev_loop *loop = EV_DEFAULT;
    char err[512];
    int rc = 1;

    if (otb_server_setup(s, loop) < 0)
        goto out;
    if (s->cfg.pidfile[0] && otb_daemon_write_pidfile(s->cfg.pidfile, err, sizeof(err)) < 0) {
        OTB_ERR(&s->log, "%s", err);
        goto out;
    }
    if (s->cfg.user[0] && otb_daemon_drop_privileges(s->cfg.user, err, sizeof(err)) < 0) {
        OTB_ERR(&s->log, "%s", err);
        goto out;
    }
    s->status = (struct otb_status){ .relay = &s->relay, .program = "otb-server", .fd = -1,
                                     .started = ev_now(EV_DEFAULT) };
    if (s->udp_on) {
        s->status.extra = otb_server_udp_status;
        s->status.extra_arg = s;
    }
    if (s->cfg.status_socket[0] &&
        otb_status_start(&s->status, s->cfg.status_socket, err, sizeof(err)) < 0) {
        OTB_ERR(&s->log, "%s", err);
        goto out;
    }
    s->signals.on_reload = otb_server_reload;
    s->signals.on_stats = otb_server_log_status;
    s->signals.on_stop = otb_server_stop_udp;
    s->signals.arg = s;
    otb_signals_start(&s->signals, &s->relay, s->cfg.shutdown_timeout);
    ev_run(loop, 0);
    otb_signals_stop(&s->signals);
    otb_relay_log_stats(&s->relay);
    if (s->udp_on)
        otb_udprelay_log_stats(&s->udp);
    rc = 0;
out:
    otb_status_stop(&s->status);
    if (s->udp_on)
        otb_udprelay_destroy(&s->udp);
    otb_relay_destroy(&s->relay);
    otb_daemon_close_listeners(&s->listeners);
    otb_egress_free(&s->egress);
    otb_replay_free(&s->replay);
    if (s->cfg.pidfile[0] && rc == 0)
        unlink(s->cfg.pidfile);
    return rc;
}

int main(int argc, char **argv)
{
    static struct otb_server server; /* large; the one instance of this program */
    char err[512];
    int rc;

    rc = otb_config_load(&server.cfg, OTB_PROG_SERVER, argc, argv, err, sizeof(err));
    server.reload = (struct otb_reload){ .prog = OTB_PROG_SERVER, .argc = argc, .argv = argv,
                                         .cur = &server.cfg, .relay = &server.relay,
                                         .acl = &server.egress.acl, .log = &server.log };
    if (rc == OTB_CONFIG_EXIT)
        return 0;
    if (rc != OTB_CONFIG_OK) {
        fprintf(stderr, "otb-server: %s\n", err);
        return 2;
    }
    otb_log_open(&server.log, "otb-server", server.cfg.verbose ? OTB_LOG_DEBUG : OTB_LOG_INFO,
                 server.cfg.use_syslog);
    if (otb_crypto_init() < 0 ||
        otb_config_master(&server.cfg, &server.master, err, sizeof(err)) < 0) {
        OTB_ERR(&server.log, "%s", err[0] ? err : "crypto initialisation failed");
        return 2;
    }
    rc = otb_server_run(&server);
    otb_master_wipe(&server.master);
    otb_log_close(&server.log);
    return rc;
}
