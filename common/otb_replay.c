#include "otb_replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int otb_replay_init(struct otb_replay *r, size_t capacity)
{
    size_t slots = 16;

    memset(r, 0, sizeof(*r));
    if (capacity > ((size_t)1 << 28)) /* 2 GiB of tables is already absurd */
        return -ENOMEM;
    while (slots < capacity * 2)
        slots <<= 1;
    r->slots = slots;
    r->capacity = slots / 2;
    r->gen[0] = calloc(slots, sizeof(uint64_t));
    r->gen[1] = calloc(slots, sizeof(uint64_t));
    if (!r->gen[0] || !r->gen[1]) {
        otb_replay_free(r);
        return -ENOMEM;
    }
    randombytes_buf(r->key, sizeof(r->key));
    return 0;
}

void otb_replay_free(struct otb_replay *r)
{
    free(r->gen[0]);
    free(r->gen[1]);
    memset(r, 0, sizeof(*r));
}

static uint64_t otb_replay_hash(const struct otb_replay *r, const uint8_t *salt, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, salt, len, r->key);
    memcpy(&h, out, sizeof(h));
    return h ? h : 1; /* 0 marks an empty slot */
}

/* Returns the slot holding h, or the empty slot where it belongs. */
static uint64_t *otb_replay_slot(uint64_t *table, size_t slots, uint64_t h)
{
    size_t i = (size_t)h & (slots - 1);
    while (table[i] != 0 && table[i] != h)
        i = (i + 1) & (slots - 1);
    return &table[i];
}

bool otb_replay_check_add(struct otb_replay *r, const uint8_t *salt, size_t len)
{
    uint64_t h = otb_replay_hash(r, salt, len);
    uint64_t *slot;

    if (*otb_replay_slot(r->gen[1], r->slots, h) == h)
        return true;
    slot = otb_replay_slot(r->gen[0], r->slots, h);
    if (*slot == h)
        return true;
    if (r->count >= r->capacity) {
        uint64_t *old = r->gen[1];
        memset(old, 0, r->slots * sizeof(uint64_t));
        r->gen[1] = r->gen[0];
        r->gen[0] = old;
        r->count = 0;
        slot = otb_replay_slot(r->gen[0], r->slots, h);
    }
    *slot = h;
    r->count++;
    return false;
}
