/* Replay filter for salts: a salt seen twice within the window is refused.
 * Two generations of open-addressing tables of 32-bit fingerprints of keyed
 * hashes (SipHash with a random key, so peers cannot aim collisions); when
 * the current generation holds capacity salts the older one is dropped, so
 * the window holds between capacity and 2 * capacity salts in fixed memory.
 *
 * Sized like shadowsocks-libev's ppbloom (1 M entries per generation, two
 * generations): each generation has 1.5 slots of 4 bytes per salt, 6 MiB
 * for 1 M salts, 12 MiB for the filter. A fresh salt is wrongly refused
 * only if its fingerprint equals one met on its probe sequences (about 8
 * slots in the two generations when full): about 2e-9 per salt, against
 * ppbloom's 1e-6. */
#ifndef OTB_REPLAY_H
#define OTB_REPLAY_H

#include <sodium.h>

#include "otb_common.h"

struct otb_replay {
    uint32_t *gen[2]; /* gen[0] current, gen[1] previous; 0 = empty slot */
    size_t slots;     /* per generation: capacity * 3 / 2 */
    size_t capacity;  /* salts per generation, a power of two */
    size_t count;     /* entries in gen[0] */
    uint8_t key[crypto_shorthash_KEYBYTES];
};

#define OTB_REPLAY_DEFAULT_CAPACITY (1u << 20)

/* 0 or -ENOMEM. capacity is rounded up to a power of two (at least 8). */
int otb_replay_init(struct otb_replay *r, size_t capacity);
void otb_replay_free(struct otb_replay *r);
/* true if salt was already seen (refuse it); otherwise records it. */
bool otb_replay_check_add(struct otb_replay *r, const uint8_t *salt, size_t len);
/* Memory of the two generations, bytes. */
size_t otb_replay_bytes(const struct otb_replay *r);

#endif
