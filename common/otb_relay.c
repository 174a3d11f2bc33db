#include "otb_relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Accepts taken per readiness event: bounded so one busy listener cannot
 * starve established connections. */
#define OTB_ACCEPT_BURST 64
#define OTB_POOL_KEEP 256

static void otb_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void otb_pipe_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_pipe_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_conn_connected_cb(struct ev_loop *loop, ev_io *w, int revents);
static void otb_conn_open_progress(struct otb_conn *c);
static void otb_conn_upstream_failed(struct otb_conn *c, const char *why);
static void otb_conn_connect_direct(struct otb_conn *c, const struct sockaddr *sa);
static void otb_relay_resume_accept(struct otb_relay *r);

/* ---------------------------------------------------------------- helpers */

static bool otb_conn_gone(const struct otb_conn *c)
{
    return c->state == OTB_CONN_CLOSED;
}

static void otb_conn_touch(struct otb_conn *c)
{
    c->last_active = ev_now(c->relay->loop);
}

static void otb_conn_arm_timer(struct otb_conn *c, ev_tstamp after)
{
    ev_timer_stop(c->relay->loop, &c->timer);
    ev_timer_set(&c->timer, after, 0.);
    ev_timer_start(c->relay->loop, &c->timer);
}

static void otb_pipe_release(struct otb_relay *r, struct otb_buf **b)
{
    if (*b) {
        otb_pool_put(&r->pool, *b);
        *b = NULL;
    }
}

static struct otb_buf *otb_pipe_buf(struct otb_relay *r, struct otb_buf **b)
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

static struct otb_conn *otb_conn_new(struct otb_relay *r)
{
    struct otb_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->relay = r;
    c->id = ++r->next_id;
    c->plain_fd = c->cipher_fd = -1;
    c->server_index = -1;
    otb_pipe_init(&c->seal, c);
    otb_pipe_init(&c->open, c);
    ev_timer_init(&c->timer, otb_conn_timer_cb, 1., 0.);
    c->key = r->key;
    c->key->users++;
    otb_stream_dec_init(&c->dec, &c->key->master);
    otb_conn_touch(c);
    c->next = r->live;
    if (r->live)
        r->live->prev = c;
    r->live = c;
    r->nconns++;
    r->stats.accepted++;
    r->stats.active = r->nconns;
    if (r->max_conns && r->nconns >= r->max_conns && !r->accept_paused) {
        OTB_WARN(r->log, "connection limit %zu reached: accepting paused until one closes",
                 r->max_conns);
        r->stats.limit_pauses++;
        otb_relay_stop_listeners(r);
        r->accept_paused = true;
    }
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
    otb_stream_enc_end(&c->enc);
    otb_stream_dec_end(&c->dec);
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

static void otb_relay_key_put(struct otb_relay_key *k)
{
    if (k && --k->users == 0) {
        sodium_memzero(k, sizeof(*k));
        free(k);
    }
}

static void otb_relay_reap_cb(struct ev_loop *loop, ev_check *w, int revents)
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

/* ------------------------------------------------------------ draining */

/* A peer that fails authentication gets no answer and no early close: it
 * cannot tell this server from any other silent service. */
static void otb_conn_drain(struct otb_conn *c, const char *why, uint64_t *counter)
{
    struct otb_relay *r = c->relay;

    (*counter)++;
    OTB_DEBUG(r->log, "[#%llu] %s: draining until timeout", (unsigned long long)c->id, why);
    c->state = OTB_CONN_DRAINING;
    ev_io_stop(r->loop, &c->seal.rio);
    ev_io_stop(r->loop, &c->seal.wio);
    ev_io_stop(r->loop, &c->open.wio);
    otb_pipe_release(r, &c->open.in);
    otb_pipe_release(r, &c->open.out);
    if (!ev_is_active(&c->open.rio))
        ev_io_start(r->loop, &c->open.rio);
}

static void otb_conn_drain_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    ssize_t n;

