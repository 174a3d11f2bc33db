/* The UDP relay object: associations (created, touched, expired, evicted),
 * listeners, salts, counters. The roles are in otb_udp_server.c and
 * otb_udp_client.c, the I/O in otb_udp_io.c. */
#include "otb_udp_inner.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ============================================================ associations */

/* Memory per UDP session: at most 512 bytes of the server's heap, the
 * allocator's chunk header (16 bytes with glibc, rounding included) counted.
 * SIP004 associations and 2022 sessions have the same size: no side
 * allocation; only a client's TPROXY reply sockets come on top. */
#define OTB_UDP_ASSOC_BUDGET 512
_Static_assert(sizeof(struct otb_udp_assoc) + 16 <= OTB_UDP_ASSOC_BUDGET,
               "struct otb_udp_assoc outgrew the 512-byte budget per UDP session");

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

void otb_udp_assoc_touch(struct otb_udp_assoc *a)
{
    a->last_active = ev_now(a->relay->loop);
    otb_udp_table_touch(&a->relay->table, &a->link);
}

void otb_udp_assoc_note_port(struct otb_udp_assoc *a, uint16_t port)
{
    if (!a->voice && otb_udp_port_is_voice(port))
        a->voice = true; /* the sweep gives it the longer timeout */
}

void otb_udp_sock_close(struct otb_udprelay *r, struct otb_udp_sock *s)
{
    int fd = s->io.fd;

    if (fd < 0)
        return;
    otb_udp_tx_flush(r); /* nothing queued may outlive its descriptor */
    ev_io_stop(r->loop, &s->io);
    close(fd);
    ev_io_set(&s->io, -1, EV_READ);
}

/* Watchers are stopped before the memory goes, so nothing pending can reach it. */
void otb_udp_assoc_close(struct otb_udp_assoc *a, uint64_t *counter)
{
    struct otb_udprelay *r = a->relay;

    (*counter)++;
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

/* Between sweeps: a tenth of the idle timeout, within 0.1..1 s (an association outlives
 * its timeout by at most that). */
static ev_tstamp otb_udp_sweep_interval(const struct otb_udprelay *r)
{
    ev_tstamp t = r->idle_timeout / 10;
    return t < 0.1 ? 0.1 : t > 1. ? 1. : t;
}

static void otb_udp_sweep_arm(struct otb_udprelay *r)
{
    if (ev_is_active(&r->sweep) || r->table.count == 0 || r->stopped)
        return;
    ev_timer_set(&r->sweep, otb_udp_sweep_interval(r), 0.);
    ev_timer_start(r->loop, &r->sweep);
}

/* The LRU list runs from the most recently active to the least (every activity goes
 * through otb_udp_assoc_touch), so the idle ones are at its end: from there, close the
 * expired ones, pass over voice ones still within their longer timeout, and stop at the
 * first other one still within its timeout (all newer ones are too). */
static void otb_udp_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_udprelay *r = w->data;
    ev_tstamp now = ev_now(loop);
    struct otb_udp_link *l, *newer;

    (void)revents;
    for (l = r->table.lru.prev; l != &r->table.lru; l = newer) {
        struct otb_udp_assoc *a = (struct otb_udp_assoc *)l;

        newer = l->prev;
        if (now >= a->last_active + otb_udp_assoc_idle(a))
            otb_udp_assoc_close(a, &r->stats.assoc_expired);
        else if (!a->voice)
            break;
    }
    otb_udp_sweep_arm(r);
}

/* What comes back on an association's own socket: from the Internet to a
 * box (server), from the server to a LAN host (client). */
static void otb_udp_assoc_reply_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_udp_assoc *a = w->data;

    /* voice_duplicate: the local address a reply came to says its WAN. */
    otb_udp_drain(a->relay, w->fd, a->relay->role == OTB_UDP_CLIENT && a->relay->duplicate,
                  a->relay->role == OTB_UDP_SERVER ? otb_udp_server_reply : otb_udp_client_deliver,
                  a);
}

static void otb_udp_sock_init(struct otb_udp_sock *s, struct otb_udp_assoc *a)
{
    ev_io_init(&s->io, otb_udp_assoc_reply_cb, -1, EV_READ);
    s->io.data = a;
}

/* Gives the association socket s its descriptor and starts reading replies. */
void otb_udp_sock_start(struct otb_udprelay *r, struct otb_udp_sock *s, int fd)
{
    ev_io_set(&s->io, fd, EV_READ);
    ev_io_start(r->loop, &s->io);
}

/* Voice by any classification the relay has: a voice signalling port seen
 * (a->voice), the box's class (client), the DSCP the box marked (server). */
bool otb_udp_assoc_is_voice(const struct otb_udp_assoc *a)
{
    return a->voice || a->qclass == OTB_QOS_VOICE ||
           (a->tos >= 0 && otb_qos_from_tos((uint8_t)a->tos) == OTB_QOS_VOICE);
}

