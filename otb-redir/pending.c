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

struct otb_pending *otb_pending_start(struct otb_redir *rd, int fd, const struct sockaddr *peer,
                                      ev_tstamp timeout, otb_pending_fn fn)
{
    struct otb_pending *p = calloc(1, sizeof(*p));

    if (!p) {
        close(fd);
        return NULL;
    }
    p->fd = fd;
    p->redir = rd;
    p->on_input = fn;
    memcpy(&p->peer, peer, otb_sockaddr_len(peer));
    p->next = rd->pending;
    if (p->next)
        p->next->prev = p;
    rd->pending = p;
    rd->npending++;
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
