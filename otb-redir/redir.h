/* otb-redir's program state, shared by main.c and socks5.c. */
#ifndef OTB_REDIR_H
#define OTB_REDIR_H

#include "otb_config.h"
#include "otb_daemon.h"
#include "otb_program.h"
#include "otb_relay.h"
#include "otb_selfaddr.h"
#include "otb_tunnelstat.h"
#include "otb_upstream.h"

struct otb_pending;

struct otb_redir {
    struct otb_config cfg;
    struct otb_logger log;
    struct otb_master master;
    struct otb_relay relay;
    struct otb_egress egress; /* direct connections: resolver, socket options */
    struct otb_upstreams upstreams;
    struct otb_listener_set transparent; /* REDIRECT or TPROXY listeners */
    struct otb_listener_set socks;       /* SOCKS5 listeners */
    struct otb_pending *pending; /* LAN connections not yet handed to the relay */
    size_t npending;
    struct otb_acl *acl;         /* bypass/proxy lists, reloaded on SIGHUP */
    struct otb_selfaddr self;    /* the box's own addresses: never a destination */
    struct otb_route wan_routes[OTB_MAX_WANS]; /* per pinned WAN, source refreshed per use */
    uint64_t socks_refused;
    struct otb_tunnelstat tunnel; /* otb-tunnel's flows, for the status page */
    struct otb_program prog;
};

/* Accept callback of the SOCKS5 listeners: runs the RFC 1928 handshake,
 * then hands the connection to the relay. */
/* Decides where a pending LAN connection goes (server, server over a pinned
 * WAN, or direct) and hands it to the relay with its buffered bytes. host:
 * the destination name when known (SOCKS5, sniffed SNI/Host), else NULL. */
void otb_redir_dispatch(struct otb_pending *p, const char *host);
void otb_redir_socks5_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                             socklen_t len);

#endif