/* A full table may take a non-voice association, or a voice one whose
 * timeout has passed (not yet reaped by the sweep). */
static bool otb_udp_assoc_evictable(const struct otb_udp_link *l, void *arg)
{
    const struct otb_udp_assoc *a = (const struct otb_udp_assoc *)l;
    struct otb_udprelay *r = arg;

    return !otb_udp_assoc_is_voice(a) ||
           ev_now(r->loop) >= a->last_active + otb_udp_assoc_idle(a);
}

/* Room for a new association of k's client: 0, or -1 when the table is
 * full and nothing may go (counted: refused). */
static int otb_udp_assoc_make_room(struct otb_udprelay *r, const struct otb_udp_key *k)
{
    struct otb_udp_link *victim;

    if (r->table.count < r->max_assoc)
        return 0;
    victim = otb_udp_table_victim(&r->table, k, otb_udp_assoc_evictable, r);
    if (!victim) {
        r->stats.assoc_refused++;
        return -1;
    }
    otb_udp_assoc_close((struct otb_udp_assoc *)victim, &r->stats.assoc_evicted);
    return 0;
}

static struct otb_udp_assoc *otb_udp_assoc_new(struct otb_udprelay *r,
                                               struct otb_udp_listener *via,
                                               const struct sockaddr *peer,
                                               const struct otb_udp_key *k, uint64_t hash)
{
    struct otb_udp_assoc *a;

    if (otb_udp_assoc_make_room(r, k) < 0)
        return NULL;
    a = calloc(1, otb_udp_assoc_size(r));
    if (!a) {
        r->stats.errors++;
        return NULL;
    }
    a->relay = r;
    a->via = via;
    otb_udp_sockaddr_set(&a->peer, &a->peer_len, peer);
    a->link.key = *k;
    for (size_t i = 0; i < OTB_ARRAY_LEN(a->out); i++)
        otb_udp_sock_init(&a->out[i], a);
    if (r->role == OTB_UDP_CLIENT) {
        a->server_index = -1;
        a->wan = -1;
        a->dup_wan = -1;
    }
    a->tos = -1;
    a->last_active = ev_now(r->loop);
    if (otb_udp_table_insert(&r->table, &a->link, hash) < 0) {
        r->stats.errors++;
        free(a);
        return NULL;
    }
    otb_udp_sweep_arm(r);
    r->stats.assoc_created++;
    r->stats.assoc_active = r->table.count;
    return a;
}

/* The association of peer, created if needed; NULL if none can be made (counted). */
struct otb_udp_assoc *otb_udp_assoc_get(struct otb_udprelay *r,
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

/* A session's key in the table: its ID where an address would be, and a
 * family no socket address has. */
static void otb_udp_session_key(struct otb_udp_key *k, const uint8_t *sid)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->addr, sid, OTB_SS22_SID_LEN);
    k->family = AF_UNSPEC;
    k->sub = 0x22;
}

struct otb_udp_assoc *otb_udp_assoc_find_session(struct otb_udprelay *r, const uint8_t *sid)
{
    struct otb_udp_key k;

    otb_udp_session_key(&k, sid);
    return (struct otb_udp_assoc *)otb_udp_table_find(&r->table, &k,
                                                      otb_udp_table_hash(&r->table, &k));
}

struct otb_udp_assoc *otb_udp_assoc_session(struct otb_udprelay *r, struct otb_udp_listener *via,
                                            const struct sockaddr *peer, const uint8_t *sid,
                                            bool *created)
{
    struct otb_udp_key k;
    uint64_t hash;
    struct otb_udp_link *l;

    otb_udp_session_key(&k, sid);
    hash = otb_udp_table_hash(&r->table, &k);
    *created = false;
    if ((l = otb_udp_table_find(&r->table, &k, hash))) {
        ((struct otb_udp_assoc *)l)->via = via;
        return (struct otb_udp_assoc *)l;
    }
    *created = true;
    return otb_udp_assoc_new(r, via, peer, &k, hash);
}

const struct otb_ss22_udp_key *otb_udp_ss22_key(struct otb_udprelay *r)
{
    if (r->ss22key.master != r->master) /* first use, or a reload brought a new key */
        otb_ss22_udp_key_init(&r->ss22key, r->master);
    return &r->ss22key;
}

