/* The two pipes of a TCP connection and its life: seal (plain -> wire) and
 * open (wire -> plain) through the connection's codec, backpressure,
 * half-close, timeouts, the outbound connect, teardown and the reaper.
 * Which side (server, client, direct) and which codec a connection runs
 * is not known here: struct otb_conn_side and struct otb_codec say. */
#include "otb_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

static void otb_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void otb_pipe_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_pipe_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_conn_open_progress(struct otb_conn *c);

/* ---------------------------------------------------------------- helpers */

void otb_conn_arm_timer(struct otb_conn *c, ev_tstamp after)
{
    ev_timer_stop(c->relay->loop, &c->timer);
    ev_timer_set(&c->timer, after, 0.);
    ev_timer_start(c->relay->loop, &c->timer);
}

void otb_pipe_release(struct otb_relay *r, struct otb_buf **b)
{
    if (*b) {
        otb_pool_put(&r->pool, *b);
        *b = NULL;
    }
}

struct otb_buf *otb_pipe_buf(struct otb_relay *r, struct otb_buf **b)
{
    if (!*b)
        *b = otb_pool_get(&r->pool);
    return *b;
}

static void otb_pipe_init(struct otb_pipe *p, struct otb_conn *c)
{
    memset(p, 0, sizeof(*p));
    p->conn = c;
    ev_io_init(&p->rio, otb_pipe_read_cb, -1, EV_READ);
    ev_io_init(&p->wio, otb_pipe_write_cb, -1, EV_WRITE);
}

static void otb_pipe_stop(struct otb_relay *r, struct otb_pipe *p)
{
    ev_io_stop(r->loop, &p->rio);
    ev_io_stop(r->loop, &p->wio);
    otb_pipe_release(r, &p->in);
    otb_pipe_release(r, &p->out);
}

static bool otb_pipe_pending(const struct otb_pipe *p)
{
    return p->out && p->out->start < p->out->end;
}

/* ------------------------------------------------------------- lifecycle */

struct otb_conn *otb_conn_new(struct otb_relay *r, struct otb_relay_key *key,
                              const struct otb_codec *codec, const struct otb_conn_side *side)
{
    struct otb_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->relay = r;
    c->id = ++r->next_id;
    c->plain_fd = c->cipher_fd = -1;
    c->server_index = -1;
    c->wan = -1;
    otb_pipe_init(&c->seal, c);
    otb_pipe_init(&c->open, c);
    ev_timer_init(&c->timer, otb_conn_timer_cb, 1., 0.);
    c->key = key;
    c->key->users++;
    c->codec = codec;
    c->side = side;
    codec->init(c);
    otb_conn_touch(c);
    c->next = r->live;
    if (r->live)
        r->live->prev = c;
    r->live = c;
    r->nconns++;
    r->stats.accepted++;
    r->stats.active = r->nconns;
    /* A server connection joins the pre-authentication list first, which
     * can make room at the cap: it checks once it has authenticated. */
    if (side != &otb_conn_side_server)
        otb_relay_check_cap(r);
    return c;
}

static void otb_conn_unlink(struct otb_relay *r, struct otb_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        r->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = r->dead;
    r->dead = c;
}

/* The box-side end of each subflow names the WAN: our local address on the
 * box, the peer's on the server. */
static void otb_relay_count_paths(struct otb_relay *r, int fd)
{
    struct otb_mptcp_path sub[OTB_RELAY_MAX_PATHS];
    int n = otb_mptcp_subflows(fd, r->role == OTB_ROLE_SERVER, sub, OTB_ARRAY_LEN(sub));

    if (n > 0)
        r->npaths = otb_mptcp_paths_add(r->paths, r->npaths, OTB_ARRAY_LEN(r->paths), sub,
                                        (size_t)n);
}

void otb_conn_close(struct otb_conn *c, const char *reason)
{
    struct otb_relay *r = c->relay;

    if (otb_conn_gone(c))
        return;
    OTB_DEBUG(r->log, "[#%llu] closed: %s (to plain %llu B, to cipher %llu B)",
              (unsigned long long)c->id, reason, (unsigned long long)c->open.bytes,
              (unsigned long long)c->seal.bytes);
    c->state = OTB_CONN_CLOSED;
    otb_pipe_stop(r, &c->seal);
    otb_pipe_stop(r, &c->open);
    otb_pipe_release(r, &c->early);
    otb_pipe_release(r, &c->unacked);
    ev_timer_stop(r->loop, &c->timer);
    if (c->dns)
        otb_dns_cancel(c->dns);
    c->dns = NULL;
    if (c->cipher_mptcp && c->cipher_fd >= 0)
        otb_relay_count_paths(r, c->cipher_fd);
    if (c->plain_fd >= 0)
        close(c->plain_fd);
    if (c->cipher_fd >= 0)
        close(c->cipher_fd);
    c->plain_fd = c->cipher_fd = -1;
    c->codec->end(c);
    otb_conn_preauth_leave(c);
    otb_conn_unlink(r, c);
    r->nconns--;
    r->stats.active = r->nconns;
    r->stats.closed++;
    /* Freed from the check watcher: callers up the stack may still look at c->state. */
    ev_check_start(r->loop, &r->reaper);
    if (r->accept_paused && !r->stopping && r->nconns < r->max_conns)
        otb_relay_resume_accept(r);
    if (r->stopping && r->nconns == 0)
        ev_break(r->loop, EVBREAK_ALL);
}


