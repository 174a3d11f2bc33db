/* SOCKS5 handshake of otb-redir: greeting, optional username/password, the
 * CONNECT request and the reply; then the socket joins the common relay. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otb_socks5.h"
#include "redir.h"

enum otb_socks5_step { OTB_S5_GREETING, OTB_S5_AUTH, OTB_S5_REQUEST };

struct otb_socks5_conn {
    ev_io io;
    ev_timer timer;
    int fd;
    enum otb_socks5_step step;
    struct otb_redir *redir;
    struct otb_socks5_conn *prev, *next;
    size_t len;
    uint8_t buf[1024]; /* greeting + auth + request are at most ~770 bytes */
};

static void otb_socks5_end(struct otb_socks5_conn *s, bool close_fd)
{
    struct ev_loop *loop = s->redir->relay.loop;

    ev_io_stop(loop, &s->io);
    ev_timer_stop(loop, &s->timer);
    if (close_fd)
        close(s->fd);
    if (s->prev)
        s->prev->next = s->next;
    else
        s->redir->socks_pending = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->redir->socks_handshakes--;
    free(s);
}

/* Replies are a few bytes on a fresh socket: a short write means the client is broken. */
static bool otb_socks5_send(struct otb_socks5_conn *s, const uint8_t *msg, size_t len)
{
    return send(s->fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len;
}

static void otb_socks5_refuse(struct otb_socks5_conn *s, uint8_t rep, const char *why)
{
    uint8_t reply[OTB_SOCKS5_REPLY_LEN];

    s->redir->socks_refused++;
    OTB_DEBUG(&s->redir->log, "socks5: refused: %s", why);
    otb_socks5_send(s, reply, otb_socks5_reply(rep, reply));
    otb_socks5_end(s, true);
}

static void otb_socks5_consume(struct otb_socks5_conn *s, size_t used)
{
    memmove(s->buf, s->buf + used, s->len - used);
    s->len -= used;
}

/* One step on the buffered bytes: OTB_OK to go on, OTB_NEED_MORE to wait,
 * OTB_BAD when the connection has been ended. */
static int otb_socks5_step(struct otb_socks5_conn *s)
{
    struct otb_redir *rd = s->redir;
    bool want_auth = rd->cfg.socks5_user[0] != '\0';
    uint8_t answer[2], rep;
    struct otb_addr dst;
    size_t used = 0;
    bool ok = false;
    int rc = OTB_BAD;

    switch (s->step) {
    case OTB_S5_GREETING:
        rc = otb_socks5_parse_greeting(s->buf, s->len, want_auth, &answer[1], &used);
        if (rc != OTB_OK)
            break;
        answer[0] = OTB_SOCKS5_VERSION;
        if (!otb_socks5_send(s, answer, 2) || answer[1] == OTB_SOCKS5_NO_METHOD) {
            otb_socks5_end(s, true);
            return OTB_BAD;
        }
        s->step = want_auth ? OTB_S5_AUTH : OTB_S5_REQUEST;
        break;
    case OTB_S5_AUTH:
        rc = otb_socks5_parse_auth(s->buf, s->len, rd->cfg.socks5_user,
                                   rd->cfg.socks5_password, &ok, &used);
        if (rc != OTB_OK)
            break;
        answer[0] = 1;
        answer[1] = ok ? 0 : 1;
        if (!otb_socks5_send(s, answer, 2) || !ok) {
            rd->socks_refused += !ok;
            otb_socks5_end(s, true);
            return OTB_BAD;
        }
        s->step = OTB_S5_REQUEST;
        break;
    case OTB_S5_REQUEST:
        rc = otb_socks5_parse_request(s->buf, s->len, &dst, &rep, &used);
        if (rc != OTB_OK)
            break;
        if (rep != OTB_SOCKS5_OK) {
            otb_socks5_refuse(s, rep, "command or address type not supported");
            return OTB_BAD;
        }
        uint8_t reply[OTB_SOCKS5_REPLY_LEN];
        otb_socks5_consume(s, used);
        /* Success is answered before the upstream connects, as ss-local does:
         * the stream to the server carries the real outcome. */
        if (!otb_socks5_send(s, reply, otb_socks5_reply(OTB_SOCKS5_OK, reply))) {
            otb_socks5_end(s, true);
            return OTB_BAD;
        }
        otb_relay_accept_plain(&rd->relay, s->fd, &dst, s->buf, s->len);
        otb_socks5_end(s, false);
        return OTB_BAD; /* handed over: nothing more to do here */
    }
    if (rc == OTB_BAD) {
        otb_socks5_refuse(s, OTB_SOCKS5_FAILURE, "malformed message");
        return OTB_BAD;
    }
    if (rc == OTB_NEED_MORE)
        return OTB_NEED_MORE;
    otb_socks5_consume(s, used);
    return OTB_OK;
}

static void otb_socks5_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_socks5_conn *s = otb_container_of(w, struct otb_socks5_conn, io);
    ssize_t n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        otb_socks5_end(s, true);
        return;
    }
    s->len += (size_t)n;
    for (;;) {
        int rc = otb_socks5_step(s);
        if (rc == OTB_BAD)
            return;
        if (rc == OTB_NEED_MORE)
            break;
    }
    if (s->len == sizeof(s->buf))
        otb_socks5_refuse(s, OTB_SOCKS5_FAILURE, "handshake too long");
}

static void otb_socks5_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_socks5_conn *s = otb_container_of(w, struct otb_socks5_conn, timer);

    OTB_DEBUG(&s->redir->log, "socks5: handshake timed out");
    otb_socks5_end(s, true);
}

void otb_redir_socks5_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                             socklen_t len)
{
    struct otb_redir *rd = l->arg;
    struct otb_socks5_conn *s = calloc(1, sizeof(*s));

    if (!s) {
        close(fd);
        return;
    }
    s->fd = fd;
    s->redir = rd;
    s->step = OTB_S5_GREETING;
    rd->socks_handshakes++;
    s->next = rd->socks_pending;
    if (s->next)
        s->next->prev = s;
    rd->socks_pending = s;
    ev_io_init(&s->io, otb_socks5_read_cb, fd, EV_READ);
    ev_timer_init(&s->timer, otb_socks5_timeout_cb, rd->cfg.connect_timeout, 0.);
    ev_io_start(rd->relay.loop, &s->io);
    ev_timer_start(rd->relay.loop, &s->timer);
}

void otb_redir_socks5_close_all(struct otb_redir *rd)
{
    while (rd->socks_pending)
        otb_socks5_end(rd->socks_pending, true);
}
