/* Watches this host's addresses: an rtnetlink socket subscribed to the
 * IPv4 and IPv6 address events (RTM_NEWADDR, RTM_DELADDR), read in the
 * event loop. The server refuses its own addresses as destinations, and
 * they change while it runs (DHCP, an address added by hand, a cloud's
 * secondary IP): each burst of events calls changed once. */
#ifndef OTB_IFWATCH_H
#define OTB_IFWATCH_H

#include <ev.h>

struct otb_ifwatch {
    ev_io io;
    struct ev_loop *loop;
    int fd; /* -1: not watching */
    void (*changed)(void *arg);
    void *arg;
};

/* 0, or -errno (the socket could not be made: nothing is watched). */
int otb_ifwatch_start(struct otb_ifwatch *w, struct ev_loop *loop, void (*changed)(void *arg),
                      void *arg);
void otb_ifwatch_stop(struct otb_ifwatch *w);

#endif
