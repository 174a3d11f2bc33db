#include "otb_udprelay.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Datagrams taken per readiness event: bounded so one busy socket cannot
 * starve the others, large enough to save most epoll round trips under load. */
#define OTB_UDP_BURST 64
/* Datagrams per recvmmsg() call. */
#define OTB_UDP_BATCH 16
/* Listener socket buffers: bursts from many LAN hosts or boxes arrive at once. */
#define OTB_UDP_SOCKBUF (1 << 20)
#define OTB_UDP_PLAIN_CAP (OTB_ADDR_MAX_LEN + OTB_UDP_MAX)
#define OTB_UDP_TX_CAP (OTB_MAX_SALT_LEN + OTB_ADDR_MAX_LEN + OTB_UDP_MAX + OTB_TAG_LEN)
/* Received datagrams start this far into their slot, leaving room to put
 * the address header right before a payload without moving it. */
#define OTB_UDP_PAYLOAD_OFF OTB_ADDR_MAX_LEN

struct otb_udp_batch {
    struct mmsghdr msgs[OTB_UDP_BATCH];
    struct iovec iov[OTB_UDP_BATCH];
    struct sockaddr_storage from[OTB_UDP_BATCH];
    union {
        struct cmsghdr align;
        /* TPROXY original destination and the packet's TOS / traffic class */
        uint8_t buf[CMSG_SPACE(sizeof(struct sockaddr_in6)) + CMSG_SPACE(sizeof(int))];
    } control[OTB_UDP_BATCH];
    uint8_t slots[OTB_UDP_BATCH][OTB_UDP_PAYLOAD_OFF + OTB_UDP_MAX];
};

enum otb_udp_dir { OTB_UDP_UP, OTB_UDP_DOWN };

/* Datagrams for one socket, sent with one sendmmsg(); message i uses slot i. */
struct otb_udp_txbatch {
    struct mmsghdr msgs[OTB_UDP_BATCH];
    struct iovec iov[OTB_UDP_BATCH];
    struct sockaddr_storage to[OTB_UDP_BATCH];
    uint32_t payload[OTB_UDP_BATCH]; /* payload bytes, for the counters */
    uint8_t dir[OTB_UDP_BATCH];
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
    } control[OTB_UDP_BATCH]; /* server: the DSCP of datagrams to a box */
    int fd;
    unsigned n;
    uint8_t slots[OTB_UDP_BATCH][OTB_UDP_TX_CAP];
};

/* Handles one received datagram: data has OTB_UDP_PAYLOAD_OFF free bytes before it. */
typedef void (*otb_udp_rx_fn)(void *ctx, uint8_t *data, size_t len, const struct sockaddr *from,
                              struct msghdr *msg);

static void otb_udp_listener_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_udp_server_reply_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_udp_client_reply_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_udp_assoc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ===================================================== association table */

int otb_udp_table_init(struct otb_udp_table *t, size_t expected)
{
    size_t n = 16;

    memset(t, 0, sizeof(*t));
    while (n < expected)
        n <<= 1;
    t->buckets = calloc(n, sizeof(*t->buckets));
    if (!t->buckets)
        return -ENOMEM;
    t->mask = n - 1;
    t->lru.next = t->lru.prev = &t->lru;
    randombytes_buf(t->hkey, sizeof(t->hkey));
    return 0;
}

void otb_udp_table_free(struct otb_udp_table *t)
{
    free(t->buckets);
    t->buckets = NULL;
    t->count = 0;
}

int otb_udp_key_set(struct otb_udp_key *k, const struct sockaddr *sa, uint8_t sub)
{
    memset(k, 0, sizeof(*k));
    k->sub = sub;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        memcpy(k->addr, &sin->sin_addr, 4);
        k->port = sin->sin_port;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        memcpy(k->addr, &sin6->sin6_addr, 16);
        k->port = sin6->sin6_port;
    } else {
        return -EAFNOSUPPORT;
    }
    k->family = (uint8_t)sa->sa_family;
    return 0;
}

uint64_t otb_udp_table_hash(const struct otb_udp_table *t, const struct otb_udp_key *k)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)k, sizeof(*k), t->hkey);
    memcpy(&h, out, sizeof(h));
    return h;
}

struct otb_udp_link *otb_udp_table_find(const struct otb_udp_table *t,
                                        const struct otb_udp_key *k, uint64_t hash)
{
    for (struct otb_udp_link *l = t->buckets[hash & t->mask]; l; l = l->hnext)
        if (l->hash == hash && memcmp(&l->key, k, sizeof(*k)) == 0)
            return l;
    return NULL;
}

