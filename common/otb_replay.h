/* Replay filter for salts: a salt seen twice within the window is refused.
 * Two generations of open-addressing tables of keyed 64-bit hashes
 * (SipHash with a random key, so peers cannot aim collisions); when the
 * current generation is full the older one is dropped, so the window holds
 * between capacity and 2 * capacity salts in fixed memory. */
#ifndef OTB_REPLAY_H
#define OTB_REPLAY_H

#include <sodium.h>

#include "otb_common.h"

struct otb_replay {
    uint64_t *gen[2]; /* gen[0] current, gen[1] previous */
    size_t slots;     /* per generation, a power of two, 2 * capacity */
    size_t capacity;
    size_t count;     /* entries in gen[0] */
    uint8_t key[crypto_shorthash_KEYBYTES];
};

#define OTB_REPLAY_DEFAULT_CAPACITY (1u << 16)

/* 0 or -ENOMEM. */
int otb_replay_init(struct otb_replay *r, size_t capacity);
void otb_replay_free(struct otb_replay *r);
/* true if salt was already seen (refuse it); otherwise records it. */
bool otb_replay_check_add(struct otb_replay *r, const uint8_t *salt, size_t len);

#endif
