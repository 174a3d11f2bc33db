/* Socket helpers: MPTCP with fallback to TCP, listener and outbound socket
 * options (SO_REUSEPORT, TCP_NODELAY, TCP Fast Open, SO_MARK,
 * SO_BINDTODEVICE, keepalive). */
#ifndef OTB_SOCK_H
#define OTB_SOCK_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

struct otb_sock_opts {
    bool mptcp;
    bool fast_open;
    bool reuse_port;
    bool no_delay;
    bool transparent; /* IP_TRANSPARENT (TPROXY listeners) */
    uint32_t mark;    /* SO_MARK, 0 = none */
    char iface[IFNAMSIZ]; /* SO_BINDTODEVICE, "" = none */
    /* TCP_CONGESTION, NULL or "" = the system's; best effort on each socket
     * (check it once with otb_sock_congestion_usable), accepted sockets
     * inherit a listener's */
    const char *congestion;
};

/* Stream socket, non-blocking and close-on-exec. With mptcp, IPPROTO_MPTCP is
 * tried first; if the kernel refuses it a plain TCP socket is returned and
 * *fell_back is set (the caller logs that once). fd or -errno. */
int otb_sock_stream(int family, bool mptcp, bool *fell_back);
/* Bound, listening socket with opts applied (IPv6 sockets are v6-only so
 * "::" and "0.0.0.0" can both be given). fd or -errno. */
int otb_sock_listen(const struct sockaddr *sa, socklen_t len, const struct otb_sock_opts *o,
                    bool *fell_back);
/* Outbound socket for family with opts applied and, if bind_sa is set,
 * bound to it (source address). fd or -errno. */
int otb_sock_outbound(int family, const struct otb_sock_opts *o, const struct sockaddr *bind_sa,
                      socklen_t bind_len, bool *fell_back);
/* Datagram socket for family, non-blocking and close-on-exec, with the mark
 * and interface of o (may be NULL) and, if bind_sa is set, bound to it.
 * fd or -errno. */
int otb_sock_dgram(int family, const struct otb_sock_opts *o, const struct sockaddr *bind_sa,
                   socklen_t bind_len);
/* Non-blocking connect; 0 when connected or in progress, -errno otherwise. */
int otb_sock_connect(int fd, const struct sockaddr *sa, socklen_t len);
/* Pending error of a connecting socket (SO_ERROR) as -errno, or 0. */
int otb_sock_error(int fd);
/* Numeric address (no DNS). 0 or -EINVAL. */
int otb_sock_parse_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len);
socklen_t otb_sockaddr_len(const struct sockaddr *sa);
/* Listen addresses: every address host resolves to for a passive socket of
 * socktype ("" = any address of both families). Startup only: blocking
 * getaddrinfo. Number of addresses (at most max), or -1 with err. */
struct otb_sock_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};
int otb_sock_passive_addrs(const char *host, uint16_t port, int socktype,
                           struct otb_sock_addr *out, size_t max, char *err, size_t errlen);
/* Whether this process may set congestion control name on its sockets: 0,
 * -ENOENT (not in the kernel), -EPERM (not in
 * net.ipv4.tcp_allowed_congestion_control and no CAP_NET_ADMIN). */
int otb_sock_congestion_usable(const char *name);
/* Whether the socket actually runs MPTCP (false for a TCP fallback). */
bool otb_sock_is_mptcp(int fd);

#endif
