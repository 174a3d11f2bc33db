/* UDP relay shared by otb-server and otb-tunnel: Shadowsocks AEAD datagrams,
 * one association per peer, full-cone NAT on the server.
 *
 * With a Shadowsocks 2022 method (otb_udp2022.h) an association is a
 * session: the server keys it by the client's session ID, not its address,
 * and answers to the latest address an authentic, fresh packet came from,
 * so a box that changes WAN keeps its session and its outbound sockets;
 * packet IDs pass a sliding window instead of the salt filter. With
 * voice_duplicate the client sends voice twice by two WANs and the server
 * answers voice to the session's two latest addresses (otb_udp_dup.h).
 *
 * Server role: every datagram from a box is opened (otb_udp_open_addr),
 * its salt checked against a replay filter, its destination checked against
 * the outbound policy (names resolved with c-ares), then sent from the
 * association's own outbound socket. The association is keyed by the box's
 * (address, port); its outbound sockets (one per address family, created
 * when first needed, bound to -b) accept datagrams from ANY Internet source,
 * and each goes back to the box sealed with a fresh salt and the source
 * address as header: endpoint-independent mapping and filtering, which
 * peer-to-peer games and VoIP rely on.
 *
 * Client role (otb-tunnel): datagrams from the LAN are sealed as
 * [dest header][payload] and sent to the server from the association's own
 * socket, so replies map back to the LAN source without a lookup. In
 * forward mode (-L) the destination is fixed and replies leave from the
 * listening socket; in TPROXY mode the destination is the packet's original
 * one and replies leave from a transparent socket bound to the replying
 * address, cached per association. Only the association's server may answer
 * it; replies are not replay-checked (a replayed reply only duplicates a
 * datagram, which UDP allows anyway).
 *
 * Associations live in a hash table (keyed SipHash: peers choose their
 * ports, so they must not be able to aim collisions) threaded on an LRU
 * list, and per client (peer address) on the client's own LRU list; when
 * the table is full a new association takes the least recently active one
 * of the heaviest client (its own client's first), never one of a lighter
 * client, and never a voice association before its timer has expired: if
 * nothing may go, the new one is refused (otb_udp_table_victim).
 * Each has an idle timer re-armed lazily from its last activity (longer for
 * associations that carried voice signalling). This module allocates
 * nothing per datagram: datagrams are read 16 at a time (recvmmsg) into slots owned by the
 * relay, and what they produce is sent 16 at a time per socket (sendmmsg)
 * from other slots, about 2 MiB per relay in all; sends are flushed before
 * the loop regains control. Bad datagrams are counted, never answered and
 * never logged one by one.
 *
 * Names (server): answers are kept OTB_UDP_NAME_TTL seconds in a small
 * cache shared by the associations, so a client sending every datagram to
 * the same name (ss-tunnel -L name:port) causes one lookup per TTL, not per
 * datagram. While an association waits for a lookup, its first datagram is
 * held (one copy per lookup) and sent when the answer comes; the ones that
 * arrive meanwhile are dropped and counted (dns_dropped). */
#ifndef OTB_UDPRELAY_H
#define OTB_UDPRELAY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "otb_acl.h"
#include "otb_addr.h"
#include "otb_counters.h"
#include "otb_crypto.h"
#include "otb_dns.h"
#include "otb_egress.h"
#include "otb_log.h"
#include "otb_qos.h"
#include "otb_relay.h"
#include "otb_replay.h"
#include "otb_selfaddr.h"
#include "otb_sock.h"
#include "otb_udp.h"
#include "otb_udp2022.h"

#define OTB_UDP_DEFAULT_MAX_ASSOC 4096
/* TPROXY: transparent reply sockets kept per association (one per replying
 * address); beyond that the oldest is replaced. */
#define OTB_UDP_REPLY_SOCKS 16
/* Idle timeout of associations that carried voice signalling: SIP phones
 * often send keep-alives only every few minutes. */
#define OTB_UDP_VOICE_TIMEOUT 300.
#define OTB_UDP_NAME_TTL 30.
#define OTB_UDP_NAMES 32 /* names cached by a server relay */
/* Salts drawn from the system at a time (128 of 32 bytes). */
#define OTB_UDP_SALT_POOL 4096

/* ------------------------------------------------ association table (pure) */

