#include "pending.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void otb_pending_end(struct otb_pending *p, bool close_fd)
{
    struct otb_redir *rd = p->redir;

    ev_io_stop(rd->relay.loop, &p->io);
    ev_timer_stop(rd->relay.loop, &p->timer);
    if (close_fd)
        close(p->fd);
    if (p->prev)
        p->prev->next = p->next;
    else
        rd->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    rd->npending--;
    rd->relay.stats.pending = rd->npending;
    free(p);
}

void otb_pending_consume(struct otb_pending *p, size_t used)
{
    memmove(p->buf, p->buf + used, p->len - used);
    p->len -= used;
}

static void otb_pending_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_pending *p = otb_container_of(w, struct otb_pending, io);
    ssize_t n;

    if (p->len == sizeof(p->buf)) { /* the callback had its chance with a full buffer */
        p->on_input(p, true);
        return;
    }
    n = recv(p->fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        otb_pending_end(p, true);
        return;
    }
    p->len += (size_t)n;
    p->on_input(p, false);
}

static void otb_pending_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_pending *p = otb_container_of(w, struct otb_pending, timer);

    p->on_input(p, true);
}

static bool otb_pending_same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    struct otb_addr x, y;

    if (otb_addr_from_sockaddr(&x, (const struct sockaddr *)a) < 0 ||
        otb_addr_from_sockaddr(&y, b) < 0)
        return false;
    return x.atyp == y.atyp && memcmp(&x.u, &y.u, x.atyp == OTB_ATYP_IPV4 ? 4 : 16) == 0;
}

/* Makes room for one more pending connection from peer: at the per-source
 * cap the oldest one of that source is closed, else at the global cap the
 * oldest of all. Closing the oldest (a handshake takes milliseconds, a
 * stalled one is what fills the caps) keeps a host's fresh requests served
 * while it holds stalled ones; the per-source cap keeps one host from
 * taking the global room from the others. The list is short (the global
 * cap) and walked per accept only. */
static void otb_pending_make_room(struct otb_redir *rd, const struct sockaddr *peer)
{
    struct otb_pending *oldest_same = NULL, *oldest = NULL;
    size_t same = 0;

    for (struct otb_pending *q = rd->pending; q; q = q->next) {
        oldest = q; /* newest first: the last one seen is the oldest */
        if (otb_pending_same_host(&q->peer, peer)) {
            oldest_same = q;
            same++;
        }
    }
    if (oldest_same && same >= (size_t)rd->cfg.max_pending_per_source) {
        rd->relay.stats.pending_capped++;
        otb_pending_end(oldest_same, true);
    } else if (oldest && rd->npending >= (size_t)rd->cfg.max_pending) {
        rd->relay.stats.pending_capped++;
        otb_pending_end(oldest, true);
    }
}

struct otb_pending *otb_pending_start(struct otb_redir *rd, int fd, const struct sockaddr *peer,
                                      ev_tstamp timeout, otb_pending_fn fn)
{
    struct otb_pending *p = calloc(1, sizeof(*p));

    if (!p) {
        close(fd);
        return NULL;
    }
    otb_pending_make_room(rd, peer);
    p->fd = fd;
    p->redir = rd;
    p->on_input = fn;
    memcpy(&p->peer, peer, otb_sockaddr_len(peer));
    p->next = rd->pending;
    if (p->next)
        p->next->prev = p;
    rd->pending = p;
    rd->npending++;
    rd->relay.stats.pending = rd->npending;
    ev_io_init(&p->io, otb_pending_read_cb, fd, EV_READ);
    ev_timer_init(&p->timer, otb_pending_timeout_cb, timeout, 0.);
    ev_io_start(rd->relay.loop, &p->io);
    ev_timer_start(rd->relay.loop, &p->timer);
    return p;
}

void otb_pending_close_all(struct otb_redir *rd)
{
    while (rd->pending)
        otb_pending_end(rd->pending, true);
}
