/* UDP relay, client role (otb-tunnel): LAN datagrams are sealed to the
 * server the program picks, classed for QoS; replies go back from the
 * listening socket (forward mode) or a transparent socket per replying
 * address (TPROXY). */
#include "otb_udp_inner.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ========================================================= client role */

/* voice_duplicate: replies come with the local address they came to, which
 * says by which WAN (otb_udp_client_reply_wan). */
static void otb_udp_client_want_local(int fd, int family)
{
    int one = 1;

    if (family == AF_INET6)
        (void)setsockopt(fd, SOL_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
    else
        (void)setsockopt(fd, SOL_IP, IP_PKTINFO, &one, sizeof(one));
}

static int otb_udp_client_out_fd(struct otb_udp_assoc *a)
{
    struct otb_udprelay *r = a->relay;
    int fd;

    if (a->out[0].io.fd >= 0)
        return a->out[0].io.fd;
    /* Not connect()ed: the route, and so the source address, is chosen per
     * datagram, so traffic follows the routing when a WAN goes down. */
    fd = otb_sock_dgram(a->server.sa.sa_family, &r->out_opts, NULL, 0);
    if (fd < 0) {
        r->stats.errors++;
        OTB_DEBUG(r->log, "udp: socket to the server: %s", strerror(-fd));
        return -1;
    }
    if (r->qos)
        otb_qos_mark_socket(fd, a->server.sa.sa_family, a->qclass);
    if (r->duplicate)
        otb_udp_client_want_local(fd, a->server.sa.sa_family);
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
                                                  &a->peer.sa, dst,
                                                  to->port, len);
    enum otb_qos_class next = otb_qos_assoc_class(a->qclass, a->qseen, pkt);

    if (a->qseen < OTB_QOS_DECIDE_PACKETS)
        a->qseen++;
    if (next == a->qclass)
        return;
    a->qclass = next;
    if (a->out[0].io.fd < 0)
        return;
    if (r->tx->n && r->tx->fd == a->out[0].io.fd)
        otb_udp_tx_flush(r);
    otb_qos_mark_socket(a->out[0].io.fd, a->server.sa.sa_family, next);
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
    if (a->out[0].io.fd >= 0 && sa.ss_family != a->server.sa.sa_family)
        otb_udp_sock_close(r, &a->out[0]);
    a->server_index = idx;
    otb_udp_sockaddr_set(&a->server, &len, (const struct sockaddr *)&sa);
    return true;
}

/* The WAN a's next datagram leaves by: the best healthy one, asked on every
 * datagram so that a flow moves as soon as its WAN is declared down (the
 * socket is not bound: only the source address changes). Its address in
 * *src, or NULL: the routing chooses. */
static const struct sockaddr *otb_udp_client_wan(struct otb_udp_assoc *a,
                                                 struct sockaddr_storage *src)
{
    struct otb_udprelay *r = a->relay;
    socklen_t len;

    a->wan = r->upstream.source ? r->upstream.source(r->upstream.arg, a->server.sa.sa_family, 0,
                                                     src, &len, NULL)
                                : -1;
    if (a->wan < 0)
        return NULL;
    if (r->upstream.traffic)
        r->upstream.traffic(r->upstream.arg, a->wan, false);
    return (const struct sockaddr *)src;
}

/* Associations whose datagrams left by WAN wan, which just went down: they
 * move with their next datagram; the count is for the log. */
unsigned otb_udprelay_count_wan(const struct otb_udprelay *r, int wan)
{
    unsigned n = 0;

    for (const struct otb_udp_link *l = r->table.lru.next; l != &r->table.lru; l = l->next)
        if (((const struct otb_udp_assoc *)l)->wan == wan)
            n++;
    return n;
}

/* voice_duplicate: the datagram just queued (len bytes at out, to the
 * server through fd) once more, by another WAN that is not down. The same
 * packet: its packet ID makes it a copy, which the server drops. */
