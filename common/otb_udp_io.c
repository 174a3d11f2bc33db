/* UDP sockets and batch I/O: listening and transparent sockets, datagrams
 * read (recvmmsg) and sent (sendmmsg) through slots owned by the relay,
 * control messages (TPROXY destination, TOS). */
#include "otb_udp_inner.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int otb_udp_orig_dst(struct msghdr *msg, struct sockaddr_storage *dst)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        size_t len;
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR)
            len = sizeof(struct sockaddr_in);
        else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR)
            len = sizeof(struct sockaddr_in6);
        else
            continue;
        if (c->cmsg_len < CMSG_LEN(len))
            return -ENOENT;
        memset(dst, 0, sizeof(*dst));
        memcpy(dst, CMSG_DATA(c), len);
        if (dst->ss_family != (len == sizeof(struct sockaddr_in) ? AF_INET : AF_INET6))
            return -ENOENT;
        return 0;
    }
    return -ENOENT;
}

int otb_udp_recv_tos(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1))
            return *CMSG_DATA(c);
        if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_TCLASS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int tclass;
            memcpy(&tclass, CMSG_DATA(c), sizeof(tclass));
            return tclass >= 0 && tclass <= 255 ? tclass : -1;
        }
    }
    return -1;
}

/* ================================================================ sockets */

static void otb_udp_setint(int fd, int level, int name, int value)
{
    (void)setsockopt(fd, level, name, &value, sizeof(value));
}

/* Socket bound to a foreign address (IP_TRANSPARENT), to answer a LAN host
 * as the Internet host it believes it talks to. SO_REUSEADDR: several LAN
 * hosts may talk to the same remote address and port. fd or -errno. */
int otb_udp_transparent_socket(const struct sockaddr *as)
{
    bool v6 = as->sa_family == AF_INET6;
    int one = 1, err;
    int fd = otb_sock_dgram(as->sa_family, NULL, NULL, 0);

    if (fd < 0)
        return fd;
    if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
                   sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, as, otb_sockaddr_len(as)) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    /* Never read: keep what the kernel could queue on it small. */
    otb_udp_setint(fd, SOL_SOCKET, SO_RCVBUF, 4096);
    return fd;
}

int otb_udp_listen_socket(const struct sockaddr *sa, socklen_t len,
                          const struct otb_sock_opts *o)
{
    bool v6 = sa->sa_family == AF_INET6;
    int one = 1, err;
    int fd = otb_sock_dgram(sa->sa_family, NULL, NULL, 0);

    if (fd < 0)
        return fd;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (o->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    /* "0.0.0.0" and "::" can both be given. */
    if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (o->transparent &&
        (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
                    sizeof(one)) < 0 ||
         setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR,
                    &one, sizeof(one)) < 0))
        goto fail;
    otb_udp_setint(fd, SOL_SOCKET, SO_RCVBUF, OTB_UDP_SOCKBUF);
    otb_udp_setint(fd, SOL_SOCKET, SO_SNDBUF, OTB_UDP_SOCKBUF);
    /* The DSCP of what arrives: the LAN's voice marking (client), the box's
     * class to copy onto the way back (server). */
    otb_udp_setint(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVTCLASS : IP_RECVTOS, 1);
    if (bind(fd, sa, len) < 0)
        goto fail;
    return fd;
fail:
    err = -errno;
    close(fd);
    return err;
}

/* Up to OTB_UDP_BATCH datagrams in one system call; with control, room for
 * the TPROXY original destination. The count, 0 if none (or an error). */
static int otb_udp_recv_batch(struct otb_udp_batch *b, int fd, bool control)
{
    int n;

    for (int i = 0; i < OTB_UDP_BATCH; i++) {
        b->iov[i] = (struct iovec){ .iov_base = b->slots[i] + OTB_UDP_PAYLOAD_OFF,
                                    .iov_len = OTB_UDP_MAX };
        b->msgs[i].msg_hdr = (struct msghdr){
            .msg_name = &b->from[i], .msg_namelen = sizeof(b->from[i]),
            .msg_iov = &b->iov[i], .msg_iovlen = 1,
            .msg_control = control ? b->control[i].buf : NULL,
            .msg_controllen = control ? sizeof(b->control[i].buf) : 0 };
    }
    n = recvmmsg(fd, b->msgs, OTB_UDP_BATCH, MSG_DONTWAIT, NULL);
    return n < 0 ? 0 : n;
}

/* Sends what is queued. A datagram the kernel refuses (buffer full, too
 * big...) is dropped and counted; the ones after it still go. */
void otb_udp_tx_flush(struct otb_udprelay *r)
{
    struct otb_udp_txbatch *t = r->tx;
    unsigned done = 0;

    while (done < t->n) {
        int k = sendmmsg(t->fd, t->msgs + done, t->n - done, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r->stats.send_errors++;
            done++;
            continue;
        }
        for (unsigned i = done; i < done + (unsigned)k; i++) {
            bool up = t->dir[i] == OTB_UDP_UP;
            (*(up ? &r->stats.up_packets : &r->stats.down_packets))++;
            *(up ? &r->stats.up_bytes : &r->stats.down_bytes) += t->payload[i];
        }
        done += (unsigned)k;
    }
    t->n = 0;
}