static void otb_udp_lru_unlink(struct otb_udp_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static void otb_udp_lru_push(struct otb_udp_table *t, struct otb_udp_link *l)
{
    l->prev = &t->lru;
    l->next = t->lru.next;
    t->lru.next->prev = l;
    t->lru.next = l;
}

void otb_udp_table_insert(struct otb_udp_table *t, struct otb_udp_link *l)
{
    struct otb_udp_link **b = &t->buckets[l->hash & t->mask];

    l->hnext = *b;
    *b = l;
    otb_udp_lru_push(t, l);
    t->count++;
}

void otb_udp_table_remove(struct otb_udp_table *t, struct otb_udp_link *l)
{
    struct otb_udp_link **p = &t->buckets[l->hash & t->mask];

    while (*p && *p != l)
        p = &(*p)->hnext;
    if (*p)
        *p = l->hnext;
    otb_udp_lru_unlink(l);
    l->hnext = l->prev = l->next = NULL;
    t->count--;
}

void otb_udp_table_touch(struct otb_udp_table *t, struct otb_udp_link *l)
{
    if (t->lru.next == l)
        return;
    otb_udp_lru_unlink(l);
    otb_udp_lru_push(t, l);
}

struct otb_udp_link *otb_udp_table_oldest(const struct otb_udp_table *t)
{
    return t->lru.prev == &t->lru ? NULL : t->lru.prev;
}

const struct sockaddr *otb_udp_names_find(const struct otb_udp_name *names, size_t n,
                                          const char *host, uint16_t port, ev_tstamp now)
{
    for (size_t i = 0; i < n; i++)
        if (names[i].port == port && now < names[i].expires && strcmp(names[i].host, host) == 0)
            return (const struct sockaddr *)&names[i].addr;
    return NULL;
}

void otb_udp_names_put(struct otb_udp_name *names, size_t n, const char *host, uint16_t port,
                       const struct sockaddr *sa, ev_tstamp expires)
{
    struct otb_udp_name *slot = &names[0];

    for (size_t i = 0; i < n; i++) {
        if (names[i].port == port && strcmp(names[i].host, host) == 0) {
            slot = &names[i];
            break;
        }
        if (names[i].expires < slot->expires)
            slot = &names[i];
    }
    snprintf(slot->host, sizeof(slot->host), "%s", host);
    slot->port = port;
    slot->expires = expires;
    memcpy(&slot->addr, sa, otb_sockaddr_len(sa));
}

bool otb_udp_port_is_voice(uint16_t port)
{
    static const uint16_t voice[] = { 3478, 3479, 4569, 5060, 5061, 5349 };

    for (size_t i = 0; i < OTB_ARRAY_LEN(voice); i++)
        if (voice[i] == port)
            return true;
    return false;
}

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

/* Non-blocking UDP socket, with mark and interface when o is given. fd or -errno. */
static int otb_udp_socket(int family, const struct otb_sock_opts *o)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err;

    if (fd < 0)
        return -errno;
    if (o && o->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &o->mark, sizeof(o->mark)) < 0)
        goto fail;
    if (o && o->iface[0] &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->iface, (socklen_t)strlen(o->iface)) < 0)
        goto fail;
    return fd;
fail:
    err = -errno;
    close(fd);
    return err;
}

/* Socket bound to a foreign address (IP_TRANSPARENT), to answer a LAN host
 * as the Internet host it believes it talks to. SO_REUSEADDR: several LAN
 * hosts may talk to the same remote address and port. fd or -errno. */
static int otb_udp_transparent_socket(const struct sockaddr *as)
{
    bool v6 = as->sa_family == AF_INET6;
    int one = 1, err;
    int fd = otb_udp_socket(as->sa_family, NULL);

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

static int otb_udp_listen_socket(const struct sockaddr *sa, socklen_t len,
                                 const struct otb_sock_opts *o)
{
    bool v6 = sa->sa_family == AF_INET6;
    int one = 1, err;
    int fd = otb_udp_socket(sa->sa_family, NULL);

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
static void otb_udp_tx_flush(struct otb_udprelay *r)
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
static uint8_t *otb_udp_tx_slot(struct otb_udprelay *r, int fd)
{
    struct otb_udp_txbatch *t = r->tx;

    if (t->n && t->fd != fd)
        otb_udp_tx_flush(r);
    t->fd = fd;
    return t->slots[t->n];
}

/* Per-datagram TOS / traffic class of message i (the socket is shared). */
static void otb_udp_tx_set_tos(struct otb_udp_txbatch *t, unsigned i, int family, int tos)
{
    struct msghdr *h = &t->msgs[i].msg_hdr;
    struct cmsghdr *c;

    h->msg_control = t->control[i].buf;
    h->msg_controllen = sizeof(t->control[i].buf);
    c = CMSG_FIRSTHDR(h);
    c->cmsg_level = family == AF_INET6 ? SOL_IPV6 : SOL_IP;
    c->cmsg_type = family == AF_INET6 ? IPV6_TCLASS : IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &tos, sizeof(tos));
}

/* Queues the len bytes written into the slot for to; tos >= 0 marks this
 * datagram alone. len 0 (sealing failed) leaves the slot free. */
static void otb_udp_tx_commit(struct otb_udprelay *r, size_t len, const struct sockaddr *to,
                              enum otb_udp_dir dir, size_t payload, int tos)
{
    struct otb_udp_txbatch *t = r->tx;
    socklen_t tolen = otb_sockaddr_len(to);

    if (len == 0)
        return;
    unsigned i = t->n++;

    t->iov[i] = (struct iovec){ .iov_base = t->slots[i], .iov_len = len };
    memcpy(&t->to[i], to, tolen);
    t->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &t->to[i], .msg_namelen = tolen,
                                          .msg_iov = &t->iov[i], .msg_iovlen = 1 };
    if (tos >= 0)
        otb_udp_tx_set_tos(t, i, to->sa_family, tos);
    t->payload[i] = (uint32_t)payload;
    t->dir[i] = (uint8_t)dir;
    if (t->n == OTB_UDP_BATCH)
        otb_udp_tx_flush(r);
}