static void otb_udp_client_copy(struct otb_udp_assoc *a, int fd, const uint8_t *out, size_t len,
                                size_t payload)
{
    struct otb_udprelay *r = a->relay;
    struct otb_upstream_ops *up = &r->upstream;
    struct sockaddr_storage src;
    socklen_t slen;
    int second;

    a->dup_wan = -1;
    if (len == 0 || !up->source ||
        !otb_udp_dup_eligible(r->duplicate, otb_method_is_2022(r->master->method),
                              otb_udp_assoc_is_voice(a), a->wan))
        return;
    second = up->source(up->arg, a->server.sa.sa_family, 1u << a->wan, &src, &slen, NULL);
    if (!otb_udp_dup_second_ok(a->wan, second, second >= 0 && up->down && up->down(up->arg, second)))
        return;
    /* Taken after the original was committed: a full batch was sent, and
     * out still holds the packet. */
    memcpy(otb_udp_tx_slot(r, fd), out, len);
    otb_udp_tx_commit_from(r, len, &a->server.sa, OTB_UDP_UP, payload, -1,
                           (const struct sockaddr *)&src);
    r->stats.dup_sent++;
    a->dup_wan = second;
    if (up->traffic)
        up->traffic(up->arg, second, false);
}

/* The WAN a reply came by: without duplication the one a's latest datagram
 * left by; with it, the one of the local address it came to (a WAN's
 * address: the only candidate WAN in the mask), so that a WAN whose copies
 * stopped coming back is not kept alive by the other's. -1: unknown. */
static int otb_udp_client_reply_wan(struct otb_udp_assoc *a, struct msghdr *msg)
{
    struct otb_upstream_ops *up = &a->relay->upstream;
    struct sockaddr_storage local, ss;
    socklen_t len;
    const int wans[2] = { a->wan, a->dup_wan };

    if (!a->relay->duplicate)
        return a->wan;
    if (!up->source || !otb_udp_dup_recv_local(msg, &local))
        return -1;
    for (size_t i = 0; i < OTB_ARRAY_LEN(wans); i++)
        if (wans[i] >= 0 &&
            up->source(up->arg, local.ss_family, ~(1u << wans[i]), &ss, &len, NULL) == wans[i] &&
            otb_udp_same_sockaddr((const struct sockaddr *)&ss, (const struct sockaddr *)&local))
            return wans[i];
    return -1;
}

/* 2022: a LAN flow's session, started with its first datagram: a random
 * session ID, packet IDs from 0. */
static void otb_udp_client_session(struct otb_udp_assoc *a)
{
    const struct otb_master *m = a->relay->master;
    static const uint8_t zero[OTB_SS22_SID_LEN];

    if (memcmp(a->ss22.sid, zero, sizeof(zero)) != 0)
        return;
    do
        randombytes_buf(a->ss22.sid, OTB_SS22_SID_LEN);
    while (memcmp(a->ss22.sid, zero, sizeof(zero)) == 0);
    a->ss22.next_pid = 0;
    if (otb_ss22_udp_is_aes(m))
        otb_ss22_udp_subkey(m, a->ss22.sid, a->ss22.subkey);
}

/* 2022: a server's packet for a's session. Its session (one at a time: a
 * new one, after a server restart, replaces it, the timestamp bounding how
 * old a replayed packet of a former session can be) and its packet ID
 * through the window. 1: deliver it; 0: authentic but a copy (the server's
 * voice duplication) or a replay; -1: not authentic. Dropped ones counted. */
static int otb_udp_client_open_2022(struct otb_udp_assoc *a, uint8_t *data, size_t n,
                                     struct otb_addr *from, size_t *off, size_t *len)
{
    struct otb_udprelay *r = a->relay;
    const struct otb_ss22_udp_key *k = otb_udp_ss22_key(r);
    const struct otb_master *m = r->master;
    uint8_t sid[OTB_SS22_SID_LEN], subkey[OTB_MAX_KEY_LEN];
    const uint8_t *key = subkey;
    struct otb_ss22_udp_msg msg;