/* Compact, memcmp-able form of a peer address. */
struct otb_udp_key {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
    uint16_t port;    /* network byte order */
    uint8_t family;   /* AF_INET or AF_INET6 */
    uint8_t sub;      /* client: family of the destination; server: 0 */
};

/* Server, 2022 session: its second address, for voice duplication
 * (otb_udp_dup.h). */
struct otb_udp_dup {
    struct otb_udp_key second;    /* family 0: none */
    uint16_t credit;              /* reply copies the second may still get */
    ev_tstamp heard, second_heard; /* last packets from the latest and the second */
};

struct otb_udp_client;

struct otb_udp_link {
    struct otb_udp_link *hnext;      /* hash chain */
    struct otb_udp_link *prev, *next; /* LRU list, most recent first */
    struct otb_udp_link *cprev, *cnext; /* its client's LRU list, most recent first */
    struct otb_udp_client *client;
    struct otb_udp_key key;
};

/* A peer address (any port): a box on the server, a LAN host on the box.
 * Its associations are listed so a full table takes from the heaviest
 * client, never from a lighter one. */
struct otb_udp_client {
    struct otb_udp_client *hnext; /* hash chain */
    struct otb_udp_client *prev, *next; /* every client */
    struct otb_udp_key key;       /* the address, port and sub zero */
    uint64_t hash;
    size_t count;                 /* associations */
    struct otb_udp_link lru;      /* sentinel of cprev/cnext */
};

struct otb_udp_table {
    struct otb_udp_link **buckets;
    struct otb_udp_client **cbuckets; /* clients, as many buckets */
    size_t mask; /* bucket count - 1, a power of two minus one */
    size_t count;
    struct otb_udp_link lru; /* sentinel: lru.next newest, lru.prev oldest */
    struct otb_udp_client *clients;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
};

/* 0 or -ENOMEM. At least expected buckets (rounded up to a power of two). */
int otb_udp_table_init(struct otb_udp_table *t, size_t expected);
void otb_udp_table_free(struct otb_udp_table *t);
/* 0, or -EAFNOSUPPORT for anything but AF_INET/AF_INET6. */
int otb_udp_key_set(struct otb_udp_key *k, const struct sockaddr *sa, uint8_t sub);
uint64_t otb_udp_table_hash(const struct otb_udp_table *t, const struct otb_udp_key *k);
struct otb_udp_link *otb_udp_table_find(const struct otb_udp_table *t,
                                        const struct otb_udp_key *k, uint64_t hash);
/* l->key set by the caller, key not present, hash its otb_udp_table_hash (the caller's
 * lookup computed it); l becomes the newest. 0, or -ENOMEM (a new client could not be
 * made; l not inserted). */
int otb_udp_table_insert(struct otb_udp_table *t, struct otb_udp_link *l, uint64_t hash);
void otb_udp_table_remove(struct otb_udp_table *t, struct otb_udp_link *l);
/* Marks l as the most recently active. */
void otb_udp_table_touch(struct otb_udp_table *t, struct otb_udp_link *l);
/* Least recently active, or NULL if empty. */
struct otb_udp_link *otb_udp_table_oldest(const struct otb_udp_table *t);
/* Associations of the client (address) of k. */
size_t otb_udp_table_client_count(const struct otb_udp_table *t, const struct otb_udp_key *k);
/* Whether an association may be evicted (e.g. not voice before its timer). */
typedef bool (*otb_udp_evictable_fn)(const struct otb_udp_link *l, void *arg);
/* What a full table gives up for a new association of k's client: the
 * least recently active evictable association of the client holding the
 * most, among k's own client and those holding more than it; k's own
 * client first on a tie. So a client cycling ports only replaces its own
 * associations once it is the heaviest, and takes nothing from a lighter
 * one. NULL: nothing may go (refuse the new association). */
struct otb_udp_link *otb_udp_table_victim(const struct otb_udp_table *t,
                                          const struct otb_udp_key *k,
                                          otb_udp_evictable_fn evictable, void *arg);

/* Server: a name resolved lately. */
struct otb_udp_name {
    char host[256];
    uint16_t port;
    ev_tstamp expires; /* 0: free slot */
    struct sockaddr_storage addr;
};

/* The cached address of host:port at time now, or NULL. */
const struct sockaddr *otb_udp_names_find(const struct otb_udp_name *names, size_t n,
                                          const char *host, uint16_t port, ev_tstamp now);
/* Keeps an answer: in the slot of the same name, else in the one that
 * expires first (free and expired slots included). */