/* Queues a copy of a plain payload. */
static void otb_udp_tx_queue(struct otb_udprelay *r, int fd, const uint8_t *buf, size_t len,
                             const struct sockaddr *to, enum otb_udp_dir dir)
{
    memcpy(otb_udp_tx_slot(r, fd), buf, len);
    otb_udp_tx_commit(r, len, to, dir, len, -1);
}

/* Reads fd until it is drained or OTB_UDP_BURST datagrams were taken, hands
 * each datagram to fn, then sends what they produced. A short batch means
 * drained: no extra call just to see EAGAIN (the loop calls again if more
 * came meanwhile). */
static void otb_udp_drain(struct otb_udprelay *r, int fd, bool control, otb_udp_rx_fn fn,
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
static uint16_t otb_udp_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static bool otb_udp_same_sockaddr(const struct sockaddr *a, const struct sockaddr *b)
{
    struct otb_udp_key ka, kb;

    return otb_udp_key_set(&ka, a, 0) == 0 && otb_udp_key_set(&kb, b, 0) == 0 &&
           memcmp(&ka, &kb, sizeof(ka)) == 0;
}

/* ============================================================ associations */

static size_t otb_udp_assoc_size(const struct otb_udprelay *r)
{
    size_t replies = r->role == OTB_UDP_CLIENT && !r->forward ? OTB_UDP_REPLY_SOCKS : 0;
    return sizeof(struct otb_udp_assoc) + replies * sizeof(struct otb_udp_reply);
}

static ev_tstamp otb_udp_assoc_idle(const struct otb_udp_assoc *a)
{
    ev_tstamp idle = a->relay->idle_timeout;
    return a->voice && idle < OTB_UDP_VOICE_TIMEOUT ? OTB_UDP_VOICE_TIMEOUT : idle;
}

static void otb_udp_assoc_touch(struct otb_udp_assoc *a)
{
    a->last_active = ev_now(a->relay->loop);
    otb_udp_table_touch(&a->relay->table, &a->link);
}

static void otb_udp_assoc_note_port(struct otb_udp_assoc *a, uint16_t port)
{
    if (!a->voice && otb_udp_port_is_voice(port))
        a->voice = true; /* the timer picks the longer timeout up when it fires */
}

static void otb_udp_sock_close(struct otb_udprelay *r, struct otb_udp_sock *s)
{
    if (s->fd < 0)
        return;
    otb_udp_tx_flush(r); /* nothing queued may outlive its descriptor */
    ev_io_stop(r->loop, &s->io);
    close(s->fd);
    s->fd = -1;
}

/* Watchers are stopped before the memory goes, so nothing pending can reach it. */
static void otb_udp_assoc_close(struct otb_udp_assoc *a, uint64_t *counter)
{
    struct otb_udprelay *r = a->relay;

    (*counter)++;
    ev_timer_stop(r->loop, &a->timer);
    for (size_t i = 0; i < OTB_ARRAY_LEN(a->out); i++)
        otb_udp_sock_close(r, &a->out[i]);
    if (a->dns)
        otb_dns_cancel(a->dns);
    free(a->held);
    otb_udp_tx_flush(r);
    for (unsigned i = 0; i < a->nreplies; i++)
        close(a->replies[i].fd);
    otb_udp_table_remove(&r->table, &a->link);
    r->stats.assoc_active = r->table.count;
    free(a);
}

static void otb_udp_assoc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_udp_assoc *a = otb_container_of(w, struct otb_udp_assoc, timer);
    /* Re-armed lazily from the last activity instead of on every datagram. */
    ev_tstamp left = a->last_active + otb_udp_assoc_idle(a) - ev_now(loop);

    if (left > 0.01) {
        ev_timer_set(w, left, 0.);
        ev_timer_start(loop, w);
        return;
    }
    otb_udp_assoc_close(a, &a->relay->stats.assoc_expired);
}

static void otb_udp_sock_init(struct otb_udp_sock *s, struct otb_udp_assoc *a)
{
    struct otb_udprelay *r = a->relay;

    s->fd = -1;
    ev_io_init(&s->io, r->role == OTB_UDP_SERVER ? otb_udp_server_reply_cb
                                                 : otb_udp_client_reply_cb, -1, EV_READ);
    s->io.data = a;
}

