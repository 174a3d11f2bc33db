/* Connection/relay core shared by every program. Where the code lives:
 *   otb_pipe.c         the two pipes of a connection: backpressure,
 *                      half-close, timeouts, connect, teardown, reaper
 *   otb_codec.c        what the wire carries (AEAD stream, identity)
 *   otb_conn_server.c  server side: header, replay, draining, resolving
 *   otb_conn_client.c  client side: server pick and retry, early bytes,
 *                      routes, direct (bypass) connections
 *   otb_listener.c     listen, accept, pause on EMFILE or the connection cap
 *   otb_relay.c        the relay object: keys, counters, per-path bytes
 *
 * A connection joins a "plain" socket (LAN host, or the Internet destination
 * on the server) and a "cipher" socket carrying the Shadowsocks AEAD stream.
 * Two pipes move data: seal (plain -> cipher) and open (cipher -> plain).
 * Each pipe reads only while its output is empty (backpressure), passes its
 * source's EOF on as shutdown(SHUT_WR) of its sink (half-close), and gives its
 * buffers back to the pool as soon as they are empty. Every connection ends
 * in otb_conn_close(); the memory is freed after the loop's callbacks have
 * unwound. */
#ifndef OTB_RELAY_H
#define OTB_RELAY_H

#include <ev.h>
#include <sys/socket.h>

#include "otb_acl.h"
#include "otb_addr.h"
#include "otb_buf.h"
#include "otb_codec.h"
#include "otb_counters.h"
#include "otb_dns.h"
#include "otb_egress.h"
#include "otb_log.h"
#include "otb_mptcp.h"
#include "otb_qos.h"
#include "otb_replay.h"
#include "otb_saltpool.h"
#include "otb_sock.h"
#include "otb_srccount.h"
#include "otb_stream.h"

#define OTB_RELAY_MAX_PATHS 16

/* Early bytes must fit in the first sealed flight together with the header. */
#define OTB_RELAY_EARLY_MAX 4096

enum otb_conn_state {
    OTB_CONN_HEADER,     /* server: waiting for the salt and address header */
    OTB_CONN_RESOLVING,  /* server: DNS lookup of the destination */
    OTB_CONN_CONNECTING, /* outbound connect in progress */
    OTB_CONN_RELAYING,   /* data flows both ways */
    OTB_CONN_DRAINING,   /* server: bad or replayed stream; read and discard until timeout */
    OTB_CONN_CLOSED,     /* torn down; freed once the callbacks have unwound */
};

struct otb_conn;
struct otb_conn_side;

/* How a client connection leaves the box when it must not use the relay's
 * defaults: a LAN host pinned to one WAN goes out from that WAN's address,
 * with its mark, on plain TCP. Owned by the program, outlives connections. */
struct otb_route {
    struct otb_sock_opts opts;
    struct sockaddr_storage bind; /* source address; ss_family 0 = none */
    socklen_t bind_len;
};

struct otb_pipe {
    ev_io rio;           /* source readable */
    ev_io wio;           /* sink writable */
    struct otb_conn *conn;
    struct otb_buf *in;  /* open pipe: ciphertext not yet opened */
    struct otb_buf *out; /* bytes waiting for the sink */
    uint64_t bytes;      /* bytes written to the sink */
    bool eof;            /* source has ended */
    bool shut;           /* sink's write side shut down */
};

/* A master key and the connections started under it: a reload (SIGHUP) may
 * bring a new key for new connections while older ones finish with theirs. */
struct otb_relay_key {
    struct otb_master master;
    size_t users; /* connections, plus the relay while it is the current key */
};