/* Room for the next datagram through fd; what waits for another socket is
 * sent first, so a batch always has one socket. */
uint8_t *otb_udp_tx_slot(struct otb_udprelay *r, int fd)
{
    struct otb_udp_txbatch *t = r->tx;

    if (t->n && t->fd != fd)
        otb_udp_tx_flush(r);
    t->fd = fd;
    return t->slots[t->n];
}

/* Control message of a datagram's TOS / traffic class (the socket is
 * shared); the bytes it takes. */
static size_t otb_udp_cmsg_tos(struct cmsghdr *c, int family, int tos)
{
    c->cmsg_level = family == AF_INET6 ? SOL_IPV6 : SOL_IP;
    c->cmsg_type = family == AF_INET6 ? IPV6_TCLASS : IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &tos, sizeof(tos));
    return CMSG_SPACE(sizeof(int));
}

/* Control message of a datagram's source address: the route (policy rules
 * "from ADDR") and so the WAN follow it. The bytes it takes. */
static size_t otb_udp_cmsg_source(struct cmsghdr *c, const struct sockaddr *src)
{
    if (src->sa_family == AF_INET6) {
        struct in6_pktinfo pi = { .ipi6_addr = ((const struct sockaddr_in6 *)src)->sin6_addr };
        c->cmsg_level = SOL_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
        return CMSG_SPACE(sizeof(pi));
    }
    struct in_pktinfo pi = { .ipi_spec_dst = ((const struct sockaddr_in *)src)->sin_addr };
    c->cmsg_level = SOL_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    return CMSG_SPACE(sizeof(pi));
}

void otb_udp_tx_commit_from(struct otb_udprelay *r, size_t len, const struct sockaddr *to,
                            enum otb_udp_dir dir, size_t payload, int tos,
                            const struct sockaddr *src)
{
    struct otb_udp_txbatch *t = r->tx;
    socklen_t tolen = otb_sockaddr_len(to);
    uint8_t *ctl;
    size_t used = 0;

    if (len == 0)
        return;
    unsigned i = t->n++;

    ctl = t->control[i].buf;
    t->iov[i] = (struct iovec){ .iov_base = t->slots[i], .iov_len = len };
    memcpy(&t->to[i], to, tolen);
    if (tos >= 0)
        used += otb_udp_cmsg_tos((struct cmsghdr *)ctl, to->sa_family, tos);
    if (src && src->sa_family == to->sa_family)
        used += otb_udp_cmsg_source((struct cmsghdr *)(ctl + used), src);
    t->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &t->to[i], .msg_namelen = tolen,
                                          .msg_iov = &t->iov[i], .msg_iovlen = 1,
                                          .msg_control = used ? ctl : NULL,
                                          .msg_controllen = used };
    t->payload[i] = (uint32_t)payload;
    t->dir[i] = (uint8_t)dir;
    if (t->n == OTB_UDP_BATCH)
        otb_udp_tx_flush(r);
}

/* Queues the len bytes written into the slot for to; tos >= 0 marks this
 * datagram alone. len 0 (sealing failed) leaves the slot free. */
void otb_udp_tx_commit(struct otb_udprelay *r, size_t len, const struct sockaddr *to,
                       enum otb_udp_dir dir, size_t payload, int tos)
{
    otb_udp_tx_commit_from(r, len, to, dir, payload, tos, NULL);
}

/* Queues a copy of a plain payload. */
void otb_udp_tx_queue(struct otb_udprelay *r, int fd, const uint8_t *buf, size_t len,
                      const struct sockaddr *to, enum otb_udp_dir dir)
{
    memcpy(otb_udp_tx_slot(r, fd), buf, len);
    otb_udp_tx_commit(r, len, to, dir, len, -1);
}

/* Reads fd until it is drained or OTB_UDP_BURST datagrams were taken, hands
 * each datagram to fn, then sends what they produced. A short batch means
 * drained: no extra call just to see EAGAIN (the loop calls again if more
 * came meanwhile). */
void otb_udp_drain(struct otb_udprelay *r, int fd, bool control, otb_udp_rx_fn fn,
                   void *ctx)
{
    struct otb_udp_batch *b = r->rx;

    for (int taken = 0; taken < OTB_UDP_BURST && !r->stopped; taken += OTB_UDP_BATCH) {
        int n = otb_udp_recv_batch(b, fd, control);

        for (int i = 0; i < n; i++)
            fn(ctx, b->slots[i] + OTB_UDP_PAYLOAD_OFF, b->msgs[i].msg_len,
               (const struct sockaddr *)&b->from[i], &b->msgs[i].msg_hdr);
        if (n < OTB_UDP_BATCH)
            break;
    }
    otb_udp_tx_flush(r);
}

/* Host-order port of an AF_INET or AF_INET6 address. */
uint16_t otb_udp_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

bool otb_udp_same_sockaddr(const struct sockaddr *a, const struct sockaddr *b)
{
    struct otb_udp_key ka, kb;

    return otb_udp_key_set(&ka, a, 0) == 0 && otb_udp_key_set(&kb, b, 0) == 0 &&
           memcmp(&ka, &kb, sizeof(ka)) == 0;
}