/* Gives the association socket s its descriptor and starts reading replies. */
static void otb_udp_sock_start(struct otb_udprelay *r, struct otb_udp_sock *s, int fd)
{
    s->fd = fd;
    ev_io_set(&s->io, fd, EV_READ);
    ev_io_start(r->loop, &s->io);
}

static struct otb_udp_assoc *otb_udp_assoc_new(struct otb_udprelay *r,
                                               struct otb_udp_listener *via,
                                               const struct sockaddr *peer,
                                               const struct otb_udp_key *k, uint64_t hash)
{
    struct otb_udp_link *oldest;
    struct otb_udp_assoc *a;

    if (r->table.count >= r->max_assoc && (oldest = otb_udp_table_oldest(&r->table)))
        otb_udp_assoc_close((struct otb_udp_assoc *)oldest, &r->stats.assoc_evicted);
    a = calloc(1, otb_udp_assoc_size(r));
    if (!a) {
        r->stats.errors++;
        return NULL;
    }
    a->relay = r;
    a->via = via;
    a->peer_len = otb_sockaddr_len(peer);
    memcpy(&a->peer, peer, a->peer_len);
    a->link.key = *k;
    a->link.hash = hash;
    for (size_t i = 0; i < OTB_ARRAY_LEN(a->out); i++)
        otb_udp_sock_init(&a->out[i], a);
    a->server_index = -1;
    a->tos = -1;
    a->last_active = ev_now(r->loop);
    ev_timer_init(&a->timer, otb_udp_assoc_timer_cb, r->idle_timeout, 0.);
    ev_timer_start(r->loop, &a->timer);
    otb_udp_table_insert(&r->table, &a->link);
    r->stats.assoc_created++;
    r->stats.assoc_active = r->table.count;
    return a;
}

/* The association of peer, created if needed; NULL if none can be made (counted). */
static struct otb_udp_assoc *otb_udp_assoc_get(struct otb_udprelay *r,
                                               struct otb_udp_listener *via,
                                               const struct sockaddr *peer, uint8_t sub)
{
    struct otb_udp_key k;
    struct otb_udp_link *l;
    uint64_t hash;

    if (otb_udp_key_set(&k, peer, sub) < 0) {
        r->stats.bad++;
        return NULL;
    }
    hash = otb_udp_table_hash(&r->table, &k);
    l = otb_udp_table_find(&r->table, &k, hash);
    if (l) {
        struct otb_udp_assoc *a = (struct otb_udp_assoc *)l;
        a->via = via; /* a peer may move between our addresses */
        return a;
    }
    return otb_udp_assoc_new(r, via, peer, &k, hash);
}

/* ========================================================= server role */

/* Outbound socket of a for family, created on first use. fd or -1 (counted). */
static int otb_udp_server_out_fd(struct otb_udp_assoc *a, int family)
{
    struct otb_udprelay *r = a->relay;
    struct otb_udp_sock *s = &a->out[family == AF_INET6];
    socklen_t bind_len;
    const struct sockaddr *bind_sa = otb_egress_bind(r->egress, family, &bind_len);
    int fd;

    if (s->fd >= 0)
        return s->fd;
    fd = otb_udp_socket(family, &r->egress->opts);
    /* Bound to -b with any port, so the mapping is fixed from the first datagram. */
    if (fd >= 0 && bind_sa && bind(fd, bind_sa, bind_len) < 0) {
        int err = -errno;
        close(fd);
        fd = err;
    }
    if (fd < 0) {
        r->stats.errors++;
        OTB_DEBUG(r->log, "udp: outbound socket: %s", strerror(-fd));
        return -1;
    }
    otb_udp_sock_start(r, s, fd);
    return fd;
}

/* Sends a permitted payload to a resolved destination. */
static void otb_udp_server_send(struct otb_udp_assoc *a, const struct sockaddr *to,
                                const uint8_t *payload, size_t len)
{
    struct otb_udprelay *r = a->relay;
    int fd = otb_udp_server_out_fd(a, to->sa_family);

    if (fd < 0)
        return;
    otb_udp_tx_queue(r, fd, payload, len, to, OTB_UDP_UP);
    otb_udp_assoc_touch(a);
    otb_udp_assoc_note_port(a, otb_udp_sockaddr_port(to));
}

static void otb_udp_server_resolved(void *arg, int status, const struct sockaddr_storage *addrs,
                                    size_t n)
{
    struct otb_udp_assoc *a = arg;
    struct otb_udprelay *r = a->relay;
    struct otb_udp_pending *p = a->held;
    const struct sockaddr *to = NULL;

    a->dns = NULL;
    a->held = NULL;
    if (status != 0)
        r->stats.dns_fail++;
    else if (!(to = otb_egress_first_permitted(r->egress, addrs, n)))
        r->stats.acl_refused++;
    if (to) {
        otb_udp_names_put(r->names, OTB_UDP_NAMES, p->host, p->port, to,
                          ev_now(r->loop) + OTB_UDP_NAME_TTL);
        otb_udp_server_send(a, to, p->data, p->len);
        otb_udp_tx_flush(r);
    }
    free(p);
}