struct otb_conn {
    struct otb_relay *relay;
    struct otb_relay_key *key;
    struct otb_conn *prev, *next;
    uint64_t id;
    enum otb_conn_state state;
    int plain_fd, cipher_fd;
    struct otb_pipe seal; /* plain -> cipher */
    struct otb_pipe open; /* cipher -> plain */
    struct otb_pipe *outbound; /* the pipe whose sink we connect() */
    ev_timer timer;            /* connect or idle timeout */
    ev_tstamp last_active;
    struct otb_dns_query *dns;
    /* What the wire ("cipher") socket carries: the AEAD stream, or plain
     * bytes for a direct connection of the box, whose wire socket goes
     * straight to the target. */
    const struct otb_codec *codec;
    union otb_codec_state codec_state;
    /* Server, client through a server, or direct: what to do when the
     * outbound connect succeeds or fails, how to reach a destination. */
    const struct otb_conn_side *side;
    bool salt_checked;
    /* Server: not authenticated yet (or draining): on the relay's preauth
     * list, oldest first, counted for its source, under a fixed deadline. */
    bool preauth;
    struct otb_conn *pprev, *pnext;
    ev_tstamp accepted;
    struct otb_src src;
    bool cipher_mptcp; /* cipher socket may carry MPTCP subflows: count per-path bytes */
    const struct otb_route *route; /* client: NULL = the relay's out_opts */
    int server_index; /* client: which server this connection uses */
    uint32_t servers_tried; /* client: bit per server index already tried */
    int wan;                /* client: WAN of this attempt (upstream.source), -1 = routing's */
    uint32_t wans_tried;    /* client: bit per WAN already tried with this server */
    ev_tstamp wan_delay;    /* client: how long this WAN's connect may take, 0 = timeout */
    struct otb_buf *early;  /* client: LAN bytes read before the relay started */
    /* Client through a server with another WAN left: the stream's bytes written while the
     * server has acknowledged none, kept so the stream can start over, byte for byte,
     * through another WAN when this one dies silently in its first round trips (an MPTCP
     * connection whose handshake's last ACK is lost can open no other subflow). Held for
     * those first round trips only. */
    bool confirming;
    bool rerouted; /* client: started over once already (a failed connect then closes) */
    struct otb_buf *unacked;
    struct otb_addr target;
};

enum otb_relay_role { OTB_ROLE_SERVER, OTB_ROLE_CLIENT };

struct otb_listener;

/* Client role: where to send the encrypted stream. The relay asks before each
 * connection and reports the outcome, so the program can health-check servers. */
struct otb_upstream_ops {
    /* index of the server to use (not one in the exclude bit mask), its
     * address in *sa; -1 if none is left */
    int (*pick)(void *arg, uint32_t exclude, struct sockaddr_storage *sa, socklen_t *len);
    void (*report)(void *arg, int index, bool ok);
    /* Optional (NULL: the routing chooses the WAN): the WAN for the next
     * attempt toward a server of family, not one in the tried bit mask; its
     * address in *src, and in *delay (may be NULL) how long a connect through
     * it may go unanswered before the next WAN is tried (0: no other WAN
     * left, use the connect timeout). Its index, or -1: no choice to make. */
    int (*source)(void *arg, int family, uint32_t tried, struct sockaddr_storage *src,
                  socklen_t *len, ev_tstamp *delay);
    /* A connect through WAN wan went unanswered. */
    void (*suspect)(void *arg, int wan);
    /* Data sent through WAN wan (heard false), or an answer received
     * (true): replies that stop coming make the WAN suspect at once. */
    void (*traffic)(void *arg, int wan, bool heard);
    /* Optional: whether WAN wan is declared down (no copy goes there). */
    bool (*down)(void *arg, int wan);
    void *arg;
};

struct otb_relay {
    struct ev_loop *loop;
    const struct otb_logger *log;
    struct otb_relay_key *key; /* for new connections */
    enum otb_relay_role role;
    struct otb_pool pool;
    uint8_t *scratch; /* OTB_BUF_SIZE, shared: only used within one callback */
    struct otb_counters stats;
    struct otb_replay *replay; /* server: salts seen (SIP004) */
    struct otb_saltpool salts2022; /* 2022 streams: request salts (server), response salts (client) */
    /* Where destinations are reached (server: every connection; client: the
     * direct ones): policy, resolver, source addresses, socket options.
     * Shared with the UDP relay, owned by the program. */
    const struct otb_egress *egress;
    struct otb_sock_opts out_opts; /* client: sockets toward the server */
    /* Marks connections by class (otb_qos: a voice port's TCP is interactive)
     * on the socket toward the server (client) or back to the box (server);
     * NULL = no marking. */
    const struct otb_qos_policy *qos;
    struct otb_upstream_ops upstream;
    ev_tstamp idle_timeout, connect_timeout;
    size_t nconns, max_conns;
    struct otb_conn *live, *dead;
    /* Server: connections whose first chunk has not authenticated, and the
     * draining ones. They must authenticate within preauth_timeout of the
     * accept (bytes do not push it back); one source holds at most
     * max_preauth_per_source of them; at max_conns the oldest is closed
     * for a new one instead of pausing the listeners. */
    ev_tstamp preauth_timeout;
    size_t max_preauth_per_source; /* 0 = no cap */
    struct otb_conn *preauth_oldest, *preauth_newest;
    struct otb_srccount sources;
    ev_check reaper;
    /* Bytes of finished connections per box-side address (one per WAN). */
    struct otb_mptcp_path paths[OTB_RELAY_MAX_PATHS];
    size_t npaths;
    struct otb_listener *listeners;
    uint64_t next_id;
    bool mptcp_fallback_logged;
    bool accept_paused;
    bool stopping;
};

