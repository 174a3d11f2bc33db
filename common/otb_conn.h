/* Inside the TCP relay: what its files (otb_pipe.c, otb_codec.c,
 * otb_conn_server.c, otb_conn_client.c, otb_listener.c, otb_relay.c) share.
 * Programs use otb_relay.h only. */
#ifndef OTB_CONN_H
#define OTB_CONN_H

#include "otb_relay.h"

/* What differs between a server connection, a client connection through a
 * server, and a direct client connection, once the pipes are generic. */
struct otb_conn_side {
    /* The outbound connect failed or timed out (why says which). */
    void (*failed)(struct otb_conn *c, const char *why);
    /* The outbound connect succeeded; relaying starts next. */
    void (*connected)(struct otb_conn *c);
    /* Connect to a resolved destination (not used through a server). */
    void (*reach)(struct otb_conn *c, const struct sockaddr *sa);
    /* Whether the egress policy applies: the server's outbound connections,
     * not the box's bypass, which the LAN host could reach anyway. */
    bool policed;
};

extern const struct otb_conn_side otb_conn_side_server;
extern const struct otb_conn_side otb_conn_side_upstream;
extern const struct otb_conn_side otb_conn_side_direct;

static inline bool otb_conn_gone(const struct otb_conn *c)
{
    return c->state == OTB_CONN_CLOSED;
}

static inline void otb_conn_touch(struct otb_conn *c)
{
    c->last_active = ev_now(c->relay->loop);
}

/* otb_pipe.c */
/* key: the connection's master key (it takes a reference). */
struct otb_conn *otb_conn_new(struct otb_relay *r, struct otb_relay_key *key,
                              const struct otb_codec *codec, const struct otb_conn_side *side);
void otb_conn_arm_timer(struct otb_conn *c, ev_tstamp after);
struct otb_buf *otb_pipe_buf(struct otb_relay *r, struct otb_buf **b);
void otb_pipe_release(struct otb_relay *r, struct otb_buf **b);
/* Starts the non-blocking connect of fd (already created) to sa. */
void otb_conn_connect(struct otb_conn *c, int fd, const struct sockaddr *sa);
/* The connection's class (otb_qos) marked on fd. */
void otb_conn_mark_class(struct otb_conn *c, int fd);

/* otb_conn_client.c */
/* Seal pipe: n bytes of data just written toward the server (kept while confirming). */
void otb_conn_keep_sent(struct otb_conn *c, const uint8_t *data, size_t n);
/* Timer of a confirming connection: true when it was handled (checked again later, or
 * started over through another WAN), false when the idle timer's logic applies. */
bool otb_conn_confirm_check(struct otb_conn *c);
/* Stops keeping the sent bytes. */
void otb_conn_unconfirm(struct otb_conn *c);

/* otb_conn_server.c */
/* HEADER state: replay check, then the address header. */
void otb_conn_header_progress(struct otb_conn *c);
/* A peer that failed authentication: read and discard until the timeout. */
void otb_conn_drain(struct otb_conn *c, const char *why, uint64_t *counter);
void otb_conn_drain_read(struct otb_conn *c);
/* Leaves the pre-authentication list (authenticated, or closed). */
void otb_conn_preauth_leave(struct otb_conn *c);
/* Connects to c->target, resolving a name first (server and direct). */
void otb_conn_begin_target(struct otb_conn *c);

/* otb_listener.c */
void otb_relay_resume_accept(struct otb_relay *r);
/* Pauses the listeners at the connection cap when no connection waiting
 * for authentication could make room. */
void otb_relay_check_cap(struct otb_relay *r);

/* Frees the connections closed during the last loop iteration. */
void otb_relay_reap_cb(struct ev_loop *loop, ev_check *w, int revents);

/* otb_relay.c: see otb_relay.h for otb_relay_key_new/put */

#endif
