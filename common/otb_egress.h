/* Egress: how traffic leaves this host toward the Internet, shared by the
 * TCP relay and the UDP relay of a program (both hold a pointer to the same
 * object, owned by main).
 *
 * It holds the outbound policy (the user ACL's outbound lists, then the
 * built-in block list), the resolver, the source addresses (-b) and the
 * socket options of outbound sockets, and answers "is this destination
 * permitted", "which address of this DNS answer" and "which source address
 * for this family".
 *
 * The user ACL is the one part replaced while running (SIGHUP): the reload
 * code writes the acl slot, the one place both relays read it from. Every
 * decision reads it synchronously and nothing keeps it across callbacks, so
 * the old ACL is freed at once without hurting work in flight (a lookup
 * that was started under the old ACL is checked against the new one when
 * its answer comes). */
#ifndef OTB_EGRESS_H
#define OTB_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "otb_acl.h"
#include "otb_dns.h"
#include "otb_sock.h"

struct otb_egress {
    struct otb_acl *acl;   /* user ACL, may be NULL; replaced on SIGHUP */
    /* built-in outbound block list and the public addresses
     * (--public-address); NULL: none (box); rebuilt on SIGHUP */
    struct otb_acl *block;
    /* this host's interface addresses; NULL: none (box); rebuilt whenever
     * they change (otb_ifwatch) and on SIGHUP */
    struct otb_acl *local;
    struct otb_dns *dns;   /* resolver of destination names */
    /* outbound sockets: mark, interface; TCP also no_delay, fast_open
     * (never MPTCP: the Internet's servers do not speak it to us) */
    struct otb_sock_opts opts;
    struct sockaddr_storage bind4, bind6; /* source addresses (-b); len 0 = none */
    socklen_t bind4_len, bind6_len;
};

/* Whether a resolved destination may be reached: the user ACL's
 * outbound_allow_list wins, then its outbound_block_list, then the
 * built-in list and this host's own addresses. */
bool otb_egress_permits_addr(const struct otb_egress *e, const struct sockaddr *sa);
/* Same for a name before resolution (the ACL's domain rules only). */
bool otb_egress_permits_host(const struct otb_egress *e, const char *host);
/* The first permitted address of a DNS answer, or NULL: a name that only
 * leads inside is refused. */
const struct sockaddr *otb_egress_first_permitted(const struct otb_egress *e,
                                                  const struct sockaddr_storage *addrs, size_t n);
/* The source address for an outbound socket of family, or NULL (*len 0). */
const struct sockaddr *otb_egress_bind(const struct otb_egress *e, int family, socklen_t *len);
/* Sets the source address of ip's family from a numeric address ("" = none).
 * 0, or -1 with err. */
int otb_egress_set_bind(struct otb_egress *e, const char *ip, char *err, size_t errlen);
/* The server's block lists: built-in ranges plus the n public addresses
 * pub (ports ignored), and this host's own addresses. Replaces what was
 * there (SIGHUP); on failure the old lists stay. 0 or -1. */
int otb_egress_block_builtin(struct otb_egress *e, const struct sockaddr_storage *pub, size_t n);
/* Reads this host's addresses again (an address came or went). On failure
 * the old list stays. 0 or -1. */
int otb_egress_refresh_local(struct otb_egress *e);
/* The destination a connection or datagram really goes to: an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address, so the IPv4
 * socket and source address (-b) are used; anything else is copied.
 * Returns out. */
const struct sockaddr *otb_egress_unmap(const struct sockaddr *sa, struct sockaddr_storage *out);
/* Frees the ACLs and the resolver; the object can be set up again. */
void otb_egress_free(struct otb_egress *e);

#endif