    do {
        n = recv(c->cipher_fd, r->scratch, OTB_BUF_SIZE, 0);
    } while (n > 0);
    if (n == 0)
        otb_conn_close(c, "peer closed while draining");
    else if (errno != EAGAIN && errno != EINTR)
        otb_conn_close(c, "read error while draining");
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

/* Direct connections: bytes go through unchanged. Same results as below. */
static int otb_copy_read(struct otb_conn *c, int fd, struct otb_pipe *p)
{
    struct otb_buf *b = otb_pipe_buf(c->relay, &p->out);
    ssize_t n;

    if (!b)
        return -ENOMEM;
    n = recv(fd, b->data + b->end, OTB_BUF_SIZE - b->end, 0);
    if (n <= 0) {
        if (b->start == b->end)
            otb_pipe_release(c->relay, &p->out);
        if (n == 0)
            return -1;
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    b->end += (uint32_t)n;
    return 1;
}

/* Reads plaintext and seals it into the pipe's output. 1 data, 0 nothing
 * (would block), -1 EOF, -errno error. */
static int otb_seal_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    if (c->direct)
        return otb_copy_read(c, c->plain_fd, &c->seal);
    struct otb_pipe *p = &c->seal;
    size_t salt_len = c->enc_started ? 0 : c->key->master.key_len;
    size_t max = otb_stream_max_plain(OTB_BUF_SIZE - salt_len);
    ssize_t n = recv(c->plain_fd, r->scratch, max, 0);
    struct otb_buf *b;

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    if (n == 0)
        return -1;
    if (!(b = otb_pipe_buf(r, &p->out)))
        return -ENOMEM;
    if (!c->enc_started) {
        uint8_t salt[OTB_MAX_SALT_LEN];
        randombytes_buf(salt, c->key->master.key_len);
        b->end += (uint32_t)otb_stream_enc_start(&c->enc, &c->key->master, salt,
                                                 b->data + b->end);
        c->enc_started = true;
    }
    b->end += (uint32_t)otb_stream_seal(&c->enc, r->scratch, (size_t)n, b->data + b->end);
    return 1;
}

/* Reads ciphertext into the open pipe's input buffer. Same results. */
static int otb_open_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *in;
    ssize_t n;

