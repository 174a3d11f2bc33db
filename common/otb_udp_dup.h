/* Voice duplication over two WANs (Shadowsocks 2022 sessions only). Pure:
 * no I/O, the caller gives the time.
 *
 * With voice_duplicate on, otb-tunnel sends each voice datagram of a 2022
 * session twice, the same packet (same packet ID) from two healthy WANs,
 * and the server relays the first copy to arrive. The second one is
 * refused by the session's packet-ID window and counted as a duplicate,
 * not a replay, when it comes from one of the session's two addresses while
 * both are live. The server sends voice replies to both addresses, and
 * otb-tunnel drops the second reply the same way. A WAN that dies silently
 * then costs a call nothing: the copy on the other WAN gets through before
 * WAN health has even noticed.
 *
 * The latest address is the one of the latest fresh packet (the one that
 * moved the window), as without duplication. The second address is the
 * former latest one, or, while there is no live second address, the source
 * of a copy: the slower WAN's copies are never fresh, yet its address must
 * be learnt. A copy can be replayed by anyone who captured it, so what the
 * second address receives is bounded by what comes from it: each copy
 * from it earns OTB_UDP_DUP_CREDIT_PER_COPY reply copies (up to
 * OTB_UDP_DUP_CREDIT_MAX), and it stops being live OTB_UDP_DUP_HOLD seconds
 * after the last. A replayed packet cannot make the server send more than
 * it received, nor take the second address from a box that duplicates. */
#ifndef OTB_UDP_DUP_H
#define OTB_UDP_DUP_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "otb_udprelay.h"

/* Seconds the second address stays live after its last packet: a client
 * that duplicates is heard on both addresses with every voice datagram. */
#define OTB_UDP_DUP_HOLD 2.
#define OTB_UDP_DUP_CREDIT_PER_COPY 2
/* Also what a former latest address starts with: a box that moved WAN
 * without duplicating gets a few copies there, no more. */
#define OTB_UDP_DUP_CREDIT_MAX 32

/* The socket address of k (AF_INET or AF_INET6, the port too); its length. */
socklen_t otb_udp_dup_sockaddr(const struct otb_udp_key *k, struct sockaddr_storage *ss);

/* A fresh (window-accepted) packet from `from` at now; cur is the session's
 * latest address. true: from is the latest address from now on (the caller
 * stores it), cur becomes the second. */
bool otb_udp_dup_fresh(struct otb_udp_dup *d, const struct otb_udp_key *cur,
                       const struct otb_udp_key *from, ev_tstamp now);
/* A packet the window refused: true (a copy sent over the other WAN: count
 * it as a duplicate) when its ID was accepted within the window and it
 * comes from one of the session's two live addresses, or from a new one
 * while there is no live second address (learnt as the second); false: a
 * replay. */
bool otb_udp_dup_copy(struct otb_udp_dup *d, const struct otb_ss22_window *w, uint64_t pid,
                      const struct otb_udp_key *cur, const struct otb_udp_key *from,
                      ev_tstamp now);
/* Whether a reply also goes to the second address (one credit taken). */
bool otb_udp_dup_take(struct otb_udp_dup *d, ev_tstamp now);

/* Client: whether a datagram goes out a second time. Only with
 * voice_duplicate on, a 2022 method (the copy must be recognisable by its
 * packet ID) and a voice association (bulk is never worth twice the
 * bandwidth), when the datagram's WAN is known (wan >= 0). */
bool otb_udp_dup_eligible(bool enabled, bool is_2022, bool voice, int wan);
/* Client: whether WAN second may carry the copy of a datagram sent by wan:
 * another WAN, not declared down. */
bool otb_udp_dup_second_ok(int wan, int second, bool second_down);
/* Client: the local address a datagram came to (its IP_PKTINFO /
 * IPV6_PKTINFO control message), port 0: the WAN a reply came by. */
bool otb_udp_dup_recv_local(struct msghdr *msg, struct sockaddr_storage *local);

/* A packet ID the window refused because it was accepted already (within
 * the window), as opposed to one too old for it. */
bool otb_udp_dup_window_seen(const struct otb_ss22_window *w, uint64_t pid);

#endif