/* Destination given as a name: the cached answer, or a lookup holding this
 * one datagram. */
static void otb_udp_server_send_name(struct otb_udp_assoc *a, const struct otb_addr *to,
                                     const uint8_t *payload, size_t len)
{
    struct otb_udprelay *r = a->relay;
    const struct sockaddr *sa =
        otb_udp_names_find(r->names, OTB_UDP_NAMES, to->u.host, to->port, ev_now(r->loop));
    struct otb_udp_pending *p;

    if (sa) {
        otb_udp_server_send(a, sa, payload, len);
        return;
    }
    if (a->dns) {
        r->stats.dns_dropped++;
        return;
    }
    /* One copy per lookup, not per datagram: answers are cached. */
    p = malloc(sizeof(*p) + len);
    if (!p) {
        r->stats.errors++;
        return;
    }
    snprintf(p->host, sizeof(p->host), "%s", to->u.host);
    p->port = to->port;
    p->len = len;
    memcpy(p->data, payload, len);
    a->dns = otb_dns_resolve(r->egress->dns, to->u.host, to->port, otb_udp_server_resolved, a);
    if (!a->dns) {
        r->stats.errors++;
        free(p);
        return;
    }
    a->held = p;
}

/* The association of a box's datagram, remembering the DSCP it came with
 * (the box's class of it) for the way back. */
static struct otb_udp_assoc *otb_udp_server_assoc(struct otb_udprelay *r,
                                                  struct otb_udp_listener *l,
                                                  const struct sockaddr *from, int tos)
{
    struct otb_udp_assoc *a = otb_udp_assoc_get(r, l, from, 0);

    if (a && tos >= 0)
        a->tos = tos & 0xfc; /* DSCP only: ECN belongs to each hop pair */
    return a;
}

/* An authentic, fresh datagram from a box: apply the policy and relay it. */
static void otb_udp_server_route(struct otb_udprelay *r, struct otb_udp_listener *l,
                                 const struct sockaddr *from, const struct otb_addr *to,
                                 const uint8_t *payload, size_t len, int tos)
{
    struct sockaddr_storage ss;
    struct otb_udp_assoc *a;
    socklen_t sslen;

    if (otb_addr_to_sockaddr(to, &ss, &sslen) == 0) {
        if (!otb_egress_permits_addr(r->egress, (const struct sockaddr *)&ss)) {
            r->stats.acl_refused++;
            return;
        }
        if ((a = otb_udp_server_assoc(r, l, from, tos)))
            otb_udp_server_send(a, (const struct sockaddr *)&ss, payload, len);
        return;
    }
    if (!otb_egress_permits_host(r->egress, to->u.host)) {
        r->stats.acl_refused++;
        return;
    }
    if ((a = otb_udp_server_assoc(r, l, from, tos)))
        otb_udp_server_send_name(a, to, payload, len);
}

static void otb_udp_server_datagram(void *ctx, uint8_t *data, size_t n,
                                    const struct sockaddr *from, struct msghdr *msg)
{
    struct otb_udp_listener *l = ctx;
    struct otb_udprelay *r = l->relay;
    struct otb_addr to;
    size_t off, len;

    if (otb_udp_open_addr(&r->aead, r->master, data, n, r->plain, OTB_UDP_PLAIN_CAP, &to, &off,
                          &len) != OTB_OK) {
        r->stats.bad++;
        return;
    }
    /* Checked only once authentic: forged salts cannot fill the filter. */
    if (otb_replay_check_add(&r->replay, data, r->master->key_len)) {
        r->stats.replay++;
        return;
    }
    otb_udp_server_route(r, l, from, &to, r->plain + off, len, otb_udp_recv_tos(msg));
}

/* A fresh salt. randombytes_buf is one getrandom() system call per use
 * with the system's libsodium: drawing salts in bulk takes that cost off
 * every datagram. */
static const uint8_t *otb_udp_salt(struct otb_udprelay *r)
{
    size_t len = r->master->key_len;

    if (r->salts_used + len > sizeof(r->salts)) {
        randombytes_buf(r->salts, sizeof(r->salts));
        r->salts_used = 0;
    }
    r->salts_used += len;
    return r->salts + r->salts_used - len;
}

/* Puts the header of addr right before the payload (which has
 * OTB_UDP_PAYLOAD_OFF free bytes before it) and seals both into out.
 * Returns the packet length. */
static size_t otb_udp_seal_with(struct otb_udprelay *r, const struct otb_addr *addr,
                                uint8_t *payload, size_t len, uint8_t *out)
{
    uint8_t hdr[OTB_ADDR_MAX_LEN];
    size_t hlen = otb_addr_encode(addr, hdr);
    uint8_t *start = payload - hlen;

    memcpy(start, hdr, hlen);
    return otb_udp_seal(&r->aead, r->master, otb_udp_salt(r), start, hlen + len, out);
}