void otb_udp_names_put(struct otb_udp_name *names, size_t n, const char *host, uint16_t port,
                       const struct sockaddr *sa, ev_tstamp expires);

/* Whether a port is a well-known voice signalling port (SIP, STUN/TURN, IAX). */
bool otb_udp_port_is_voice(uint16_t port);
/* Original destination of a datagram read from a TPROXY socket, from its
 * IP_ORIGDSTADDR / IPV6_ORIGDSTADDR control message. 0 or -ENOENT. */
int otb_udp_orig_dst(struct msghdr *msg, struct sockaddr_storage *dst);
/* TOS (IPv4) or traffic class (IPv6) byte of a received datagram, from its
 * IP_TOS / IPV6_TCLASS control message; -1 when absent. */
int otb_udp_recv_tos(struct msghdr *msg);

/* ------------------------------------------------------------------- relay */

enum otb_udp_role { OTB_UDP_SERVER, OTB_UDP_CLIENT };

struct otb_udprelay;
struct otb_udp_batch;
struct otb_udp_txbatch;

struct otb_udp_listener {
    ev_io io;
    int fd;
    bool transparent; /* TPROXY: the destination comes from IP_ORIGDSTADDR */
    struct otb_udprelay *relay;
    struct otb_udp_listener *next;
};

struct otb_udp_sock {
    ev_io io; /* io.data: the association; io.fd: its descriptor, -1 = none */
};

/* Server: the datagram an association holds while its lookup runs. */
struct otb_udp_pending {
    char host[256];
    uint16_t port;
    size_t len;
    uint8_t data[];
};

/* An IPv4 or IPv6 socket address (the only families a UDP peer has) in 28
 * bytes, where sockaddr_storage takes 128: associations hold two, and their
 * size is the relay's memory per session. */
union otb_udp_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* Copies sa (AF_INET or AF_INET6) into *dst; its length in *len. */
static inline void otb_udp_sockaddr_set(union otb_udp_sockaddr *dst, socklen_t *len,
                                        const struct sockaddr *sa)
{
    socklen_t n = sa->sa_family == AF_INET6 ? sizeof(dst->in6) : sizeof(dst->in4);

    memcpy(dst, sa, n);
    *len = n;
}

/* TPROXY: a socket that speaks to the LAN host as one Internet address. */
struct otb_udp_reply {
    struct otb_udp_key from;
    int fd;
};

struct otb_udp_assoc {
    struct otb_udp_link link; /* first: the table hands back links */
    struct otb_udprelay *relay;
    struct otb_udp_listener *via; /* where the peer sends to us, and replies leave from */
    union otb_udp_sockaddr peer;  /* box (server role) or LAN host (client role) */
    socklen_t peer_len;
    /* idle expiry: the relay's sweep reads it along the table's LRU list */
    ev_tstamp last_active;
    bool voice;
    /* client: traffic class from the first datagrams (otb_qos), marked on out[0];
     * server with download shaping: that of the first answers (enum otb_qos_class) */
    uint8_t qclass;
    uint16_t qseen;
    /* server: DSCP+ECN byte of the box's latest datagram, copied onto the
     * datagrams back to it; -1 = none seen */
    int16_t tos;
    struct otb_udp_sock out[2]; /* server: by family, [0] IPv4, [1] IPv6; client: [0] */
    /* By role: a client association never answers a second address, a
     * server one never picks a server or a WAN (the 512-byte budget). */
    union {
        struct {
            /* client: the server this association uses, asked again on every datagram */
            int server_index;
            union otb_udp_sockaddr server;
            /* client: the WAN its latest datagram left by (upstream source), -1 = routing's */
            int wan;
            /* client: the WAN the latest copy left by (voice_duplicate), -1 = none */
            int dup_wan;
        };
        struct otb_udp_dup dup; /* server, 2022: the session's second address */
    };
    /* server: name resolution */
    struct otb_dns_query *dns;
    struct otb_udp_pending *held;
    /* Shadowsocks 2022: the association is a session. */
    struct otb_udp_ss22 {
        uint8_t sid[OTB_SS22_SID_LEN];      /* ours: packets we send carry it */
        uint8_t peer_sid[OTB_SS22_SID_LEN]; /* the other side's (server: the table key) */
        uint64_t next_pid;                  /* our next packet ID */
        struct otb_ss22_window window;      /* the other side's packet IDs */
        uint8_t subkey[OTB_MAX_KEY_LEN];      /* AES: of sid */
        uint8_t peer_subkey[OTB_MAX_KEY_LEN]; /* AES: of peer_sid */
    } ss22;
    bool ss22_peer_known; /* client: a server session was seen (here: no padding) */
    /* client, TPROXY: reply sockets, filled in order then replaced round-robin */
    unsigned nreplies, reply_next;
    struct otb_udp_reply replies[];
};