    if (c->direct)
        return otb_copy_read(c, c->cipher_fd, &c->open);
    if (!(in = otb_pipe_buf(r, &c->open.in)))
        return -ENOMEM;
    n = recv(c->cipher_fd, in->data + in->end, OTB_BUF_SIZE - in->end, 0);
    if (n < 0) {
        if (in->end == 0)
            otb_pipe_release(r, &c->open.in);
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    if (n == 0) {
        if (in->end == 0)
            otb_pipe_release(r, &c->open.in);
        return -1;
    }
    in->end += (uint32_t)n;
    otb_conn_touch(c);
    return 1;
}

/* Opens complete chunks from open.in into open.out. OTB_OK/OTB_BAD. */
static int otb_open_decode(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *in = c->open.in, *out;
    size_t used, made;
    int rc;

    if (!in || in->start == in->end)
        return OTB_OK;
    if (!(out = otb_pipe_buf(r, &c->open.out)))
        return OTB_BAD;
    if (out->start == out->end)
        out->start = out->end = 0;
    rc = otb_stream_open(&c->dec, in->data + in->start, in->end - in->start, &used,
                         out->data + out->end, OTB_BUF_SIZE - out->end, &made);
    in->start += (uint32_t)used;
    out->end += (uint32_t)made;
    if (in->start == in->end) {
        otb_pipe_release(r, &c->open.in);
    } else if (in->start > 0) {
        memmove(in->data, in->data + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    if (c->open.out->start == c->open.out->end)
        otb_pipe_release(r, &c->open.out);
    return rc == OTB_BAD ? OTB_BAD : OTB_OK;
}

static void otb_conn_begin_target(struct otb_conn *c);

/* The connection's class on the wire (DSCP, priority) on fd, whose far end
 * is the box or the server: the same rule on both sides, from the target
 * port, so both directions carry the same class. Default needs no marking. */
static void otb_conn_mark_class(struct otb_conn *c, int fd)
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

/* Server, HEADER state: check the salt once, then wait for a whole address header. */
static void otb_conn_header_progress(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *out = c->open.out;
    size_t used;
    int rc;

    if (!c->salt_checked && c->dec.state != OTB_DEC_SALT) {
        c->salt_checked = true;
        if (r->replay && otb_replay_check_add(r->replay, c->dec.salt, c->key->master.key_len)) {
            otb_conn_drain(c, "replayed salt", &r->stats.replay);
            return;
        }
    }
    if (!out)
        return;
    rc = otb_addr_parse(out->data + out->start, out->end - out->start, &c->target, &used);
    if (rc == OTB_BAD || (rc == OTB_NEED_MORE && out->end - out->start >= OTB_ADDR_MAX_LEN)) {
        otb_conn_drain(c, "bad address header", &r->stats.bad_header);
        return;
    }
    if (rc == OTB_NEED_MORE)
        return;
    out->start += (uint32_t)used;
    if (out->start == out->end)
        otb_pipe_release(r, &c->open.out);
    ev_io_stop(r->loop, &c->open.rio); /* the rest waits for the destination */
    otb_conn_mark_class(c, c->cipher_fd);
    otb_conn_begin_target(c);
}

/* Decode what is buffered, deliver it, and read more only when everything
 * complete has been delivered (reading into a full input buffer would look
 * like EOF). */
static void otb_conn_open_progress(struct otb_conn *c)
{
    for (;;) {
        bool produced;

        if (otb_open_decode(c) == OTB_BAD) {
            if (c->relay->role == OTB_ROLE_SERVER && c->state == OTB_CONN_HEADER)
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
    rc = p == &c->seal ? otb_seal_read(c) : otb_open_read(c);
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
        if (r->role == OTB_ROLE_CLIENT && !c->direct)
            otb_conn_upstream_failed(c, "connect timeout");
        else
            otb_conn_close(c, c->state == OTB_CONN_RESOLVING ? "resolve timeout"
                                                             : "connect timeout");
        return;
    }
    /* Idle timer: re-armed lazily from last_active instead of on every byte. */
    left = c->last_active + r->idle_timeout - ev_now(loop);
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
    otb_conn_arm_timer(c, r->idle_timeout);
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
        if (r->role == OTB_ROLE_CLIENT && !c->direct)
            otb_conn_upstream_failed(c, "connect failed");
        else
            otb_conn_close(c, "connect failed");
        return;
    }
    if (r->role == OTB_ROLE_CLIENT && !c->direct)
        r->upstream.report(r->upstream.arg, c->server_index, true);
    otb_conn_start_relay(c);
}

/* Starts the non-blocking connect of fd (already created) to sa. */
static void otb_conn_connect(struct otb_conn *c, int fd, const struct sockaddr *sa)
{
    struct otb_relay *r = c->relay;
    int rc = otb_sock_connect(fd, sa, otb_sockaddr_len(sa));

    if (rc < 0) {
        r->stats.connect_fail++;
        if (r->role == OTB_ROLE_CLIENT && !c->direct)
            otb_conn_upstream_failed(c, "connect failed");
        else
            otb_conn_close(c, "connect failed");
        return;
    }
    c->state = OTB_CONN_CONNECTING;
    ev_io_init(&c->outbound->wio, otb_conn_connected_cb, fd, EV_WRITE);
    ev_io_start(r->loop, &c->outbound->wio);
    otb_conn_arm_timer(c, r->connect_timeout);
}

/* Server: connect to one resolved, permitted destination. */
static void otb_conn_connect_target(struct otb_conn *c, const struct sockaddr *sa)
{
    struct otb_relay *r = c->relay;
    const struct sockaddr *bind_sa;
    socklen_t bind_len;
    bool fell_back = false;
    int fd;

    if (!otb_egress_permits_addr(r->egress, sa)) {
        char where[OTB_ADDR_FMT_LEN];
        r->stats.acl_refused++;
        otb_sockaddr_format(sa, where, sizeof(where));
        OTB_INFO(r->log, "[#%llu] destination %s refused by the outbound block list",
                 (unsigned long long)c->id, where);
        otb_conn_close(c, "destination refused");
        return;
    }
    bind_sa = otb_egress_bind(r->egress, sa->sa_family, &bind_len);
    fd = otb_sock_outbound(sa->sa_family, &r->egress->opts, bind_sa, bind_len, &fell_back);
    if (fd < 0) {
        r->stats.errors++;
        OTB_WARN(r->log, "[#%llu] outbound socket: %s", (unsigned long long)c->id,
                 strerror(-fd));
        otb_conn_close(c, "outbound socket failed");
        return;
    }
    c->plain_fd = fd;
    otb_conn_connect(c, fd, sa);
}

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

static void otb_conn_resolved(void *arg, int status, const struct sockaddr_storage *addrs,
                              size_t n)
{
    struct otb_conn *c = arg;
    struct otb_relay *r = c->relay;
    const struct sockaddr *to;

    c->dns = NULL;
    if (status != 0) {
        r->stats.dns_fail++;
        OTB_DEBUG(r->log, "[#%llu] resolve failed: %s", (unsigned long long)c->id,
                  strerror(-status));
        otb_conn_close(c, "resolve failed");
        return;
    }
    if (c->direct) {
        otb_conn_connect_direct(c, (const struct sockaddr *)&addrs[0]);
        return;
    }
    /* No permitted address: the first one, refused (and logged) as such. */
    to = otb_egress_first_permitted(r->egress, addrs, n);
    otb_conn_connect_target(c, to ? to : (const struct sockaddr *)&addrs[0]);
}

static void otb_conn_begin_target(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct sockaddr_storage ss;
    socklen_t len;

    if (otb_addr_to_sockaddr(&c->target, &ss, &len) == 0) {
        if (c->direct)
            otb_conn_connect_direct(c, (const struct sockaddr *)&ss);
        else
            otb_conn_connect_target(c, (const struct sockaddr *)&ss);
        return;
    }
    if (!c->direct && !otb_egress_permits_host(r->egress, c->target.u.host)) {
        r->stats.acl_refused++;
        otb_conn_close(c, "destination name refused by the ACL");
        return;
    }
    c->state = OTB_CONN_RESOLVING;
    c->dns = otb_dns_resolve(r->egress->dns, c->target.u.host, c->target.port, otb_conn_resolved, c);
    if (!c->dns) {
        otb_conn_close(c, "out of memory");
        return;
    }
    otb_conn_arm_timer(c, r->connect_timeout);
}

/* ---------------------------------------------------------------- accept */

void otb_relay_accept_cipher(struct otb_relay *r, int fd, const struct sockaddr *peer)
{
    struct otb_conn *c = otb_conn_new(r);

    if (!c) {
        close(fd);
        return;
    }
    if (otb_log_enabled(r->log, OTB_LOG_DEBUG)) {
        char from[OTB_ADDR_FMT_LEN];
        otb_sockaddr_format(peer, from, sizeof(from));
        OTB_DEBUG(r->log, "[#%llu] accepted from %s", (unsigned long long)c->id, from);
    }
    c->state = OTB_CONN_HEADER;
    c->cipher_fd = fd;
    c->cipher_mptcp = true; /* cheap to ask; plain TCP clients just report no subflows */
    c->outbound = &c->open;
    ev_io_set(&c->open.rio, fd, EV_READ);
    ev_io_start(r->loop, &c->open.rio);
    /* The header must come within the idle timeout, like any traffic. */
    otb_conn_arm_timer(c, r->idle_timeout);
}

/* Client: the stream starts with the salt and the sealed address header,
 * followed by any early LAN bytes. Rebuilt with a fresh salt for each server
 * tried. */
static int otb_conn_prepare_header(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    uint8_t salt[OTB_MAX_SALT_LEN], hdr[OTB_ADDR_MAX_LEN];
    struct otb_buf *b = otb_pipe_buf(r, &c->seal.out);
    size_t len;

    if (!b)
        return -ENOMEM;
    randombytes_buf(salt, c->key->master.key_len);
    b->end += (uint32_t)otb_stream_enc_start(&c->enc, &c->key->master, salt, b->data);
    c->enc_started = true;
    len = otb_addr_encode(&c->target, hdr);
    b->end += (uint32_t)otb_stream_seal(&c->enc, hdr, len, b->data + b->end);
    if (c->early)
        b->end += (uint32_t)otb_stream_seal(&c->enc, c->early->data, otb_buf_len(c->early),
                                            b->data + b->end);
    return 0;
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
    c->servers_tried |= 1u << c->server_index;
    if (c->route)
        sfd = otb_sock_outbound(server.ss_family, &c->route->opts,
                                c->route->bind_len ? (struct sockaddr *)&c->route->bind : NULL,
                                c->route->bind_len, &fell_back);
    else
        sfd = otb_sock_outbound(server.ss_family, &r->out_opts, NULL, 0, &fell_back);
    if (sfd < 0) {
        r->stats.errors++;
        otb_conn_close(c, "upstream socket failed");
        return;
    }
    otb_relay_note_fallback(r, fell_back);
    c->cipher_fd = sfd;
    otb_conn_mark_class(c, sfd);
    c->cipher_mptcp = (c->route ? c->route->opts.mptcp : r->out_opts.mptcp) && !fell_back;
    if (otb_conn_prepare_header(c) < 0) {
        otb_conn_close(c, "out of memory");
        return;
    }
    otb_conn_connect(c, sfd, (const struct sockaddr *)&server);
}

/* The server did not answer: forget this attempt and try the next one. */
static void otb_conn_upstream_failed(struct otb_conn *c, const char *why)
{
    struct otb_relay *r = c->relay;

    r->upstream.report(r->upstream.arg, c->server_index, false);
    ev_io_stop(r->loop, &c->outbound->wio);
    ev_timer_stop(r->loop, &c->timer);
    if (c->cipher_fd >= 0)
        close(c->cipher_fd);
    c->cipher_fd = -1;
    otb_pipe_release(r, &c->seal.out);
    otb_stream_enc_end(&c->enc);
    c->enc_started = false;
    otb_conn_start_upstream(c, why);
}

/* Common start of both client paths; NULL when the connection was refused. */
static struct otb_conn *otb_conn_new_client(struct otb_relay *r, int fd,
                                            const struct otb_addr *target, size_t early_len,
                                            const struct otb_route *route)
{
    struct otb_conn *c = otb_conn_new(r);

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
    return c;
}

void otb_relay_accept_direct(struct otb_relay *r, int fd, const struct otb_addr *target,
                             const uint8_t *early, size_t early_len,
                             const struct otb_route *route)
{
    struct otb_conn *c = otb_conn_new_client(r, fd, target, early_len, route);
    struct otb_buf *b;

    if (!c)
        return;
    c->direct = true;
    if (early_len > 0) {
        if (!(b = otb_pipe_buf(r, &c->seal.out))) {
            otb_conn_close(c, "out of memory");
            return;
        }
        memcpy(b->data, early, early_len);
        b->end = (uint32_t)early_len;
    }
    otb_conn_begin_target(c);
}

void otb_relay_accept_plain(struct otb_relay *r, int fd, const struct otb_addr *target,
                            const uint8_t *early, size_t early_len,
                            const struct otb_route *route)
{
    struct otb_conn *c = otb_conn_new_client(r, fd, target, early_len, route);

    if (!c)
        return;
    if (early_len > 0) {
        if (!otb_pipe_buf(r, &c->early)) {
            otb_conn_close(c, "out of memory");
            return;
        }
        memcpy(c->early->data, early, early_len);
        c->early->end = (uint32_t)early_len;
    }
    if (otb_log_enabled(r->log, OTB_LOG_DEBUG)) {
        char to[OTB_ADDR_FMT_LEN];
        otb_addr_format(target, to, sizeof(to));
        OTB_DEBUG(r->log, "[#%llu] LAN connection to %s", (unsigned long long)c->id, to);
    }
    otb_conn_start_upstream(c, "no server available");
}

/* ------------------------------------------------------------- listeners */

static void otb_listener_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_listener *l = otb_container_of(w, struct otb_listener, io);
    struct otb_relay *r = l->relay;

    for (int i = 0; i < OTB_ACCEPT_BURST && !r->accept_paused && !r->stopping; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the pending connection stays queued and the
                 * socket stays readable, so wait instead of spinning on it. */
                if (!l->fd_exhausted_logged)
                    OTB_WARN(r->log, "accept: %s; pausing this listener for 1 s "
                             "(raise the limit with -n or lower --max-conns)", strerror(errno));
                l->fd_exhausted_logged = true;
                ev_io_stop(loop, &l->io);
                ev_timer_set(&l->retry, 1., 0.);
                ev_timer_start(loop, &l->retry);
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                OTB_WARN(r->log, "accept: %s", strerror(errno));
            }
            return;
        }
        l->fd_exhausted_logged = false;
        l->on_accept(l, fd, (struct sockaddr *)&peer, len);
    }
}