/* A datagram from any Internet host to the association's socket: back to the box. */
static void otb_udp_server_reply(void *ctx, uint8_t *data, size_t n, const struct sockaddr *from,
                                 struct msghdr *msg)
{
    struct otb_udp_assoc *a = ctx;
    struct otb_udprelay *r = a->relay;
    struct otb_addr src;
    uint8_t *out;

    if (otb_addr_from_sockaddr(&src, from) < 0)
        return;
    out = otb_udp_tx_slot(r, a->via->fd);
    otb_udp_tx_commit(r, otb_udp_seal_with(r, &src, data, n, out),
                      (const struct sockaddr *)&a->peer, OTB_UDP_DOWN, n, a->tos);
    otb_udp_assoc_touch(a);
    otb_udp_assoc_note_port(a, src.port);
}

static void otb_udp_server_reply_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_udp_assoc *a = w->data;

    otb_udp_drain(a->relay, w->fd, false, otb_udp_server_reply, a);
}

/* ========================================================= client role */

static int otb_udp_client_out_fd(struct otb_udp_assoc *a)
{
    struct otb_udprelay *r = a->relay;
    int fd;

    if (a->out[0].fd >= 0)
        return a->out[0].fd;
    /* Not connect()ed: the route, and so the source address, is chosen per
     * datagram, so traffic follows the routing when a WAN goes down. */
    fd = otb_udp_socket(a->server.ss_family, &r->out_opts);
    if (fd < 0) {
        r->stats.errors++;
        OTB_DEBUG(r->log, "udp: socket to the server: %s", strerror(-fd));
        return -1;
    }
    if (r->qos)
        otb_qos_mark_socket(fd, a->server.ss_family, a->qclass);
    otb_udp_sock_start(r, &a->out[0], fd);
    return fd;
}

/* The association's class after one more LAN datagram (tos: its TOS byte,
 * -1 unknown); a change is marked on the socket to the server at once, the
 * datagrams already queued for it going out first. */
static void otb_udp_client_classify(struct otb_udp_assoc *a, int tos, const struct otb_addr *to,
                                    size_t len)
{
    struct otb_udprelay *r = a->relay;
    struct sockaddr_storage ss;
    socklen_t sslen;
    const struct sockaddr *dst =
        otb_addr_to_sockaddr(to, &ss, &sslen) == 0 ? (const struct sockaddr *)&ss : NULL;
    enum otb_qos_class pkt = otb_qos_classify_udp(r->qos, tos < 0 ? 0 : (uint8_t)tos,
                                                  (const struct sockaddr *)&a->peer, dst,
                                                  to->port, len);
    enum otb_qos_class next = otb_qos_assoc_class(a->qclass, a->qseen, pkt);

    if (a->qseen < OTB_QOS_DECIDE_PACKETS)
        a->qseen++;
    if (next == a->qclass)
        return;
    a->qclass = next;
    if (a->out[0].fd < 0)
        return;
    if (r->tx->n && r->tx->fd == a->out[0].fd)
        otb_udp_tx_flush(r);
    otb_qos_mark_socket(a->out[0].fd, a->server.ss_family, next);
}

/* The server for a's next datagram: the relay's pick, so that associations
 * follow a failover instead of staying on a dead server while they are busy.
 * A change of family needs a new socket. false if there is none. */
static bool otb_udp_client_pick(struct otb_udp_assoc *a)
{
    struct otb_udprelay *r = a->relay;
    struct sockaddr_storage sa;
    socklen_t len;
    int idx = r->upstream.pick(r->upstream.arg, 0, &sa, &len);

    if (idx < 0) {
        r->stats.no_server++;
        return false;
    }
    if (idx == a->server_index)
        return true;
    if (a->out[0].fd >= 0 && sa.ss_family != a->server.ss_family)
        otb_udp_sock_close(r, &a->out[0]);
    a->server_index = idx;
    memcpy(&a->server, &sa, len);
    return true;
}

/* A LAN datagram to the server; with TPROXY, its original destination is
 * in the control message. */
static void otb_udp_client_datagram(void *ctx, uint8_t *data, size_t n,
                                    const struct sockaddr *from, struct msghdr *msg)
{
    struct otb_udp_listener *l = ctx;
    struct otb_udprelay *r = l->relay;
    struct sockaddr_storage orig;
    struct otb_addr dst;
    const struct otb_addr *to = &r->target;
    struct otb_udp_assoc *a;
    uint8_t *out;
    int fd;

    if (!r->forward) {
        if (!l->transparent || otb_udp_orig_dst(msg, &orig) < 0 ||
            otb_addr_from_sockaddr(&dst, (const struct sockaddr *)&orig) < 0) {
            r->stats.bad++;
            return;
        }
        to = &dst;
    }
    a = otb_udp_assoc_get(r, l, from, r->forward ? 0 : (uint8_t)orig.ss_family);
    if (!a || !otb_udp_client_pick(a))
        return;
    if (r->qos)
        otb_udp_client_classify(a, otb_udp_recv_tos(msg), to, n);
    if ((fd = otb_udp_client_out_fd(a)) < 0)
        return;
    out = otb_udp_tx_slot(r, fd);
    otb_udp_tx_commit(r, otb_udp_seal_with(r, to, data, n, out),
                      (const struct sockaddr *)&a->server, OTB_UDP_UP, n, -1);
    otb_udp_assoc_touch(a);
    otb_udp_assoc_note_port(a, to->port);
}

