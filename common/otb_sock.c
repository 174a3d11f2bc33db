#include "otb_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif

int otb_sock_stream(int family, bool mptcp, bool *fell_back)
{
    int fd = -1;

    if (mptcp) {
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
        /* Kernels without MPTCP (or with net.mptcp.enabled=0) refuse the protocol. */
        if (fd < 0 && (errno == EPROTONOSUPPORT || errno == EINVAL || errno == ENOPROTOOPT ||
                       errno == ESOCKTNOSUPPORT)) {
            if (fell_back)
                *fell_back = true;
        } else if (fd < 0) {
            return -errno;
        }
    }
    if (fd < 0)
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    return fd < 0 ? -errno : fd;
}

static int otb_sock_setint(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* Where a socket's packets go: firewall mark and interface (TCP and UDP). */
static int otb_sock_apply_route(int fd, const struct otb_sock_opts *o)
{
    int rc;

    if (o->mark && (rc = otb_sock_setint(fd, SOL_SOCKET, SO_MARK, (int)o->mark)) < 0)
        return rc;
    if (o->iface[0] &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->iface, (socklen_t)strlen(o->iface)) < 0)
        return -errno;
    return 0;
}

/* Options common to listeners and outbound sockets. */
static int otb_sock_apply(int fd, const struct otb_sock_opts *o)
{
    int rc;

    if (o->no_delay && (rc = otb_sock_setint(fd, IPPROTO_TCP, TCP_NODELAY, 1)) < 0)
        return rc;
    if ((rc = otb_sock_apply_route(fd, o)) < 0)
        return rc;
    if (o->congestion && o->congestion[0]) /* checked at start: failure means "system's" */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, o->congestion,
                         (socklen_t)strlen(o->congestion));
    /* Keepalive finds peers that vanished (a WAN gone for good) on long idle sessions. */
    if ((rc = otb_sock_setint(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) < 0)
        return rc;
    otb_sock_setint(fd, IPPROTO_TCP, TCP_KEEPIDLE, 60);
    otb_sock_setint(fd, IPPROTO_TCP, TCP_KEEPINTVL, 10);
    otb_sock_setint(fd, IPPROTO_TCP, TCP_KEEPCNT, 6);
    return 0;
}

/* A stream socket with o applied; with o->fast_open, TCP option tfo_opt
 * (the listener's or the client's flavour) set to tfo_val, best effort. */
static int otb_sock_stream_with(int family, const struct otb_sock_opts *o, int tfo_opt,
                                int tfo_val, bool *fell_back)
{
    int fd = otb_sock_stream(family, o->mptcp, fell_back);
    int rc;

    if (fd < 0)
        return fd;
    if ((rc = otb_sock_apply(fd, o)) < 0) {
        close(fd);
        return rc;
    }
    if (o->fast_open)
        otb_sock_setint(fd, IPPROTO_TCP, tfo_opt, tfo_val);
    return fd;
}

int otb_sock_listen(const struct sockaddr *sa, socklen_t len, const struct otb_sock_opts *o,
                    bool *fell_back)
{
    bool v6 = sa->sa_family == AF_INET6;
    int fd = otb_sock_stream_with(sa->sa_family, o, TCP_FASTOPEN, 256, fell_back);
    int rc;

    if (fd < 0)
        return fd;
    if ((rc = otb_sock_setint(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0 ||
        (o->reuse_port && (rc = otb_sock_setint(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0) ||
        (v6 && (rc = otb_sock_setint(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)) < 0) ||
        (o->transparent && (rc = otb_sock_setint(fd, v6 ? SOL_IPV6 : SOL_IP,
                                                 v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, 1)) < 0))
        goto fail;
    if (bind(fd, sa, len) < 0 || listen(fd, 1024) < 0) {
        rc = -errno;
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return rc;
}

int otb_sock_outbound(int family, const struct otb_sock_opts *o, const struct sockaddr *bind_sa,
                      socklen_t bind_len, bool *fell_back)
{
    int fd = otb_sock_stream_with(family, o, TCP_FASTOPEN_CONNECT, 1, fell_back);
    int rc;

    if (fd < 0 || !bind_sa || !bind_len || bind_sa->sa_family != family)
        return fd;
    /* Many outbound connections share one source address: let the kernel
     * pick the port at connect() time instead of reserving it at bind(). */
    otb_sock_setint(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (bind(fd, bind_sa, bind_len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int otb_sock_dgram(int family, const struct otb_sock_opts *o, const struct sockaddr *bind_sa,
                   socklen_t bind_len)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -errno;
    rc = o ? otb_sock_apply_route(fd, o) : 0;
    if (rc == 0 && bind_sa && bind(fd, bind_sa, bind_len) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int otb_sock_passive_addrs(const char *host, uint16_t port, int socktype,
                           struct otb_sock_addr *out, size_t max, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *res, *ai;
    char service[8];
    size_t n = 0;
    int rc;

    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(out[n].ss))
            continue;
        memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
        out[n++].len = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    return (int)n;
}

int otb_sock_congestion_usable(const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)strlen(name)) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int otb_sock_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (connect(fd, sa, len) == 0 || errno == EINPROGRESS)
        return 0;
    return -errno;
}

int otb_sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

int otb_sock_parse_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -EINVAL;
}

socklen_t otb_sockaddr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

bool otb_sock_is_mptcp(int fd)
{
    int proto = 0;
    socklen_t len = sizeof(proto);

    return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_MPTCP;
}
