/* Client side of a TCP connection (otb-redir, otb-tunnel): a LAN connection
 * goes to a server picked by the program (retried on the next server when
 * one does not answer), its early bytes and the address header sealed into
 * the first flight, over the relay's sockets or a pinned WAN's route; or,
 * for a bypass, directly to its destination with the identity codec. */
#include "otb_conn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void otb_conn_start_upstream(struct otb_conn *c, const char *why);

/* The socket toward the server, its first subflow bound to the WAN the
 * program prefers (a healthy one: a silent WAN keeps its routes, so the
 * routing alone would send the SYN into it). */
static int otb_conn_wan_socket(struct otb_conn *c, int family, bool *fell_back)
{
    struct otb_relay *r = c->relay;
    struct sockaddr_storage src;
    socklen_t len = 0;

    c->wan = -1;
    c->wan_delay = 0;
    if (r->upstream.source)
        c->wan = r->upstream.source(r->upstream.arg, family, c->wans_tried, &src, &len,
                                    &c->wan_delay);
    if (c->wan < 0)
        return otb_sock_outbound(family, &r->out_opts, NULL, 0, fell_back);
    c->wans_tried |= 1u << c->wan;
    return otb_sock_outbound(family, &r->out_opts, (struct sockaddr *)&src, len, fell_back);
}

/* ------------------------------------------------------ through a server */

/* sfd, made for this attempt (fell_back: plain TCP where MPTCP was asked), becomes the
 * connection's socket toward the server. */
static void otb_conn_take_socket(struct otb_conn *c, int sfd, bool fell_back)
{
    struct otb_relay *r = c->relay;

    otb_relay_note_fallback(r, fell_back);
    c->cipher_fd = sfd;
    otb_conn_mark_class(c, sfd);
    c->cipher_mptcp = (c->route ? c->route->opts.mptcp : r->out_opts.mptcp) && !fell_back;
}

/* Client: pick a server not tried yet for this connection and connect. */
static void otb_conn_start_upstream(struct otb_conn *c, const char *why)
{
    struct otb_relay *r = c->relay;
    struct sockaddr_storage server;
    socklen_t len;
    bool fell_back = false;
    int sfd;

    c->server_index = r->upstream.pick(r->upstream.arg, c->servers_tried, &server, &len);
    if (c->server_index < 0) {
        otb_conn_close(c, why);
        return;
    }
    if (c->route)
        sfd = otb_sock_outbound(server.ss_family, &c->route->opts,
                                c->route->bind_len ? (struct sockaddr *)&c->route->bind : NULL,
                                c->route->bind_len, &fell_back);
    else
        sfd = otb_conn_wan_socket(c, server.ss_family, &fell_back);
    if (sfd < 0) {
        r->stats.errors++;
        otb_conn_close(c, "upstream socket failed");
        return;
    }
    otb_conn_take_socket(c, sfd, fell_back);
    if (c->codec->request(c) < 0) {
        otb_conn_close(c, "out of memory");
        return;
    }
    otb_conn_connect(c, sfd, (const struct sockaddr *)&server);
    if (c->wan >= 0 && c->wan_delay > 0 && c->state == OTB_CONN_CONNECTING)
        otb_conn_arm_timer(c, c->wan_delay);
}

/* The server did not answer: forget this attempt and try the next WAN, or
 * the next server once every WAN was tried. */
static void otb_conn_upstream_failed(struct otb_conn *c, const char *why)
{
    struct otb_relay *r = c->relay;

    if (c->rerouted) {
        /* The stream's first bytes are in flight already: it cannot start over as a new
         * request (the early LAN bytes sealed into it are gone). */
        otb_conn_close(c, why);
        return;
    }
    if (c->wan >= 0 && c->wan_delay > 0) {
        /* Another WAN is left: the server is not to blame yet. */
        OTB_DEBUG(r->log, "[#%llu] %s through WAN %d: trying the next WAN",
                  (unsigned long long)c->id, why, c->wan);
        r->upstream.suspect(r->upstream.arg, c->wan);
    } else {
        r->upstream.report(r->upstream.arg, c->server_index, false);
        c->servers_tried |= 1u << c->server_index;
        c->wans_tried = 0;
    }
    ev_io_stop(r->loop, &c->outbound->wio);
    ev_timer_stop(r->loop, &c->timer);
    if (c->cipher_fd >= 0)
        close(c->cipher_fd);
    c->cipher_fd = -1;
    otb_pipe_release(r, &c->seal.out);
    c->codec->reset(c);
    otb_conn_start_upstream(c, why);
}

