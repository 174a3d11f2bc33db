/* otb-tunnel: LAN UDP to the server as Shadowsocks-AEAD datagrams, never
 * inside the TCP stream. Transparent by default: a TPROXY listener takes
 * every intercepted datagram with its original destination. With -L the
 * destination is fixed (e.g. the box's DNS forwarder sends its queries
 * through the server), and with -u the same port forwards TCP as well. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "otb_config.h"
#include "otb_daemon.h"
#include "otb_program.h"
#include "otb_relay.h"
#include "otb_selfaddr.h"
#include "otb_udprelay.h"
#include "otb_upstream.h"

/* Health probes of the servers, when there is more than one to fail over to. */
#define OTB_TUNNEL_HEALTH_INTERVAL 5.

struct otb_tunnel {
    struct otb_config cfg;
    struct otb_logger log;
    struct otb_master master;
    struct otb_relay relay; /* TCP of forward mode with -u */
    struct otb_udprelay udp;
    struct otb_upstreams upstreams;
    struct otb_listener_set tcp;
    struct otb_addr target; /* -L */
    struct otb_selfaddr self; /* TPROXY: the box's own addresses */
    bool udp_on;
    struct otb_program prog;
};

static bool otb_tunnel_forward(const struct otb_tunnel *t)
{
    return t->cfg.tunnel_to.host[0] != '\0';
}

/* -L host:port as the address header: literal IPs as such, names for the
 * server to resolve. */
static int otb_tunnel_set_target(struct otb_tunnel *t)
{
    const struct otb_hostport *to = &t->cfg.tunnel_to;
    struct sockaddr_storage ss;
    socklen_t len;

    if (otb_sock_parse_ip(to->host, to->port, &ss, &len) == 0)
        return otb_addr_from_sockaddr(&t->target, (struct sockaddr *)&ss);
    return otb_addr_set_domain(&t->target, to->host, to->port);
}

static void otb_tunnel_on_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                                 socklen_t len)
{
    struct otb_tunnel *t = l->arg;

    otb_relay_accept_plain(&t->relay, fd, &t->target, NULL, 0, NULL);
}

/* UDP (and TCP in forward mode with -u) on one local address. */
static int otb_tunnel_listen(struct otb_tunnel *t, const char *host)
{
    struct otb_sock_opts udp_opts = { .reuse_port = t->cfg.reuse_port,
                                      .transparent = !otb_tunnel_forward(t) };
    struct otb_sock_opts tcp_opts = { .reuse_port = t->cfg.reuse_port,
                                      .no_delay = t->cfg.no_delay };

    if (otb_udprelay_listen_host(&t->udp, host, t->cfg.local_port, &udp_opts) < 0)
        return -1;
    if (t->cfg.mode == OTB_MODE_TCP_AND_UDP &&
        otb_daemon_listen(&t->relay, &t->tcp, host, t->cfg.local_port, &tcp_opts,
                          otb_tunnel_on_accept, t) < 0)
        return -1;
    return 0;
}

/* Default addresses: loopback for a forwarder (as ss-tunnel), every address
 * of both families for TPROXY (the rule decides what reaches us). */
static int otb_tunnel_listen_all(struct otb_tunnel *t)
{
    static const char *const any[] = { "0.0.0.0", "::" };

    if (t->cfg.local_addr[0])
        return otb_tunnel_listen(t, t->cfg.local_addr);
    if (otb_tunnel_forward(t))
        return otb_tunnel_listen(t, "127.0.0.1");
    for (size_t i = 0; i < OTB_ARRAY_LEN(any); i++)
        if (otb_tunnel_listen(t, any[i]) < 0)
            return -1;
    return 0;
}

static int otb_tunnel_setup_udp(struct otb_tunnel *t, struct ev_loop *loop)
{
    if (otb_udprelay_init(&t->udp, loop, &t->log, &t->master, OTB_UDP_CLIENT,
                          (size_t)t->cfg.udp_max_assoc) < 0) {
        OTB_ERR(&t->log, "out of memory");
        return -1;
    }
    t->udp_on = true;
    t->udp.idle_timeout = t->cfg.timeout;
    t->udp.upstream = t->relay.upstream;
    t->udp.out_opts = (struct otb_sock_opts){ .mark = t->cfg.mark };
    snprintf(t->udp.out_opts.iface, sizeof(t->udp.out_opts.iface), "%s", t->cfg.iface);
    t->udp.qos = &t->cfg.qos; /* associations carry their class as DSCP to the server */
    t->udp.forward = otb_tunnel_forward(t);
    t->udp.duplicate = t->cfg.voice_duplicate;
    t->udp.target = t->target;
    if (!t->udp.forward)
        t->udp.self = &t->self;
    return 0;
}

/* A WAN went down: the associations that used it leave by another WAN with
 * their next datagram (each datagram asks); counted for the log line. */
static unsigned otb_tunnel_wan_change(void *arg, int wan, enum otb_wan_state state)
{
    struct otb_tunnel *t = arg;

    return state == OTB_WAN_DOWN && t->udp_on ? otb_udprelay_count_wan(&t->udp, wan) : 0;
}

