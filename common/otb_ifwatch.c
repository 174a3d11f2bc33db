#include "otb_ifwatch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "otb_netlink.h"

static void otb_ifwatch_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct otb_ifwatch *w = io->data;
    uint8_t buf[8192]; /* events are small; a burst takes several reads */
    bool changed = false;
    ssize_t n;

    (void)loop;
    (void)revents;
    for (;;) {
        n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            changed = changed || otb_nl_addr_event(buf, (size_t)n);
        } else if (n < 0 && errno == ENOBUFS) {
            changed = true; /* events were lost: read the addresses anyway */
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    if (changed)
        w->changed(w->arg);
}

int otb_ifwatch_start(struct otb_ifwatch *w, struct ev_loop *loop, void (*changed)(void *arg),
                      void *arg)
{
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
                              .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR };
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

    w->fd = -1;
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    w->fd = fd;
    w->loop = loop;
    w->changed = changed;
    w->arg = arg;
    ev_io_init(&w->io, otb_ifwatch_cb, fd, EV_READ);
    w->io.data = w;
    /* Before any connection or datagram ready in the same loop iteration:
     * a destination is checked against the addresses as they are now. */
    ev_set_priority(&w->io, EV_MAXPRI);
    ev_io_start(loop, &w->io);
    return 0;
}

void otb_ifwatch_stop(struct otb_ifwatch *w)
{
    if (w->fd < 0)
        return;
    ev_io_stop(w->loop, &w->io);
    close(w->fd);
    w->fd = -1;
}
