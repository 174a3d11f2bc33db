/* otb-redir: LAN TCP intercepted by the box's firewall (REDIRECT or TPROXY)
 * and SOCKS5 clients, each carried as one Shadowsocks-AEAD stream over MPTCP
 * to the first healthy server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "otb_mptcp.h"
#include "otb_sniff.h"
#include "pending.h"
#include "redir.h"

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, which
 * clash with the libc headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

/* Health probes of the servers: often enough to come back quickly after a
 * site recovers, rare enough to be invisible in the server's load. */
#define OTB_REDIR_HEALTH_INTERVAL 5.
/* How long a redirected connection may stay silent before it is routed
 * without a name: client-first protocols (TLS, HTTP) speak at once;
 * server-first ones (SMTP, FTP) pay this once, and only when the ACL has
 * domain rules. */
#define OTB_REDIR_SNIFF_TIMEOUT 0.3

static bool otb_redir_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    struct otb_addr x, y;

    if (otb_addr_from_sockaddr(&x, (const struct sockaddr *)a) < 0 ||
        otb_addr_from_sockaddr(&y, (const struct sockaddr *)b) < 0)
        return false;
    return x.atyp == y.atyp && x.port == y.port &&
           memcmp(&x.u, &y.u, x.atyp == OTB_ATYP_IPV4 ? 4 : 16) == 0;
}

/* Where the LAN host wanted to go: the original destination kept by
 * conntrack (REDIRECT) or the socket's own local address (TPROXY). */
static int otb_redir_destination(const struct otb_redir *rd, int fd, struct sockaddr_storage *dst)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof(local), dlen = sizeof(*dst);

    if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
        return -errno;
    if (rd->cfg.tproxy) {
        *dst = local;
        return 0;
    }
    if (local.ss_family == AF_INET6 &&
        getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, &dlen) < 0)
        return -errno;
    if (local.ss_family == AF_INET && getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &dlen) < 0)
        return -errno;
    /* A client that connected to our port directly, not through the
     * firewall: relaying it would loop back to ourselves. */
    if (otb_redir_same_addr(dst, &local))
        return -ELOOP;
    return 0;
}

/* A connection to the box itself (TPROXY with -T, or a REDIRECT rule that
 * catches the box's addresses): the server would connect back to the box,
 * whose firewall sends it to the server again. Refused and counted. */
static bool otb_redir_to_self(struct otb_redir *rd, const struct sockaddr *peer,
                              const struct sockaddr_storage *dst)
{
    char from[OTB_ADDR_FMT_LEN], to[OTB_ADDR_FMT_LEN];

    if (!otb_selfaddr_is_self(&rd->self, (const struct sockaddr *)dst, ev_now(rd->relay.loop)))
        return false;
    rd->relay.stats.self_refused++;
    otb_sockaddr_format(peer, from, sizeof(from));
    otb_sockaddr_format((const struct sockaddr *)dst, to, sizeof(to));
    OTB_DEBUG(&rd->log, "connection from %s to %s, an address of this box: refused", from, to);
    return true;
}

/* The route of WAN wan with a source address of family; NULL when the WAN
 * has no such address (down or unplugged). */
static const struct otb_route *otb_redir_wan_route(struct otb_redir *rd, int wan, int family)
{
    struct otb_route *rt = &rd->wan_routes[wan];
    const struct otb_wan *w = &rd->cfg.policy.wans[wan];

    rt->opts = rd->relay.out_opts;
    rt->opts.mptcp = false; /* one WAN only: a single path by definition */
    rt->opts.mark = w->mark;
    memcpy(rt->opts.iface, w->iface, sizeof(rt->opts.iface)); /* both IFNAMSIZ */
    if (otb_policy_iface_addr(w->iface, family, &rt->bind, &rt->bind_len) < 0)
        return NULL;
    return rt;
}

/* The pinned WAN, or its fallback when it has no address or WAN health
 * found it silent. */
static const struct otb_route *otb_redir_pin_route(struct otb_redir *rd,
                                                   const struct otb_pin *pin, int family)
{
    const struct otb_route *rt = NULL;

    if (!otb_wanmon_is_down(&rd->upstreams.wanmon, pin->wan) || pin->fallback < 0)
        rt = otb_redir_wan_route(rd, pin->wan, family);
    if (!rt && pin->fallback >= 0)
        rt = otb_redir_wan_route(rd, pin->fallback, family);
    return rt;
}

/* Where one LAN connection goes: a host pinned "direct" leaves through its
 * WAN without the server; an ACL bypass match leaves directly; everything
 * else goes to the server, over the pinned WAN only for "tunnel-via". */