static void otb_listener_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_listener *l = otb_container_of(w, struct otb_listener, retry);

    if (!l->relay->stopping && !l->relay->accept_paused)
        ev_io_start(loop, &l->io);
}

void otb_listener_start(struct otb_relay *r, struct otb_listener *l, int fd, otb_accept_cb cb,
                        void *arg)
{
    l->fd = fd;
    l->relay = r;
    l->on_accept = cb;
    l->arg = arg;
    l->fd_exhausted_logged = false;
    ev_io_init(&l->io, otb_listener_accept_cb, fd, EV_READ);
    ev_timer_init(&l->retry, otb_listener_retry_cb, 1., 0.);
    ev_io_start(r->loop, &l->io);
    l->next = r->listeners;
    r->listeners = l;
}

void otb_listener_stop(struct otb_listener *l)
{
    ev_io_stop(l->relay->loop, &l->io);
    ev_timer_stop(l->relay->loop, &l->retry);
}

void otb_relay_stop_listeners(struct otb_relay *r)
{
    for (struct otb_listener *l = r->listeners; l; l = l->next)
        otb_listener_stop(l);
}

static void otb_relay_resume_accept(struct otb_relay *r)
{
    r->accept_paused = false;
    OTB_INFO(r->log, "below the connection limit again: accepting");
    for (struct otb_listener *l = r->listeners; l; l = l->next)
        ev_io_start(r->loop, &l->io);
}