struct otb_udprelay {
    struct ev_loop *loop;
    const struct otb_logger *log;
    const struct otb_master *master;
    enum otb_udp_role role;
    struct otb_udp_table table;
    struct otb_udp_counters stats;
    size_t max_assoc;
    ev_tstamp idle_timeout;
    struct otb_udp_batch *rx;   /* received datagrams, used within one callback */
    struct otb_udp_txbatch *tx; /* datagrams to send, flushed before returning to the loop */
    uint8_t *plain;             /* one opened datagram */
    struct otb_aead aead;       /* re-keyed per datagram (each has its own salt) */
    struct otb_ss22_udp_key ss22key; /* 2022 methods: of master, set when master changes */
    uint8_t salts[OTB_UDP_SALT_POOL];
    size_t salts_used;
    struct otb_udp_listener *listeners;
    /* Further relays of the program whose counters are reported with this one's
     * (otb-server's "listeners" ports); NULL = none. */
    const struct otb_udprelay *also;
    /* Reaps idle associations from the LRU end: one timer for all of them, not 48 bytes
     * and a heap entry each (the 512-byte budget of a session). Runs while any exist. */
    ev_timer sweep;
    bool stopped;
    /* set by the program after init */
    struct otb_sock_opts out_opts; /* client: mark/iface of sockets toward the server */
    /* server: policy, resolver, -b and socket options of outbound sockets,
     * the same object as the TCP relay's */
    const struct otb_egress *egress;
    struct otb_shaper *shaper; /* server: learns the rates of rate probes, NULL = none */
    struct otb_replay replay;
    struct otb_udp_name names[OTB_UDP_NAMES];
    /* client */
    const struct otb_qos_policy *qos; /* classify and mark associations; NULL = no marking */
    struct otb_upstream_ops upstream; /* pick only: UDP has no connect to report */
    struct otb_selfaddr *self; /* TPROXY: own destinations are dropped, never relayed */
    bool forward;          /* -L: every datagram goes to target */
    bool duplicate;        /* voice_duplicate: voice datagrams by two WANs (2022) */
    struct otb_addr target;
};

/* 0 or -ENOMEM. max_assoc 0 = OTB_UDP_DEFAULT_MAX_ASSOC. */
int otb_udprelay_init(struct otb_udprelay *r, struct ev_loop *loop, const struct otb_logger *log,
                      const struct otb_master *master, enum otb_udp_role role, size_t max_assoc);
/* Closes everything and frees what the relay owns (not the egress). */
void otb_udprelay_destroy(struct otb_udprelay *r);
/* Bound UDP socket read by the relay. o: reuse_port and transparent (TPROXY,
 * with IP_RECVORIGDSTADDR) are used. 0 or -errno. */
int otb_udprelay_listen(struct otb_udprelay *r, const struct sockaddr *sa, socklen_t len,
                        const struct otb_sock_opts *o);
/* Resolves host (startup only: getaddrinfo) and listens on every address it
 * names; "" = every address of both families. 0 or -1 (logged). */
int otb_udprelay_listen_host(struct otb_udprelay *r, const char *host, uint16_t port,
                             const struct otb_sock_opts *o);
/* Graceful stop: UDP has nothing to finish, so listeners and associations
 * are closed at once. */
void otb_udprelay_stop(struct otb_udprelay *r);
/* Client: associations whose latest datagram left by WAN wan. */
unsigned otb_udprelay_count_wan(const struct otb_udprelay *r, int wan);
void otb_udprelay_log_stats(const struct otb_udprelay *r);
/* The counters with the values filled when read (table size, voice
 * associations), summed over r and the relays chained from it (also). */
void otb_udprelay_snapshot(const struct otb_udprelay *r, struct otb_udp_counters *s);
/* The counters as ',"udp":{...}' for the status document (otb_status_extra). */
void otb_udprelay_write_json(const struct otb_udprelay *r, FILE *out);

#endif
