/* A LAN connection whose route is not decided yet: its first bytes are read
 * here (SOCKS5 handshake, or the TLS SNI / HTTP Host of a redirected
 * connection) before it joins the relay. Bytes read beyond what was parsed
 * are handed to the relay as early data. */
#ifndef OTB_REDIR_PENDING_H
#define OTB_REDIR_PENDING_H

#include "redir.h"

struct otb_pending;
/* Called after each read (timed_out false) or when the timer fires. The
 * callback ends the pending connection (otb_pending_end) or returns to wait. */
typedef void (*otb_pending_fn)(struct otb_pending *p, bool timed_out);

struct otb_pending {
    ev_io io;
    ev_timer timer;
    int fd;
    struct otb_redir *redir;
    struct otb_pending *prev, *next;
    otb_pending_fn on_input;
    int step;                     /* the callback's own progress */
    struct sockaddr_storage peer; /* LAN host */
    struct otb_addr dst;          /* original destination (redirected connections) */
    size_t len;
    uint8_t buf[OTB_RELAY_EARLY_MAX];
};

/* At the caps (max_pending, max_pending_per_source) the oldest pending
 * connection of peer's address, else the oldest of all, is closed first. */
struct otb_pending *otb_pending_start(struct otb_redir *rd, int fd, const struct sockaddr *peer,
                                      ev_tstamp timeout, otb_pending_fn fn);
/* Stops watching fd; closes it unless it was handed to the relay. Frees p. */
void otb_pending_end(struct otb_pending *p, bool close_fd);
void otb_pending_consume(struct otb_pending *p, size_t used);
void otb_pending_close_all(struct otb_redir *rd);

#endif