/* ------------------------------------------------------------------ relay */

int otb_relay_init(struct otb_relay *r, struct ev_loop *loop, const struct otb_logger *log,
                   const struct otb_master *master, enum otb_relay_role role)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->log = log;
    r->role = role;
    r->idle_timeout = 60.;
    r->connect_timeout = 10.;
    otb_pool_init(&r->pool, OTB_POOL_KEEP);
    r->scratch = malloc(OTB_BUF_SIZE);
    if (!r->scratch || otb_relay_set_master(r, master) < 0) {
        free(r->scratch);
        r->scratch = NULL;
        return -ENOMEM;
    }
    ev_check_init(&r->reaper, otb_relay_reap_cb);
    return 0;
}

void otb_relay_close_all(struct otb_relay *r, const char *reason)
{
    while (r->live)
        otb_conn_close(r->live, reason);
}

int otb_relay_set_master(struct otb_relay *r, const struct otb_master *master)
{
    struct otb_relay_key *k = calloc(1, sizeof(*k));

    if (!k)
        return -ENOMEM;
    k->master = *master;
    k->users = 1;
    otb_relay_key_put(r->key); /* freed now, or by its last connection */
    r->key = k;
    return 0;
}

const struct otb_master *otb_relay_master(const struct otb_relay *r)
{
    return &r->key->master;
}