typedef void (*otb_accept_cb)(struct otb_listener *l, int fd, const struct sockaddr *peer,
                              socklen_t len);

struct otb_listener {
    ev_io io;
    ev_timer retry; /* after EMFILE/ENFILE: accepting again later, not spinning */
    int fd;
    struct otb_relay *relay;
    otb_accept_cb on_accept;
    void *arg;
    struct otb_listener *next;
    bool fd_exhausted_logged;
};

/* A relay in role with master as the key of new connections; its buffer
 * pool starts empty. 0 or -ENOMEM. */
int otb_relay_init(struct otb_relay *r, struct ev_loop *loop, const struct otb_logger *log,
                   const struct otb_master *master, enum otb_relay_role role);
/* The key of new connections (a copy of master is kept); connections already
 * open finish with the key they started with. 0 or -ENOMEM. */
int otb_relay_set_master(struct otb_relay *r, const struct otb_master *master);
const struct otb_master *otb_relay_master(const struct otb_relay *r);
/* A key with one reference (its owner's), NULL when out of memory; each
 * connection started under it takes another. put drops one, the last frees. */
struct otb_relay_key *otb_relay_key_new(const struct otb_master *master);
void otb_relay_key_put(struct otb_relay_key *k);
/* Server: the pre-authentication limits (after max_conns is set). 0 or -ENOMEM. */
int otb_relay_set_preauth(struct otb_relay *r, ev_tstamp timeout, size_t per_source);
/* Closes every connection and frees what the relay owns (not egress/replay). */
void otb_relay_destroy(struct otb_relay *r);

void otb_listener_start(struct otb_relay *r, struct otb_listener *l, int fd, otb_accept_cb cb,
                        void *arg);
void otb_listener_stop(struct otb_listener *l);

/* Startup (blocking resolution): calls fn for every address host names for
 * socktype ("" = any address of both families), where being its text.
 * fn returns 0 to go on, 1 to stop there, -1 after logging a failure.
 * 0, or -1 (logged). Shared by the TCP and UDP listeners. */
typedef int (*otb_listen_fn)(void *arg, const struct sockaddr *sa, socklen_t len,
                             const char *where);
int otb_listen_each(const struct otb_logger *log, const char *host, uint16_t port, int socktype,
                    otb_listen_fn fn, void *arg);

/* Server: a box connected; its stream starts with the salt and address header. */
void otb_relay_accept_cipher(struct otb_relay *r, int fd, const struct sockaddr *peer);
/* The same under key instead of the relay's current key: a listener with its
 * own method and secret (otb-server's "listeners"). */
void otb_relay_accept_cipher_key(struct otb_relay *r, struct otb_relay_key *key, int fd,
                                 const struct sockaddr *peer);
/* Client: a LAN connection to target; opens the encrypted stream upstream.
 * early: bytes already read from fd (e.g. sent right after a SOCKS5 request),
 * relayed first; may be NULL; at most OTB_RELAY_EARLY_MAX bytes. If a server fails to connect, the next one is
 * tried. */
void otb_relay_accept_plain(struct otb_relay *r, int fd, const struct otb_addr *target,
                            const uint8_t *early, size_t early_len,
                            const struct otb_route *route);
/* Client: a LAN connection that bypasses the server: relayed as is to
 * target (a name is resolved with r->egress) through route (NULL: the
 * egress's socket options). */
void otb_relay_accept_direct(struct otb_relay *r, int fd, const struct otb_addr *target,
                             const uint8_t *early, size_t early_len,
                             const struct otb_route *route);

/* Stop accepting (graceful stop); connections go on. */
void otb_relay_stop_listeners(struct otb_relay *r);
void otb_relay_close_all(struct otb_relay *r, const char *reason);
void otb_relay_log_stats(const struct otb_relay *r);
/* Per-path bytes: finished connections plus the live ones. Returns the count. */
size_t otb_relay_paths(const struct otb_relay *r, struct otb_mptcp_path *out, size_t cap);
/* Whether a socket created with mptcp fell back to TCP: logs it once. */
void otb_relay_note_fallback(struct otb_relay *r, bool fell_back);

void otb_conn_close(struct otb_conn *c, const char *reason);

#endif