static void otb_conn_upstream_connected(struct otb_conn *c)
{
    c->relay->upstream.report(c->relay->upstream.arg, c->server_index, true);
    /* A connect that succeeded says the WAN was alive one round trip ago, not that the
     * stream gets through: keep what is sent until the server acknowledges it, while
     * another WAN is left to start over on. */
    c->confirming = c->wan >= 0 && c->wan_delay > 0 && !c->route;
}

void otb_conn_unconfirm(struct otb_conn *c)
{
    c->confirming = false;
    otb_pipe_release(c->relay, &c->unacked);
}

void otb_conn_keep_sent(struct otb_conn *c, const uint8_t *data, size_t n)
{
    struct otb_buf *b = otb_pipe_buf(c->relay, &c->unacked);

    if (!b || b->end + n > OTB_BUF_SIZE) { /* more than a buffer unacknowledged: let go */
        otb_conn_unconfirm(c);
        return;
    }
    memcpy(b->data + b->end, data, n);
    b->end += (uint32_t)n;
}

/* Starts the stream over through the next WAN: the same bytes (same salt: should the first
 * copy reach the server after all, its replay filter refuses one of the two, never serving
 * both), then whatever was waiting to be sent. 0, or -1 when it cannot (c unchanged). */
static int otb_conn_reroute(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *b = c->unacked;
    size_t pending = c->seal.out ? c->seal.out->end - c->seal.out->start : 0;
    struct sockaddr_storage server;
    socklen_t len = sizeof(server);
    struct linger now = { .l_onoff = 1, .l_linger = 0 };
    bool fell_back = false;
    int old_wan = c->wan, sfd;

    if (!b || b->start != 0 || b->end + pending > OTB_BUF_SIZE ||
        getpeername(c->cipher_fd, (struct sockaddr *)&server, &len) < 0)
        return -1;
    sfd = otb_conn_wan_socket(c, server.ss_family, &fell_back);
    if (sfd < 0 || c->wan < 0) { /* no WAN left to choose: the routing would pick the dead one */
        if (sfd >= 0)
            close(sfd);
        c->wan = old_wan;
        return -1;
    }
    if (pending)
        memcpy(b->data + b->end, c->seal.out->data + c->seal.out->start, pending);
    b->end += (uint32_t)pending;
    otb_pipe_release(r, &c->seal.out);
    c->seal.out = b;
    c->unacked = NULL;
    ev_io_stop(r->loop, &c->seal.rio);
    ev_io_stop(r->loop, &c->seal.wio);
    ev_io_stop(r->loop, &c->open.rio);
    ev_io_stop(r->loop, &c->open.wio);
    /* A reset, not a FIN after the old bytes: nothing more goes out through the dead WAN. */
    setsockopt(c->cipher_fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
    close(c->cipher_fd);
    OTB_INFO(r->log, "[#%llu] WAN %d went silent before the server acknowledged the stream: "
             "starting it over through WAN %d", (unsigned long long)c->id, old_wan, c->wan);
    r->stats.rerouted++;
    otb_conn_take_socket(c, sfd, fell_back);
    c->rerouted = true;
    c->confirming = false;
    c->seal.shut = false; /* a LAN half-close is passed on again, on the new socket */
    /* The whole connect timeout, not a WAN's few RTTs: a failure now closes the stream. */
    otb_conn_connect(c, sfd, (const struct sockaddr *)&server);
    return 0;
}

bool otb_conn_confirm_check(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    int outq = 0;

    if (!c->unacked || ev_now(r->loop) - c->last_active >= r->idle_timeout ||
        ioctl(c->cipher_fd, SIOCOUTQ, &outq) < 0 || outq < (int)otb_buf_len(c->unacked)) {
        /* Acknowledged, wholly or in part (the server has the start of the stream: starting
         * over would not be the same stream any more), or idle: the idle timer's business. */
        otb_conn_unconfirm(c);
        return false;
    }
    if (r->upstream.down && r->upstream.down(r->upstream.arg, c->wan) &&
        otb_conn_reroute(c) == 0)
        return true;
    if (r->upstream.suspect)
        r->upstream.suspect(r->upstream.arg, c->wan); /* probes faster: "down" sooner */
    otb_conn_arm_timer(c, c->wan_delay);
    return true;
}

const struct otb_conn_side otb_conn_side_upstream = {
    .failed = otb_conn_upstream_failed,
    .connected = otb_conn_upstream_connected,
};

/* ---------------------------------------------------------------- direct */

/* Client bypass: a plain connection to the destination itself. */
static void otb_conn_connect_direct(struct otb_conn *c, const struct sockaddr *sa)
{
    struct otb_relay *r = c->relay;
    struct otb_sock_opts opts = c->route ? c->route->opts : r->egress->opts;
    const struct sockaddr *bind_sa = NULL;
    socklen_t bind_len = 0;
    int fd;

    opts.mptcp = false; /* the Internet's servers do not speak MPTCP to us */
    if (c->route && c->route->bind_len) {
        bind_sa = (const struct sockaddr *)&c->route->bind;
        bind_len = c->route->bind_len;
    }
    fd = otb_sock_outbound(sa->sa_family, &opts, bind_sa, bind_len, NULL);
    if (fd < 0) {
        r->stats.errors++;
        otb_conn_close(c, "direct socket failed");
        return;
    }
    c->cipher_fd = fd;
    otb_conn_mark_class(c, fd);
    otb_conn_connect(c, fd, sa);
}

static void otb_conn_direct_failed(struct otb_conn *c, const char *why)
{
    otb_conn_close(c, why);
}

static void otb_conn_direct_connected(struct otb_conn *c)
{
    (void)c;
}

const struct otb_conn_side otb_conn_side_direct = {
    .failed = otb_conn_direct_failed,
    .connected = otb_conn_direct_connected,
    .reach = otb_conn_connect_direct,
};

/* ---------------------------------------------------------------- accept */

/* Common start of both client paths: the LAN socket, the target and the
 * early bytes kept for the first flight; NULL when refused. */
static struct otb_conn *otb_conn_new_client(struct otb_relay *r, int fd,
                                            const struct otb_addr *target, const uint8_t *early,
                                            size_t early_len, const struct otb_route *route,
                                            const struct otb_codec *codec,
                                            const struct otb_conn_side *side)
{
    struct otb_conn *c = otb_conn_new(r, r->key, codec, side);

    if (!c) {
        close(fd);
        return NULL;
    }
    c->plain_fd = fd;
    c->target = *target;
    c->outbound = &c->seal;
    c->route = route;
    if (early_len > OTB_RELAY_EARLY_MAX) {
        otb_conn_close(c, "too much early data");
        return NULL;
    }
    if (early_len > 0) {
        if (!otb_pipe_buf(r, &c->early)) {
            otb_conn_close(c, "out of memory");
            return NULL;
        }
        memcpy(c->early->data, early, early_len);
        c->early->end = (uint32_t)early_len;
    }
    return c;
}

void otb_relay_accept_direct(struct otb_relay *r, int fd, const struct otb_addr *target,
                             const uint8_t *early, size_t early_len,
                             const struct otb_route *route)
{
    struct otb_conn *c = otb_conn_new_client(r, fd, target, early, early_len, route,
                                             &otb_codec_identity, &otb_conn_side_direct);

    if (!c)
        return;
    /* No header: the first flight is the early bytes, sent once connected. */
    if (c->codec->request(c) < 0) {
        otb_conn_close(c, "out of memory");
        return;
    }
    otb_conn_begin_target(c);
}

void otb_relay_accept_plain(struct otb_relay *r, int fd, const struct otb_addr *target,
                            const uint8_t *early, size_t early_len,
                            const struct otb_route *route)
{
    struct otb_conn *c = otb_conn_new_client(r, fd, target, early, early_len, route,
                                             otb_codec_for(&r->key->master),
                                             &otb_conn_side_upstream);

    if (!c)
        return;
    if (otb_log_enabled(r->log, OTB_LOG_DEBUG)) {
        char to[OTB_ADDR_FMT_LEN];
        otb_addr_format(target, to, sizeof(to));
        OTB_DEBUG(r->log, "[#%llu] LAN connection to %s", (unsigned long long)c->id, to);
    }
    otb_conn_start_upstream(c, "no server available");
}