void otb_relay_reap_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct otb_relay *r = otb_container_of(w, struct otb_relay, reaper);

    while (r->dead) {
        struct otb_conn *c = r->dead;
        r->dead = c->next;
        otb_relay_key_put(c->key);
        sodium_memzero(c, sizeof(*c)); /* stream state held subkeys */
        free(c);
    }
    ev_check_stop(loop, w);
}

/* --------------------------------------------------------------- writing */

static void otb_pipe_shutdown_sink(struct otb_conn *c, struct otb_pipe *p)
{
    if (p->shut)
        return;
    p->shut = true;
    shutdown(p->wio.fd, SHUT_WR);
    if (c->seal.shut && c->open.shut)
        otb_conn_close(c, "both directions finished");
}

/* Restart reading when the pipe may take more input. */
static void otb_pipe_resume(struct otb_conn *c, struct otb_pipe *p)
{
    if (c->state != OTB_CONN_RELAYING || p->eof || otb_pipe_pending(p))
        return;
    ev_io_start(c->relay->loop, &p->rio);
}

/* Writes what the pipe holds. 0 when done or blocked (watchers adjusted),
 * -errno on a write error. */
static int otb_pipe_flush(struct otb_conn *c, struct otb_pipe *p)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *b = p->out;

    while (b && b->start < b->end) {
        ssize_t n = send(p->wio.fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -errno;
        }
        if (p == &c->seal && c->confirming)
            otb_conn_keep_sent(c, b->data + b->start, (size_t)n);
        b->start += (uint32_t)n;
        p->bytes += (uint64_t)n;
        if (p == &c->seal)
            r->stats.bytes_cipher_out += (uint64_t)n;
        else
            r->stats.bytes_plain_out += (uint64_t)n;
        otb_conn_touch(c);
    }
    if (otb_pipe_pending(p)) {
        ev_io_stop(r->loop, &p->rio);
        ev_io_start(r->loop, &p->wio);
        return 0;
    }
    otb_pipe_release(r, &p->out);
    ev_io_stop(r->loop, &p->wio);
    if (p->eof && (p != &c->open || !p->in))
        otb_pipe_shutdown_sink(c, p);
    return 0;
}

static void otb_conn_flush_or_close(struct otb_conn *c, struct otb_pipe *p)
{
    int rc = otb_pipe_flush(c, p);

    if (rc < 0) {
        if (rc != -ECONNRESET && rc != -EPIPE)
            c->relay->stats.errors++;
        otb_conn_close(c, "write error");
    }
}

static void otb_pipe_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_pipe *p = otb_container_of(w, struct otb_pipe, wio);
    struct otb_conn *c = p->conn;

    otb_conn_flush_or_close(c, p);
    if (otb_conn_gone(c) || otb_pipe_pending(p))
        return;
    if (p == &c->open)
        otb_conn_open_progress(c); /* ciphertext may still wait in p->in */
    else
        otb_pipe_resume(c, p);
}

/* --------------------------------------------------------------- reading */

/* The connection's class on the wire (DSCP, priority) on fd, whose far end
 * is the box or the server: the same rule on both sides, from the target
 * port, so both directions carry the same class. Default needs no marking. */
void otb_conn_mark_class(struct otb_conn *c, int fd)
{
    struct otb_relay *r = c->relay;
    enum otb_qos_class cls;
    int family = AF_INET;
    socklen_t len = sizeof(family);

    if (!r->qos || fd < 0)
        return;
    cls = otb_qos_classify_tcp(r->qos, c->target.port);
    if (cls == OTB_QOS_DEFAULT)
        return;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
    otb_qos_mark_socket(fd, family, cls);
}

/* Decode what is buffered, deliver it, and read more only when everything
 * complete has been delivered (reading into a full input buffer would look
 * like EOF). */
static void otb_conn_open_progress(struct otb_conn *c)
{
    for (;;) {
        bool produced;

        if (c->codec->open_decode(c) == OTB_BAD) {
            if (c->state == OTB_CONN_HEADER) /* server: nothing answered yet */
                otb_conn_drain(c, "authentication failed", &c->relay->stats.auth_fail);
            else
                otb_conn_close(c, "authentication failed on established stream");
            return;
        }
        if (c->state == OTB_CONN_HEADER) {
            otb_conn_header_progress(c);
            return;
        }
        if (c->state != OTB_CONN_RELAYING)
            return;
        produced = otb_pipe_pending(&c->open);
        otb_conn_flush_or_close(c, &c->open);
        if (otb_conn_gone(c) || otb_pipe_pending(&c->open))
            return;
        if (!produced)
            break;
    }
    otb_pipe_resume(c, &c->open);
}