size_t otb_udp_ss22_seal(struct otb_udp_assoc *a, const struct otb_addr *addr,
                         const uint8_t *payload, size_t len, uint8_t *out)
{
    struct otb_udprelay *r = a->relay;
    struct otb_ss22_udp_msg msg = { .pid = a->ss22.next_pid++,
                                    .time = (uint64_t)ev_now(r->loop) };
    uint8_t hdr[OTB_ADDR_MAX_LEN];
    size_t hlen = otb_addr_encode(addr, hdr);

    memcpy(msg.sid, a->ss22.sid, OTB_SS22_SID_LEN);
    if (r->role == OTB_UDP_SERVER) {
        msg.type = OTB_SS22_TYPE_SERVER;
        memcpy(msg.client_sid, a->ss22.peer_sid, OTB_SS22_SID_LEN);
    }
    /* chacha: a fresh 24-byte nonce from the relay's random pool */
    return otb_ss22_udp_seal(otb_udp_ss22_key(r), &r->aead, a->ss22.subkey,
                             otb_ss22_udp_is_aes(r->master) ? NULL : otb_udp_salt(r), &msg, hdr,
                             hlen, payload, len, out);
}

/* A fresh salt. randombytes_buf is one getrandom() system call per use
 * with the system's libsodium: drawing salts in bulk takes that cost off
 * every datagram. */
const uint8_t *otb_udp_salt(struct otb_udprelay *r)
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
size_t otb_udp_seal_with(struct otb_udprelay *r, const struct otb_addr *addr,
                         uint8_t *payload, size_t len, uint8_t *out)
{
    uint8_t hdr[OTB_ADDR_MAX_LEN];
    size_t hlen = otb_addr_encode(addr, hdr);
    uint8_t *start = payload - hlen;

    memcpy(start, hdr, hlen);
    return otb_udp_seal(&r->aead, r->master, otb_udp_salt(r), start, hlen + len, out);
}


/* ============================================================== listeners */

/* Datagrams from peers: boxes (server), LAN hosts (client). */
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

struct otb_udp_listen_ctx {
    struct otb_udprelay *r;
    const struct otb_sock_opts *o;
};

static int otb_udp_listen_one(void *arg, const struct sockaddr *sa, socklen_t len,
                              const char *where)
{
    struct otb_udp_listen_ctx *x = arg;
    int rc = otb_udprelay_listen(x->r, sa, len, x->o);

    if (rc < 0) {
        OTB_ERR(x->r->log, "listen on %s (UDP): %s", where, strerror(-rc));
        return -1;
    }
    OTB_INFO(x->r->log, "listening on %s (UDP%s)", where,
             x->o->transparent ? ", transparent" : "");
    return 0;
}

int otb_udprelay_listen_host(struct otb_udprelay *r, const char *host, uint16_t port,
                             const struct otb_sock_opts *o)
{
    struct otb_udp_listen_ctx x = { r, o };

    return otb_listen_each(r->log, host, port, SOCK_DGRAM, otb_udp_listen_one, &x);
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
    ev_timer_init(&r->sweep, otb_udp_sweep_cb, 1., 0.);
    r->sweep.data = r;
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
    if (r->loop)
        ev_timer_stop(r->loop, &r->sweep);
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

/* One relay's counters with the values filled when read. */
static void otb_udprelay_snapshot_one(const struct otb_udprelay *r, struct otb_udp_counters *s)
{
    *s = r->stats;
    s->assoc_max = r->max_assoc;
    s->assoc_voice = 0;
    for (const struct otb_udp_link *l = r->table.lru.next; l != &r->table.lru; l = l->next) {
        const struct otb_udp_assoc *a = (const struct otb_udp_assoc *)l;
        s->assoc_voice += a->voice || a->qclass == OTB_QOS_VOICE;
    }
}

void otb_udprelay_snapshot(const struct otb_udprelay *r, struct otb_udp_counters *s)
{
    otb_udprelay_snapshot_one(r, s);
    for (const struct otb_udprelay *o = r->also; o; o = o->also) {
        struct otb_udp_counters more;

        otb_udprelay_snapshot_one(o, &more);
        for (size_t i = 0; i < otb_udp_counter_table.n; i++) {
            const struct otb_counter_desc *d = &otb_udp_counter_table.desc[i];
            uint64_t v = otb_counter_get(d, s) + otb_counter_get(d, &more);

            memcpy((char *)s + d->offset, &v, sizeof(v));
        }
    }
}

void otb_udprelay_write_json(const struct otb_udprelay *r, FILE *out)
{
    struct otb_udp_counters s;

    otb_udprelay_snapshot(r, &s);
    fputs(",\"udp\":{", out);
    otb_counters_write_json(&otb_udp_counter_table, &s, out);
    fputc('}', out);
}

void otb_udprelay_log_stats(const struct otb_udprelay *r)
{
    char line[OTB_COUNTERS_LINE_LEN];
    struct otb_udp_counters s;

    otb_udprelay_snapshot(r, &s);
    otb_counters_format_line(&otb_udp_counter_table, &s, line, sizeof(line));
    OTB_INFO(r->log, "udp stats: %s", line);
}

