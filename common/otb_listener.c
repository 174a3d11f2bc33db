/* Listening sockets of the TCP relay: accept in bounded bursts, pause a
 * listener for a second when descriptors run out (EMFILE...), pause them
 * all at the connection cap (when no unauthenticated connection can make
 * room, see otb_relay_accept_cipher) and resume below it. */
#include "otb_conn.h"

#include <errno.h>
#include <string.h>

/* Accepts taken per readiness event: bounded so one busy listener cannot
 * starve established connections. */
#define OTB_ACCEPT_BURST 64

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

void otb_relay_check_cap(struct otb_relay *r)
{
    if (!r->max_conns || r->nconns < r->max_conns || r->accept_paused || r->preauth_oldest)
        return;
    OTB_WARN(r->log, "connection limit %zu reached: accepting paused until one closes",
             r->max_conns);
    r->stats.limit_pauses++;
    otb_relay_stop_listeners(r);
    r->accept_paused = true;
}

void otb_relay_resume_accept(struct otb_relay *r)
{
    r->accept_paused = false;
    OTB_INFO(r->log, "below the connection limit again: accepting");
    for (struct otb_listener *l = r->listeners; l; l = l->next)
        ev_io_start(r->loop, &l->io);
}

int otb_listen_each(const struct otb_logger *log, const char *host, uint16_t port, int socktype,
                    otb_listen_fn fn, void *arg)
{
    struct otb_sock_addr addrs[16];
    char err[256];
    int n = otb_sock_passive_addrs(host, port, socktype, addrs, OTB_ARRAY_LEN(addrs), err,
                                   sizeof(err));

    if (n < 0) {
        OTB_ERR(log, "%s", err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].ss;
        char where[OTB_ADDR_FMT_LEN];
        int rc;

        otb_sockaddr_format(sa, where, sizeof(where));
        if ((rc = fn(arg, sa, addrs[i].len, where)) != 0)
            return rc < 0 ? -1 : 0;
    }
    return 0;
}
