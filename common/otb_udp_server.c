/* UDP relay, server role (otb-server): datagrams from boxes are opened,
 * replay-checked, checked against the egress policy (names resolved and
 * cached) and sent from the association's outbound sockets; what comes back
 * is sealed to the box. */
#include "otb_udp_inner.h"

#include "otb_probe.h"
#include "otb_shaper.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ========================================================= server role */

/* Outbound socket of a for family, created on first use. fd or -1 (counted). */
static int otb_udp_server_out_fd(struct otb_udp_assoc *a, int family)
{
    struct otb_udprelay *r = a->relay;
    struct otb_udp_sock *s = &a->out[family == AF_INET6];
    socklen_t bind_len;
    const struct sockaddr *bind_sa = otb_egress_bind(r->egress, family, &bind_len);
    int fd;

    if (s->io.fd >= 0)
        return s->io.fd;
    /* Bound to -b with any port, so the mapping is fixed from the first datagram. */
    fd = otb_sock_dgram(family, &r->egress->opts, bind_sa, bind_len);
    if (fd < 0) {
        r->stats.errors++;
        OTB_DEBUG(r->log, "udp: outbound socket: %s", strerror(-fd));
        return -1;
    }
    otb_udp_sock_start(r, s, fd);
    return fd;
}

/* Sends a permitted payload to a resolved destination. */
static void otb_udp_server_send(struct otb_udp_assoc *a, const struct sockaddr *dst,
                                const uint8_t *payload, size_t len)
{
    struct otb_udprelay *r = a->relay;
    struct sockaddr_storage real;
    /* A mapped IPv4 destination leaves from the IPv4 socket and source. */
    const struct sockaddr *to = otb_egress_unmap(dst, &real);
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
        /* Checked again: the ACL or this host's addresses may have changed. */
        if (!otb_egress_permits_addr(r->egress, sa))
            r->stats.acl_refused++;
        else
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

/* An authentic, fresh datagram from a box: apply the policy and relay it
 * through a (a 2022 session), or the association of the box's address. */
static void otb_udp_server_route(struct otb_udprelay *r, struct otb_udp_listener *l,
                                 const struct sockaddr *from, const struct otb_addr *to,
                                 const uint8_t *payload, size_t len, int tos,
                                 struct otb_udp_assoc *a)
{
    struct sockaddr_storage ss;
    socklen_t sslen;

    if (otb_addr_to_sockaddr(to, &ss, &sslen) == 0) {
        if (!otb_egress_permits_addr(r->egress, (const struct sockaddr *)&ss)) {
            r->stats.acl_refused++;
            return;
        }
        if (a || (a = otb_udp_server_assoc(r, l, from, tos)))
            otb_udp_server_send(a, (const struct sockaddr *)&ss, payload, len);
        return;
    }
    if (!otb_egress_permits_host(r->egress, to->u.host)) {
        r->stats.acl_refused++;
        return;
    }
    if (a || (a = otb_udp_server_assoc(r, l, from, tos)))
        otb_udp_server_send_name(a, to, payload, len);
}

/* A new session: our own session ID for the way back (never the client's)
 * and the subkeys of both. */
static void otb_udp_server_session_start(struct otb_udp_assoc *a, const uint8_t *client_sid,
                                         const uint8_t *client_subkey)
{
    const struct otb_master *m = a->relay->master;

    memcpy(a->ss22.peer_sid, client_sid, OTB_SS22_SID_LEN);
    do
        randombytes_buf(a->ss22.sid, OTB_SS22_SID_LEN);
    while (memcmp(a->ss22.sid, client_sid, OTB_SS22_SID_LEN) == 0);
    if (otb_ss22_udp_is_aes(m)) {
        memcpy(a->ss22.peer_subkey, client_subkey, m->key_len);
        otb_ss22_udp_subkey(m, a->ss22.sid, a->ss22.subkey);
    }
}

/* 2022: a fresh packet from `from`, the latest authentic address: the
 * session follows the box's WANs, the former address kept as its second
 * (voice duplication). */
static void otb_udp_server_moved(struct otb_udp_assoc *a, const struct sockaddr *from)
{
    struct otb_udp_key cur, k;

    if (otb_udp_key_set(&cur, &a->peer.sa, 0) < 0 || otb_udp_key_set(&k, from, 0) < 0 ||
        otb_udp_dup_fresh(&a->dup, &cur, &k, ev_now(a->relay->loop)))
        otb_udp_sockaddr_set(&a->peer, &a->peer_len, from);
}

/* 2022: a packet the window refused. true: the box's copy by its other WAN
 * (voice duplication), false: a replay. */
static bool otb_udp_server_copy(struct otb_udp_assoc *a, const struct sockaddr *from,
                                uint64_t pid)
{
    struct otb_udp_key cur, k;

    return otb_udp_key_set(&cur, &a->peer.sa, 0) == 0 &&
           otb_udp_key_set(&k, from, 0) == 0 &&
           otb_udp_dup_copy(&a->dup, &a->ss22.window, pid, &cur, &k,
                            ev_now(a->relay->loop));
}

/* 2022, voice: the reply just queued (len bytes at out) once more, to the
 * session's second address while the box sends from two (its copies
 * arrive from there). */
static void otb_udp_server_copy_reply(struct otb_udp_assoc *a, const uint8_t *out, size_t len,
                                      size_t payload)
{
    struct otb_udprelay *r = a->relay;
    struct sockaddr_storage ss;

    if (len == 0 || a->dup.second.family != a->peer.sa.sa_family ||
        !otb_udp_assoc_is_voice(a) || !otb_udp_dup_take(&a->dup, ev_now(r->loop)))
        return;
    otb_udp_dup_sockaddr(&a->dup.second, &ss);
    memcpy(otb_udp_tx_slot(r, a->via->fd), out, len);
    otb_udp_tx_commit(r, len, (const struct sockaddr *)&ss, OTB_UDP_DOWN, payload, a->tos);
    r->stats.dup_sent++;
}

/* A 2022 packet: opened with its session's subkey (derived for a new
 * session), its packet ID through the session's window; the session then
 * answers to the address it came from. */
static void otb_udp_server_datagram_2022(struct otb_udp_listener *l, uint8_t *data, size_t n,
                                         const struct sockaddr *from, struct msghdr *msg)
{
    struct otb_udprelay *r = l->relay;
    const struct otb_ss22_udp_key *k = otb_udp_ss22_key(r);
    struct otb_ss22_udp_msg m;
    struct otb_udp_assoc *a = NULL;
    uint8_t sid[OTB_SS22_SID_LEN], subkey[OTB_MAX_KEY_LEN];
    const uint8_t *key = subkey;
    struct otb_addr to;
    size_t off, len;
    bool created;
    int tos;

    if (otb_ss22_udp_is_aes(r->master)) {
        if (!otb_ss22_udp_peek(k, data, n, sid)) {
            r->stats.bad++;
            return;
        }
        if ((a = otb_udp_assoc_find_session(r, sid)))
            key = a->ss22.peer_subkey;
        else
            otb_ss22_udp_subkey(r->master, sid, subkey);
    }
    if (otb_ss22_udp_open(k, &r->aead, key, data, n, false, (uint64_t)ev_now(r->loop), &m,
                          r->plain, OTB_UDP_PLAIN_CAP, &to, &off, &len) != OTB_SS22_UDP_OK) {
        r->stats.bad++;
        return;
    }
    if (!(a = otb_udp_assoc_session(r, l, from, m.sid, &created)))
        return;
    if (created)
        otb_udp_server_session_start(a, m.sid, subkey);
    if (!otb_ss22_window_check(&a->ss22.window, m.pid)) {
        (*(otb_udp_server_copy(a, from, m.pid) ? &r->stats.dup_dropped : &r->stats.replay))++;
        return;
    }
    otb_udp_server_moved(a, from);
    if ((tos = otb_udp_recv_tos(msg)) >= 0)
        a->tos = tos & 0xfc;
    otb_udp_server_route(r, l, from, &to, r->plain + off, len, tos, a);
}

void otb_udp_server_datagram(void *ctx, uint8_t *data, size_t n,
                             const struct sockaddr *from, struct msghdr *msg)
{
    struct otb_udp_listener *l = ctx;
    struct otb_udprelay *r = l->relay;
    struct otb_addr to;
    size_t off, len;
    uint32_t kbit;

    /* The ACL's client lists, before any work on the datagram (health
     * probes included: a refused box learns nothing). */
    if (!otb_acl_client_permitted(r->egress->acl, from)) {
        r->stats.client_refused++;
        return;
    }
    /* A box's WAN health probe: too short to be a relayed datagram. */
    switch (otb_probe_answer(r->master, l->fd, data, n, from, &kbit)) {
    case 1:
        r->stats.probes++;
        if (kbit && r->shaper)
            otb_shaper_note(r->shaper, from, kbit);
        return;
    case -1:
        r->stats.bad++;
        return;
    }
    if (otb_method_is_2022(r->master->method)) {
        otb_udp_server_datagram_2022(l, data, n, from, msg);
        return;
    }
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
    otb_udp_server_route(r, l, from, &to, r->plain + off, len, otb_udp_recv_tos(msg), NULL);
}

/* The DSCP for an answer of len bytes from port: with download shaping, the
 * class of the answers counts too (otb_qos_answer_tos), since the shaper's
 * filters read it; else the box's. */
static int otb_udp_server_answer_tos(struct otb_udp_assoc *a, uint16_t port, size_t len)
{
    if (!a->relay->shaper)
        return a->tos;
    a->qclass = otb_qos_assoc_class(a->qclass, a->qseen, otb_qos_classify_answer(port, len));
    if (a->qseen < OTB_QOS_DECIDE_PACKETS)
        a->qseen++;
    return otb_qos_answer_tos(a->tos, a->qclass);
}

/* A datagram from any Internet host to the association's socket: back to the box. */
void otb_udp_server_reply(void *ctx, uint8_t *data, size_t n, const struct sockaddr *from,
                          struct msghdr *msg)
{
    struct otb_udp_assoc *a = ctx;
    struct otb_udprelay *r = a->relay;
    struct otb_addr src;
    uint8_t *out;
    size_t len;

    if (otb_addr_from_sockaddr(&src, from) < 0)
        return;
    out = otb_udp_tx_slot(r, a->via->fd);
    if (otb_method_is_2022(r->master->method)) {
        /* Session and packet IDs, and the server type, protect these. */
        len = otb_udp_ss22_seal(a, &src, data, n, out);
    } else {
        len = otb_udp_seal_with(r, &src, data, n, out);
        /* Our own salt recorded: this datagram, sent back to us from any
         * source, would open as a box's request (a reflector) under the same key. */
        otb_replay_check_add(&r->replay, out, r->master->key_len);
    }
    otb_udp_tx_commit(r, len, &a->peer.sa, OTB_UDP_DOWN, n,
                      otb_udp_server_answer_tos(a, src.port, n));
    if (otb_method_is_2022(r->master->method))
        otb_udp_server_copy_reply(a, out, len, n);
    otb_udp_assoc_touch(a);
    otb_udp_assoc_note_port(a, src.port);
}

