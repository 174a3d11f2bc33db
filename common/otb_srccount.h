/* Counts per source address (the server's connections that have not
 * authenticated yet, per peer): a fixed open-addressing table keyed with
 * SipHash (a random key: peers choose their addresses and must not be able
 * to aim collisions). IPv4 is counted per address, IPv6 per /64, the
 * smallest block an IPv6 host gets. Pure: no I/O, no allocation after init. */
#ifndef OTB_SRCCOUNT_H
#define OTB_SRCCOUNT_H

#include <sys/socket.h>

#include <sodium.h>

#include "otb_common.h"

/* A source: IPv4 as ::ffff:a.b.c.d, IPv6 with its low 64 bits zeroed. */
struct otb_src {
    uint8_t addr[16];
};

struct otb_srccount_entry {
    struct otb_src src;
    uint32_t count; /* 0: free slot */
};

struct otb_srccount {
    struct otb_srccount_entry *slots;
    size_t mask;  /* slot count - 1, a power of two minus one */
    size_t used;  /* sources with a count */
    size_t limit; /* sources it accepts: half the slots */
    uint8_t key[crypto_shorthash_KEYBYTES];
};

/* Room for at least sources distinct sources (at most 1 << 16). 0 or -ENOMEM. */
int otb_srccount_init(struct otb_srccount *s, size_t sources);
void otb_srccount_free(struct otb_srccount *s);
/* The source of a peer address (AF_INET or AF_INET6; anything else: all zero). */
void otb_src_from_sockaddr(struct otb_src *src, const struct sockaddr *sa);
uint32_t otb_srccount_get(const struct otb_srccount *s, const struct otb_src *src);
/* Count after adding one, or 0 when the table has no room for a new source. */
uint32_t otb_srccount_add(struct otb_srccount *s, const struct otb_src *src);
/* One less (the source is forgotten at 0); nothing if it is not counted. */
void otb_srccount_del(struct otb_srccount *s, const struct otb_src *src);

#endif