/* TPROXY: the socket that speaks as src to the LAN host, cached. fd or -1. */
static int otb_udp_client_reply_fd(struct otb_udp_assoc *a, const struct sockaddr *src)
{
    struct otb_udprelay *r = a->relay;
    struct otb_udp_reply *slot;
    struct otb_udp_key k;
    int fd;

    if (src->sa_family != a->peer.ss_family || otb_udp_key_set(&k, src, 0) < 0) {
        r->stats.bad++;
        return -1;
    }
    for (unsigned i = 0; i < a->nreplies; i++)
        if (memcmp(&a->replies[i].from, &k, sizeof(k)) == 0)
            return a->replies[i].fd;
    fd = otb_udp_transparent_socket(src);
    if (fd < 0) {
        r->stats.errors++;
        OTB_DEBUG(r->log, "udp: transparent reply socket: %s", strerror(-fd));
        return -1;
    }
    if (a->nreplies < OTB_UDP_REPLY_SOCKS) {
        slot = &a->replies[a->nreplies++];
    } else {
        slot = &a->replies[a->reply_next];
        a->reply_next = (a->reply_next + 1) % OTB_UDP_REPLY_SOCKS;
        otb_udp_tx_flush(r);
        close(slot->fd);
    }
    slot->from = k;
    slot->fd = fd;
    return fd;
}

/* A datagram from the server: opened and handed to the LAN host. */
static void otb_udp_client_deliver(void *ctx, uint8_t *data, size_t n,
                                   const struct sockaddr *sender, struct msghdr *msg)
{
    struct otb_udp_assoc *a = ctx;
    struct otb_udprelay *r = a->relay;
    struct sockaddr_storage src;
    struct otb_addr from;
    size_t off, len;
    socklen_t slen;
    int fd = a->via->fd;

    /* Only the server holds the key; anything else is noise or an attack. */
    if (!otb_udp_same_sockaddr(sender, (const struct sockaddr *)&a->server) ||
        otb_udp_open_addr(&r->aead, r->master, data, n, r->plain, OTB_UDP_PLAIN_CAP, &from, &off,
                          &len) != OTB_OK) {
        r->stats.bad++;
        return;
    }
    if (!r->forward) {
        if (otb_addr_to_sockaddr(&from, &src, &slen) < 0) {
            r->stats.bad++;
            return;
        }
        if ((fd = otb_udp_client_reply_fd(a, (const struct sockaddr *)&src)) < 0)
            return;
    }
    otb_udp_tx_queue(r, fd, r->plain + off, len, (const struct sockaddr *)&a->peer, OTB_UDP_DOWN);
    otb_udp_assoc_touch(a);
}

static void otb_udp_client_reply_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_udp_assoc *a = w->data;

    otb_udp_drain(a->relay, w->fd, false, otb_udp_client_deliver, a);
}

/* ============================================================== listeners */

static void otb_udp_listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_udp_listener *l = otb_container_of(w, struct otb_udp_listener, io);
    struct otb_udprelay *r = l->relay;

    /* Control messages always: the TOS of every datagram, TPROXY's destination. */
    otb_udp_drain(r, l->fd, true,
                  r->role == OTB_UDP_SERVER ? otb_udp_server_datagram : otb_udp_client_datagram,
                  l);
}

int otb_udprelay_listen(struct otb_udprelay *r, const struct sockaddr *sa, socklen_t len,
                        const struct otb_sock_opts *o)
{
    struct otb_udp_listener *l;
    int fd = otb_udp_listen_socket(sa, len, o);

    if (fd < 0)
        return fd;
    l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    l->fd = fd;
    l->transparent = o->transparent;
    l->relay = r;
    ev_io_init(&l->io, otb_udp_listener_cb, fd, EV_READ);
    ev_io_start(r->loop, &l->io);
    l->next = r->listeners;
    r->listeners = l;
    return 0;
}

int otb_udprelay_listen_host(struct otb_udprelay *r, const char *host, uint16_t port,
                             const struct otb_sock_opts *o)
{
    struct otb_sock_addr addrs[16];
    char err[256];
    int n = otb_sock_passive_addrs(host, port, SOCK_DGRAM, addrs, OTB_ARRAY_LEN(addrs), err,
                                   sizeof(err));

    if (n < 0) {
        OTB_ERR(r->log, "%s", err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].ss;
        char where[OTB_ADDR_FMT_LEN];
        int rc;

        otb_sockaddr_format(sa, where, sizeof(where));
        if ((rc = otb_udprelay_listen(r, sa, addrs[i].len, o)) < 0) {
            OTB_ERR(r->log, "listen on %s (UDP): %s", where, strerror(-rc));
            return -1;
        }
        OTB_INFO(r->log, "listening on %s (UDP%s)", where, o->transparent ? ", transparent" : "");
    }
    return 0;
}