static void otb_pipe_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_pipe *p = otb_container_of(w, struct otb_pipe, rio);
    struct otb_conn *c = p->conn;
    int rc;

    if (c->state == OTB_CONN_DRAINING) {
        otb_conn_drain_read(c);
        return;
    }
    rc = p == &c->seal ? c->codec->seal_read(c) : c->codec->open_read(c);
    if (rc == 0)
        return;
    if (rc < -1) {
        /* A peer's reset is its business; errors count our own faults. */
        if (rc != -ECONNRESET)
            c->relay->stats.errors++;
        otb_conn_close(c, rc == -ENOMEM ? "out of memory" : rc == -ECONNRESET ? "reset by peer"
                                                                             : "read error");
        return;
    }
    if (rc == -1) {
        p->eof = true;
        ev_io_stop(loop, &p->rio);
        if (c->state != OTB_CONN_RELAYING) {
            otb_conn_close(c, "peer closed before the stream was set up");
            return;
        }
        if (p == &c->open && c->open.in)
            OTB_DEBUG(c->relay->log, "[#%llu] stream ended inside a chunk",
                      (unsigned long long)c->id);
        otb_pipe_release(c->relay, &p->in);
        otb_conn_flush_or_close(c, p);
        return;
    }
    otb_conn_touch(c);
    if (p == &c->seal)
        otb_conn_flush_or_close(c, p);
    else
        otb_conn_open_progress(c);
}

/* ------------------------------------------------------------- timeouts */

static void otb_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_conn *c = otb_container_of(w, struct otb_conn, timer);
    struct otb_relay *r = c->relay;
    ev_tstamp left;

    if (c->state == OTB_CONN_CONNECTING || c->state == OTB_CONN_RESOLVING) {
        r->stats.timeouts++;
        c->side->failed(c, c->state == OTB_CONN_RESOLVING ? "resolve timeout"
                                                          : "connect timeout");
        return;
    }
    if (c->confirming && otb_conn_confirm_check(c))
        return;
    /* Idle timer: re-armed lazily from last_active instead of on every byte. */
    left = c->last_active + r->idle_timeout - ev_now(loop);
    if (c->preauth && r->preauth_timeout > 0) {
        /* Fixed from the accept: bytes that do not authenticate buy no time. */
        ev_tstamp pre = c->accepted + r->preauth_timeout - ev_now(loop);
        if (pre <= 0.01 && pre <= left) {
            r->stats.preauth_timeouts++;
            otb_conn_close(c, "no authenticated request before the deadline");
            return;
        }
        left = OTB_MIN(left, pre);
    }
    if (left > 0.01) {
        otb_conn_arm_timer(c, left);
        return;
    }
    r->stats.timeouts++;
    otb_conn_close(c, "idle timeout");
}

/* ------------------------------------------------------------ connecting */

static void otb_conn_start_relay(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;

    c->state = OTB_CONN_RELAYING;
    otb_pipe_release(r, &c->early); /* sealed into the first flight already */
    ev_io_set(&c->seal.rio, c->plain_fd, EV_READ);
    ev_io_set(&c->open.rio, c->cipher_fd, EV_READ);
    ev_io_stop(r->loop, &c->outbound->wio);
    ev_set_cb(&c->outbound->wio, otb_pipe_write_cb);
    ev_io_set(&c->seal.wio, c->cipher_fd, EV_WRITE);
    ev_io_set(&c->open.wio, c->plain_fd, EV_WRITE);
    otb_conn_touch(c);
    otb_conn_arm_timer(c, c->confirming ? c->wan_delay : r->idle_timeout);
    /* Bytes that arrived with the header (server) or the header itself (client). */
    otb_conn_flush_or_close(c, &c->seal);
    if (otb_conn_gone(c))
        return;
    otb_pipe_resume(c, &c->seal);
    otb_conn_open_progress(c);
}

static void otb_conn_connected_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_pipe *p = otb_container_of(w, struct otb_pipe, wio);
    struct otb_conn *c = p->conn;
    struct otb_relay *r = c->relay;
    int err = otb_sock_error(w->fd);

    if (err) {
        r->stats.connect_fail++;
        OTB_DEBUG(r->log, "[#%llu] connect failed: %s", (unsigned long long)c->id,
                  strerror(-err));
        c->side->failed(c, "connect failed");
        return;
    }
    c->side->connected(c);
    otb_conn_start_relay(c);
}

/* Starts the non-blocking connect of fd (already created) to sa. */
void otb_conn_connect(struct otb_conn *c, int fd, const struct sockaddr *sa)
{
    struct otb_relay *r = c->relay;
    int rc = otb_sock_connect(fd, sa, otb_sockaddr_len(sa));

    if (rc < 0) {
        r->stats.connect_fail++;
        c->side->failed(c, "connect failed");
        return;
    }
    c->state = OTB_CONN_CONNECTING;
    ev_io_init(&c->outbound->wio, otb_conn_connected_cb, fd, EV_WRITE);
    ev_io_start(r->loop, &c->outbound->wio);
    otb_conn_arm_timer(c, r->connect_timeout);
}