/* Builds the program's parts and declares them to the skeleton: the TCP
 * relay only when it carries TCP (-u). */
static int otb_tunnel_setup(void *arg, struct ev_loop *loop)
{
    struct otb_tunnel *t = arg;
    char to[OTB_ADDR_FMT_LEN] = "original destinations (TPROXY)";

    if (otb_upstreams_client_relay(&t->upstreams, &t->relay, loop, &t->log, &t->cfg,
                                   &t->master, t->prog.max_conns) < 0)
        return -1;
    if (otb_tunnel_forward(t)) {
        if (otb_tunnel_set_target(t) < 0) {
            OTB_ERR(&t->log, "tunnel_address (-L) %s: not usable", t->cfg.tunnel_to.host);
            return -1;
        }
        otb_addr_format(&t->target, to, sizeof(to));
    }
    if (otb_tunnel_setup_udp(t, loop) < 0 || otb_tunnel_listen_all(t) < 0)
        return -1;
    for (size_t i = 0; i < t->upstreams.n; i++)
        OTB_INFO(&t->log, "server %zu: %s", i + 1, t->upstreams.srv[i].name);
    OTB_INFO(&t->log, "UDP%s to %s, method %s, up to %zu associations",
             t->cfg.mode == OTB_MODE_TCP_AND_UDP ? " and TCP" : "", to,
             otb_method_info(t->master.method)->name, t->udp.max_assoc);
    if (t->udp.duplicate)
        OTB_INFO(&t->log, "voice duplication: voice datagrams by two healthy WANs");
    /* One server: nothing to fail over to, and a UDP-only server (-U) would
     * fail the TCP probes for nothing. */
    if (t->upstreams.n > 1)
        otb_upstreams_start(&t->upstreams, OTB_TUNNEL_HEALTH_INTERVAL);
    /* otb-redir flags the MPTCP endpoints; the tunnel only steers datagrams. */
    otb_upstreams_watch_wans(&t->upstreams, &t->cfg, &t->master, false, otb_tunnel_wan_change,
                             t);
    t->prog.tcp = t->cfg.mode == OTB_MODE_TCP_AND_UDP ? &t->relay : NULL;
    t->prog.udp = &t->udp;
    t->prog.upstreams = &t->upstreams;
    if (t->cfg.user[0] && !otb_tunnel_forward(t))
        OTB_WARN(&t->log, "user %s: transparent reply sockets need CAP_NET_ADMIN "
                 "(e.g. systemd AmbientCapabilities)", t->cfg.user);
    return 0;
}

/* SIGHUP: key, voice lists and timeouts for new connections and datagrams
 * (the UDP relay reads the program's key, replaced in place). */
static void otb_tunnel_reload(void *arg)
{
    struct otb_tunnel *t = arg;

    if (t->udp_on)
        t->udp.idle_timeout = t->cfg.timeout;
    otb_selfaddr_refresh(&t->self, ev_now(t->prog.loop));
}

/* UDP is always relayed; -u adds TCP, which only makes sense to a fixed
 * destination: intercepted TCP is otb-redir's job. */
static int otb_tunnel_check(void *arg, char *err, size_t errlen)
{
    struct otb_tunnel *t = arg;

    int method = otb_method_from_name(t->cfg.method);

    if (t->cfg.mode == OTB_MODE_TCP_AND_UDP && !otb_tunnel_forward(t))
        return otb_log_seterr(err, errlen, "mode (-u): TCP needs tunnel_address (-L); "
                                           "intercepted TCP is otb-redir's job");
    /* A SIP004 server would take the second copy for a replay (it has no
     * packet IDs to tell a copy by). */
    if (t->cfg.voice_duplicate && method >= 0 && !otb_method_is_2022((enum otb_method)method))
        return otb_log_seterr(err, errlen,
                              "voice_duplicate (--voice-duplicate): needs a Shadowsocks 2022 "
                              "method (2022-blake3-*), not %s", t->cfg.method);
    /* The WANs to send by are WAN health's. */
    if (t->cfg.voice_duplicate && !t->cfg.wan_health)
        return otb_log_seterr(err, errlen, "voice_duplicate (--voice-duplicate): needs "
                                           "wan_health (not --no-wan-health)");
    return 0;
}

static void otb_tunnel_teardown(void *arg)
{
    struct otb_tunnel *t = arg;

    if (t->udp_on)
        otb_udprelay_destroy(&t->udp);
    otb_relay_destroy(&t->relay);
    otb_daemon_close_listeners(&t->tcp);
    otb_selfaddr_free(&t->self);
}

static const struct otb_program_ops otb_tunnel_ops = {
    .check = otb_tunnel_check, .setup = otb_tunnel_setup, .reload = otb_tunnel_reload,
    .teardown = otb_tunnel_teardown
};

int main(int argc, char **argv)
{
    /* large; the one instance of this program */
    static struct otb_tunnel tunnel = {
        .prog = OTB_PROGRAM_INIT(tunnel, "otb-tunnel", OTB_PROG_TUNNEL, &otb_tunnel_ops),
    };

    return otb_program_main(&tunnel.prog, argc, argv);
}