    if (otb_ss22_udp_is_aes(m)) {
        if (!otb_ss22_udp_peek(k, data, n, sid)) {
            r->stats.bad++;
            return -1;
        }
        if (a->ss22_peer_known && memcmp(sid, a->ss22.peer_sid, sizeof(sid)) == 0)
            key = a->ss22.peer_subkey;
        else
            otb_ss22_udp_subkey(m, sid, subkey);
    }
    if (otb_ss22_udp_open(k, &r->aead, key, data, n, true, (uint64_t)ev_now(r->loop), &msg,
                          r->plain, OTB_UDP_PLAIN_CAP, from, off, len) != OTB_SS22_UDP_OK ||
        memcmp(msg.client_sid, a->ss22.sid, OTB_SS22_SID_LEN) != 0) {
        r->stats.bad++;
        return -1;
    }
    if (!a->ss22_peer_known || memcmp(msg.sid, a->ss22.peer_sid, sizeof(msg.sid)) != 0) {
        memcpy(a->ss22.peer_sid, msg.sid, sizeof(msg.sid));
        if (key == subkey)
            memcpy(a->ss22.peer_subkey, subkey, sizeof(subkey));
        memset(&a->ss22.window, 0, sizeof(a->ss22.window));
        a->ss22_peer_known = true;
    }
    if (!otb_ss22_window_check(&a->ss22.window, msg.pid)) {
        /* Only the server's address gets here: a refused ID it sent within
         * the window is its second copy. */
        (*(otb_udp_dup_window_seen(&a->ss22.window, msg.pid) ? &r->stats.dup_dropped
                                                             : &r->stats.replay))++;
        return 0;
    }
    return 1;
}

/* A LAN datagram to the server; with TPROXY, its original destination is
 * in the control message. */
void otb_udp_client_datagram(void *ctx, uint8_t *data, size_t n,
                             const struct sockaddr *from, struct msghdr *msg)
{
    struct otb_udp_listener *l = ctx;
    struct otb_udprelay *r = l->relay;
    struct sockaddr_storage orig, src;
    size_t len;
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
        /* The server would send it back to us, and we to it again. */
        if (r->self && otb_selfaddr_is_self(r->self, (const struct sockaddr *)&orig,
                                            ev_now(r->loop))) {
            r->stats.self_refused++;
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
    if (otb_method_is_2022(r->master->method)) {
        otb_udp_client_session(a);
        len = otb_udp_ss22_seal(a, to, data, n, out);
    } else {
        len = otb_udp_seal_with(r, to, data, n, out);
    }
    otb_udp_tx_commit_from(r, len, &a->server.sa, OTB_UDP_UP, n, -1,
                           otb_udp_client_wan(a, &src));
    otb_udp_client_copy(a, fd, out, len, n);
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

    if (src->sa_family != a->peer.sa.sa_family || otb_udp_key_set(&k, src, 0) < 0) {
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
void otb_udp_client_deliver(void *ctx, uint8_t *data, size_t n,
                            const struct sockaddr *sender, struct msghdr *msg)
{
    struct otb_udp_assoc *a = ctx;
    struct otb_udprelay *r = a->relay;
    struct sockaddr_storage src;
    struct otb_addr from;
    size_t off, len;
    socklen_t slen;
    int fd = a->via->fd, rc = 1, wan;

    /* Only the server holds the key; anything else is noise or an attack. */
    if (!otb_udp_same_sockaddr(sender, &a->server.sa)) {
        r->stats.bad++;
        return;
    }
    if (otb_method_is_2022(r->master->method)) {
        rc = otb_udp_client_open_2022(a, data, n, &from, &off, &len);
    } else if (otb_udp_open_addr(&r->aead, r->master, data, n, r->plain, OTB_UDP_PLAIN_CAP,
                                 &from, &off, &len) != OTB_OK) {
        r->stats.bad++;
        rc = -1;
    }
    if (rc < 0)
        return;
    /* An authentic answer, a copy included, says its WAN works. */
    if ((wan = otb_udp_client_reply_wan(a, msg)) >= 0 && r->upstream.traffic)
        r->upstream.traffic(r->upstream.arg, wan, true);
    if (rc == 0)
        return;
    if (!r->forward) {
        if (otb_addr_to_sockaddr(&from, &src, &slen) < 0) {
            r->stats.bad++;
            return;
        }
        if ((fd = otb_udp_client_reply_fd(a, (const struct sockaddr *)&src)) < 0)
            return;
    }
    otb_udp_tx_queue(r, fd, r->plain + off, len, &a->peer.sa, OTB_UDP_DOWN);
    otb_udp_assoc_touch(a);
}