/* ================================================================== relay */

int otb_udprelay_init(struct otb_udprelay *r, struct ev_loop *loop, const struct otb_logger *log,
                      const struct otb_master *master, enum otb_udp_role role, size_t max_assoc)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->log = log;
    r->master = master;
    r->role = role;
    r->max_assoc = max_assoc ? max_assoc : OTB_UDP_DEFAULT_MAX_ASSOC;
    r->idle_timeout = 60.;
    r->salts_used = sizeof(r->salts); /* drawn on first use */
    r->rx = malloc(sizeof(*r->rx));
    r->plain = malloc(OTB_UDP_PLAIN_CAP);
    r->tx = calloc(1, sizeof(*r->tx));
    if (!r->rx || !r->plain || !r->tx || otb_udp_table_init(&r->table, r->max_assoc) < 0)
        goto fail;
    /* Its own filter: a busy UDP relay must not shorten the TCP replay window. */
    if (role == OTB_UDP_SERVER && otb_replay_init(&r->replay, OTB_REPLAY_DEFAULT_CAPACITY) < 0)
        goto fail;
    return 0;
fail:
    otb_udprelay_destroy(r);
    return -ENOMEM;
}

void otb_udprelay_stop(struct otb_udprelay *r)
{
    struct otb_udp_link *l;
    uint64_t closed = 0; /* a stop is neither an eviction nor an expiry */

    r->stopped = true;
    if (r->tx)
        otb_udp_tx_flush(r);
    while (r->listeners) {
        struct otb_udp_listener *next = r->listeners->next;
        ev_io_stop(r->loop, &r->listeners->io);
        close(r->listeners->fd);
        free(r->listeners);
        r->listeners = next;
    }
    while (r->table.buckets && (l = otb_udp_table_oldest(&r->table)))
        otb_udp_assoc_close((struct otb_udp_assoc *)l, &closed);
}

void otb_udprelay_destroy(struct otb_udprelay *r)
{
    otb_udprelay_stop(r);
    otb_udp_table_free(&r->table);
    if (r->role == OTB_UDP_SERVER)
        otb_replay_free(&r->replay);
    free(r->rx);
    free(r->plain);
    free(r->tx);
    otb_aead_end(&r->aead);
    r->rx = NULL;
    r->tx = NULL;
    r->plain = NULL;
}

void otb_udprelay_write_json(const struct otb_udprelay *r, FILE *out)
{
    const struct otb_udp_counters *s = &r->stats;

    fprintf(out,
            ",\"udp\":{\"associations\":{\"active\":%llu,\"created\":%llu,\"evicted\":%llu,"
            "\"expired\":%llu,\"max\":%zu},"
            "\"up\":{\"packets\":%llu,\"bytes\":%llu},"
            "\"down\":{\"packets\":%llu,\"bytes\":%llu},"
            "\"refused\":{\"bad\":%llu,\"replay\":%llu,\"acl\":%llu},"
            "\"failures\":{\"dns\":%llu,\"dns_dropped\":%llu,\"send\":%llu,\"errors\":%llu,"
            "\"no_server\":%llu}}",
            (unsigned long long)s->assoc_active, (unsigned long long)s->assoc_created,
            (unsigned long long)s->assoc_evicted, (unsigned long long)s->assoc_expired,
            r->max_assoc, (unsigned long long)s->up_packets, (unsigned long long)s->up_bytes,
            (unsigned long long)s->down_packets, (unsigned long long)s->down_bytes,
            (unsigned long long)s->bad, (unsigned long long)s->replay,
            (unsigned long long)s->acl_refused, (unsigned long long)s->dns_fail,
            (unsigned long long)s->dns_dropped, (unsigned long long)s->send_errors,
            (unsigned long long)s->errors, (unsigned long long)s->no_server);
}

void otb_udprelay_log_stats(const struct otb_udprelay *r)
{
    const struct otb_udp_counters *s = &r->stats;

    OTB_INFO(r->log,
             "udp stats: assoc_active %llu assoc_created %llu assoc_evicted %llu "
             "assoc_expired %llu up_packets %llu up_bytes %llu down_packets %llu "
             "down_bytes %llu bad %llu replay %llu acl_refused %llu dns_fail %llu "
             "dns_dropped %llu send_errors %llu errors %llu no_server %llu",
             (unsigned long long)s->assoc_active, (unsigned long long)s->assoc_created,
             (unsigned long long)s->assoc_evicted, (unsigned long long)s->assoc_expired,
             (unsigned long long)s->up_packets, (unsigned long long)s->up_bytes,
             (unsigned long long)s->down_packets, (unsigned long long)s->down_bytes,
             (unsigned long long)s->bad, (unsigned long long)s->replay,
             (unsigned long long)s->acl_refused, (unsigned long long)s->dns_fail,
             (unsigned long long)s->dns_dropped, (unsigned long long)s->send_errors,
             (unsigned long long)s->errors, (unsigned long long)s->no_server);
}
