/* The box's own addresses, for refusing an intercepted connection or
 * datagram whose original destination is the box itself: relaying it would
 * send it to the server, which sends it back to the box, and again (a loop
 * that grows until the connection or association limits).
 *
 * Own: every interface address, all of 127.0.0.0/8 and ::1, the unspecified
 * addresses (a connect to them reaches the host), and IPv4-mapped forms of
 * these. The list is read with getifaddrs and read again when it is older
 * than OTB_SELFADDR_TTL at the next check (and on SIGHUP), so addresses
 * that come and go (DHCP, PPPoE) are followed without a netlink listener. */
#ifndef OTB_SELFADDR_H
#define OTB_SELFADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include <ev.h>

#include "otb_acl.h"

#define OTB_SELFADDR_TTL 2.

struct otb_selfaddr {
    struct otb_acl *acl; /* OTB_ACL_OUTBOUND_BLOCK holds the addresses; NULL until read */
    ev_tstamp read_at;
};

/* Reads the addresses now; when the interfaces cannot be read the previous
 * list stays (or, at first, the fixed part alone). 0 or -1. */
int otb_selfaddr_refresh(struct otb_selfaddr *s, ev_tstamp now);
/* Whether sa (AF_INET/AF_INET6) is one of the host's addresses; reads the
 * list first when it is older than OTB_SELFADDR_TTL. */
bool otb_selfaddr_is_self(struct otb_selfaddr *s, const struct sockaddr *sa, ev_tstamp now);
void otb_selfaddr_free(struct otb_selfaddr *s);

#endif