void otb_relay_destroy(struct otb_relay *r)
{
    otb_relay_stop_listeners(r);
    r->stopping = false; /* no ev_break from the closes below */
    otb_relay_close_all(r, "shutting down");
    otb_relay_reap_cb(r->loop, &r->reaper, 0);
    otb_pool_destroy(&r->pool);
    free(r->scratch);
    r->scratch = NULL;
    otb_relay_key_put(r->key);
    r->key = NULL;
}

void otb_relay_note_fallback(struct otb_relay *r, bool fell_back)
{
    if (fell_back && !r->mptcp_fallback_logged) {
        r->mptcp_fallback_logged = true;
        OTB_WARN(r->log, "the kernel refused MPTCP (net.mptcp.enabled=0 or no MPTCP support): "
                 "using plain TCP, without aggregation or failover");
    }
}

void otb_relay_log_stats(const struct otb_relay *r)
{
    const struct otb_counters *s = &r->stats;

    OTB_INFO(r->log,
             "stats: accepted %llu active %llu closed %llu bytes_to_plain %llu "
             "bytes_to_cipher %llu auth_fail %llu replay %llu bad_header %llu "
             "acl_refused %llu dns_fail %llu connect_fail %llu timeouts %llu errors %llu "
             "limit_pauses %llu buffers_in_use %zu",
             (unsigned long long)s->accepted, (unsigned long long)s->active,
             (unsigned long long)s->closed, (unsigned long long)s->bytes_plain_out,
             (unsigned long long)s->bytes_cipher_out, (unsigned long long)s->auth_fail,
             (unsigned long long)s->replay, (unsigned long long)s->bad_header,
             (unsigned long long)s->acl_refused, (unsigned long long)s->dns_fail,
             (unsigned long long)s->connect_fail, (unsigned long long)s->timeouts,
             (unsigned long long)s->errors, (unsigned long long)s->limit_pauses,
             r->pool.in_use);
}

size_t otb_relay_paths(const struct otb_relay *r, struct otb_mptcp_path *out, size_t cap)
{
    size_t n = OTB_MIN(r->npaths, cap);

    memcpy(out, r->paths, n * sizeof(*out));
    for (const struct otb_conn *c = r->live; c; c = c->next) {
        struct otb_mptcp_path sub[OTB_RELAY_MAX_PATHS];
        int k;
        if (!c->cipher_mptcp || c->cipher_fd < 0)
            continue;
        k = otb_mptcp_subflows(c->cipher_fd, r->role == OTB_ROLE_SERVER, sub,
                               OTB_ARRAY_LEN(sub));
        if (k > 0)
            n = otb_mptcp_paths_add(out, n, cap, sub, (size_t)k);
    }
    return n;
}