static void otb_redir_route_conn(struct otb_redir *rd, int fd, const struct sockaddr *peer,
                                 const struct otb_addr *dst, const char *host,
                                 const uint8_t *early, size_t early_len)
{
    const struct otb_pin *pin = otb_policy_pin_for(&rd->cfg.policy, peer);
    const struct otb_route *route = NULL;
    struct sockaddr_storage ip;
    socklen_t iplen;
    bool has_ip = otb_addr_to_sockaddr(dst, &ip, &iplen) == 0;
    bool direct = pin && pin->mode == OTB_PIN_DIRECT;

    if (!direct)
        direct = otb_acl_should_bypass(rd->acl, has_ip ? (struct sockaddr *)&ip : NULL, host);
    if (pin) {
        int family = direct ? (has_ip ? ip.ss_family : AF_INET)
                            : rd->upstreams.srv[0].sa.ss_family;
        route = otb_redir_pin_route(rd, pin, family);
        if (!route) {
            char from[OTB_ADDR_FMT_LEN];
            otb_sockaddr_format(peer, from, sizeof(from));
            /* No silent leak through another WAN: the pin is the contract. */
            OTB_INFO(&rd->log, "%s is pinned to WAN %s, which is down or has no address: refused", from,
                     rd->cfg.policy.wans[pin->wan].name);
            close(fd);
            return;
        }
    }
    if (direct)
        otb_relay_accept_direct(&rd->relay, fd, dst, early, early_len, route);
    else
        otb_relay_accept_plain(&rd->relay, fd, dst, early, early_len, route);
}

void otb_redir_dispatch(struct otb_pending *p, const char *host)
{
    otb_redir_route_conn(p->redir, p->fd, (struct sockaddr *)&p->peer, &p->dst, host, p->buf,
                         p->len);
    otb_pending_end(p, false);
}

/* Redirected connection with domain rules in force: wait for the TLS SNI or
 * HTTP Host in the first bytes. */
static void otb_redir_sniff_input(struct otb_pending *p, bool timed_out)
{
    char host[256];
    enum otb_sniff_kind kind;
    int rc = timed_out ? OTB_BAD : otb_sniff_host(p->buf, p->len, host, sizeof(host), &kind);

    if (rc == OTB_NEED_MORE)
        return;
    otb_redir_dispatch(p, rc == OTB_OK ? host : NULL);
}

static void otb_redir_on_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                                socklen_t plen)
{
    struct otb_redir *rd = l->arg;
    struct sockaddr_storage dst;
    struct otb_addr target;
    struct otb_pending *p;
    int rc = otb_redir_destination(rd, fd, &dst);

    if (rc < 0 || otb_addr_from_sockaddr(&target, (struct sockaddr *)&dst) < 0) {
        char from[OTB_ADDR_FMT_LEN];
        otb_sockaddr_format(peer, from, sizeof(from));
        OTB_DEBUG(&rd->log, "connection from %s has no original destination (%s): closed",
                  from, rc == -ELOOP ? "not redirected" : strerror(-rc));
        close(fd);
        return;
    }
    if (otb_redir_to_self(rd, peer, &dst)) {
        close(fd);
        return;
    }
    if (!otb_acl_has_host_rules(rd->acl)) {
        otb_redir_route_conn(rd, fd, peer, &target, NULL, NULL, 0);
        return;
    }
    p = otb_pending_start(rd, fd, peer, OTB_REDIR_SNIFF_TIMEOUT, otb_redir_sniff_input);
    if (p)
        p->dst = target;
}

/* On host (when set), else on every address of hosts[]. */
static int otb_redir_listen_all(struct otb_redir *rd, struct otb_listener_set *set,
                                const char *host, const char *const hosts[2], uint16_t port,
                                bool transparent, otb_accept_cb cb)
{
    struct otb_sock_opts opts = { .reuse_port = rd->cfg.reuse_port,
                                  .no_delay = rd->cfg.no_delay, .transparent = transparent };

    if (host[0])
        return otb_daemon_listen(&rd->relay, set, host, port, &opts, cb, rd);
    for (size_t i = 0; i < 2; i++)
        if (otb_daemon_listen(&rd->relay, set, hosts[i], port, &opts, cb, rd) < 0)
            return -1;
    return 0;
}

static bool otb_redir_is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0;
}

/* The transparent port listens on every address: REDIRECT rewrites the
 * destination to the LAN interface's address and TPROXY looks the socket up
 * by that address, so a loopback socket would never receive anything; the
 * firewall (otb-firewall) keeps WAN input away from it. SOCKS5 has no
 * firewall rule to bring clients to it: it answers on socks5_address, else
 * on local_address when that is one address, else on loopback only; never
 * on every address unless socks5_address says so. */
static int otb_redir_listen(struct otb_redir *rd)
{
    static const char *const any[] = { "0.0.0.0", "::" };
    static const char *const loopback[] = { "127.0.0.1", "::1" };
    const char *socks_host = rd->cfg.socks5_addr;

    if (!socks_host[0] && !otb_redir_is_wildcard(rd->cfg.local_addr))
        socks_host = rd->cfg.local_addr;

    if (otb_redir_listen_all(rd, &rd->transparent, rd->cfg.local_addr, any, rd->cfg.local_port,
                             rd->cfg.tproxy, otb_redir_on_accept) < 0)
        return -1;
    if (rd->cfg.socks5_port &&
        otb_redir_listen_all(rd, &rd->socks, socks_host, loopback, rd->cfg.socks5_port, false,
                             otb_redir_socks5_accept) < 0)
        return -1;
    return 0;
}

/* SIGTERM: connections still being sniffed or in their SOCKS5 handshake
 * are dropped; relayed ones finish. */
static void otb_redir_on_stop(void *arg)
{
    struct otb_redir *rd = arg;

    otb_pending_close_all(rd);
    otb_tunnelstat_stop(&rd->tunnel);
}

/* The page shows the box's UDP flows, which are otb-tunnel's. */
static void otb_redir_status_extra(void *arg, FILE *out)
{
    struct otb_redir *rd = arg;

    if (rd->cfg.tunnel_status[0])
        otb_tunnelstat_write_json(&rd->tunnel, out);
}

/* Builds the program's parts and declares them to the skeleton. */
static int otb_redir_setup(void *arg, struct ev_loop *loop)
{
    struct otb_redir *rd = arg;
    struct otb_mptcp_info mptcp;
    char err[512];

    if (otb_upstreams_client_relay(&rd->upstreams, &rd->relay, loop, &rd->log, &rd->cfg,
                                   &rd->master, rd->prog.max_conns) < 0)
        return -1;
    if (rd->cfg.mptcp)
        otb_mptcp_report(&rd->log, &mptcp);
    if (rd->cfg.acl[0] && !(rd->acl = otb_daemon_load_acl(rd->cfg.acl, &rd->log)))
        return -1;
    /* Direct connections leave with the same options, without MPTCP. */
    rd->egress.opts = rd->relay.out_opts;
    rd->egress.opts.mptcp = false;
    rd->relay.egress = &rd->egress;
    /* Bypassed SOCKS5 requests name their destination: resolved on the box. */
    rd->egress.dns = otb_dns_new(loop, rd->cfg.nameserver, rd->cfg.ipv6_first, err, sizeof(err));
    if (!rd->egress.dns) {
        OTB_ERR(&rd->log, "nameserver: %s", err);
        return -1;
    }
    if (otb_redir_listen(rd) < 0)
        return -1;
    for (size_t i = 0; i < rd->upstreams.n; i++)
        OTB_INFO(&rd->log, "server %zu: %s", i + 1, rd->upstreams.srv[i].name);
    OTB_INFO(&rd->log, "%s mode, method %s, up to %zu connections",
             rd->cfg.tproxy ? "TPROXY" : "REDIRECT", otb_method_info(rd->master.method)->name,
             rd->relay.max_conns);
    otb_upstreams_start(&rd->upstreams, OTB_REDIR_HEALTH_INTERVAL);
    if (rd->cfg.tunnel_status[0])
        otb_tunnelstat_start(&rd->tunnel, loop, &rd->log, rd->cfg.tunnel_status);
    /* The box's MPTCP endpoints are ours to flag unless the config leaves
     * them alone. */
    otb_upstreams_watch_wans(&rd->upstreams, &rd->cfg, &rd->master,
                             rd->cfg.mptcp && !rd->cfg.policy.fw.no_mptcp_endpoints, NULL, NULL);
    rd->prog.tcp = &rd->relay;
    rd->prog.upstreams = &rd->upstreams;
    rd->prog.acl = &rd->acl;
    return 0;
}

static void otb_redir_teardown(void *arg)
{
    struct otb_redir *rd = arg;

    otb_tunnelstat_stop(&rd->tunnel);
    otb_relay_destroy(&rd->relay);
    otb_daemon_close_listeners(&rd->transparent);
    otb_daemon_close_listeners(&rd->socks);
    otb_egress_free(&rd->egress);
    otb_acl_free(rd->acl);
    otb_selfaddr_free(&rd->self);
}

/* SIGHUP: addresses may have changed with the configuration. */
static void otb_redir_reload(void *arg)
{
    struct otb_redir *rd = arg;

    otb_selfaddr_refresh(&rd->self, ev_now(rd->relay.loop));
}

/* UDP on the box is otb-tunnel's. */
static int otb_redir_check(void *arg, char *err, size_t errlen)
{
    struct otb_redir *rd = arg;

    if (rd->cfg.mode != OTB_MODE_TCP_ONLY)
        return otb_log_seterr(err, errlen, "mode (-u/-U): UDP is otb-tunnel's job on the box");
    return 0;
}

static const struct otb_program_ops otb_redir_ops = {
    .check = otb_redir_check, .setup = otb_redir_setup, .stop = otb_redir_on_stop,
    .reload = otb_redir_reload, .teardown = otb_redir_teardown,
    .status_extra = otb_redir_status_extra
};

int main(int argc, char **argv)
{
    /* large; the one instance of this program */
    static struct otb_redir redir = {
        .prog = OTB_PROGRAM_INIT(redir, "otb-redir", OTB_PROG_REDIR, &otb_redir_ops),
    };

    return otb_program_main(&redir.prog, argc, argv);
}
