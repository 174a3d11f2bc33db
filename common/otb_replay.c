#include "otb_replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Every page of a table written now, not left to calloc's lazy zero pages:
 * the memory the filter needs (stated at start) is taken at once, instead
 * of the process growing page by page as salts land at random places, which
 * would look like a leak and could fail later under memory pressure. The
 * volatile store keeps the compiler from folding it away. */
static void otb_replay_commit(uint32_t *table, size_t slots)
{
    volatile uint32_t *t = table;

    for (size_t i = 0; i < slots; i += 1024)
        t[i] = 0;
}

int otb_replay_init(struct otb_replay *r, size_t capacity)
{
    size_t cap = 8;

    memset(r, 0, sizeof(*r));
    if (capacity > ((size_t)1 << 28)) /* 3 GiB of tables is already absurd */
        return -ENOMEM;
    while (cap < capacity)
        cap <<= 1;
    r->capacity = cap;
    r->slots = cap + cap / 2; /* load at most 2/3: short probe sequences */
    r->gen[0] = calloc(r->slots, sizeof(uint32_t));
    r->gen[1] = calloc(r->slots, sizeof(uint32_t));
    if (!r->gen[0] || !r->gen[1]) {
        otb_replay_free(r);
        return -ENOMEM;
    }
    otb_replay_commit(r->gen[0], r->slots);
    otb_replay_commit(r->gen[1], r->slots);
    randombytes_buf(r->key, sizeof(r->key));
    return 0;
}

void otb_replay_free(struct otb_replay *r)
{
    free(r->gen[0]);
    free(r->gen[1]);
    memset(r, 0, sizeof(*r));
}

size_t otb_replay_bytes(const struct otb_replay *r)
{
    return 2 * r->slots * sizeof(uint32_t);
}

static uint64_t otb_replay_hash(const struct otb_replay *r, const uint8_t *salt, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, salt, len, r->key);
    memcpy(&h, out, sizeof(h));
    return h;
}

/* The slot holding fp, or the empty slot where it belongs: the probe starts
 * at the high half of the hash scaled to the table (no power of two needed). */
static uint32_t *otb_replay_slot(uint32_t *table, size_t slots, uint64_t h, uint32_t fp)
{
    size_t i = (size_t)(((h >> 32) * (uint64_t)slots) >> 32);

    while (table[i] != 0 && table[i] != fp)
        i = i + 1 == slots ? 0 : i + 1;
    return &table[i];
}

bool otb_replay_check_add(struct otb_replay *r, const uint8_t *salt, size_t len)
{
    uint64_t h = otb_replay_hash(r, salt, len);
    uint32_t fp = (uint32_t)h ? (uint32_t)h : 1; /* 0 marks an empty slot */
    uint32_t *slot;

    if (*otb_replay_slot(r->gen[1], r->slots, h, fp) == fp)
        return true;
    slot = otb_replay_slot(r->gen[0], r->slots, h, fp);
    if (*slot == fp)
        return true;
    if (r->count >= r->capacity) {
        uint32_t *old = r->gen[1];
        memset(old, 0, r->slots * sizeof(uint32_t));
        r->gen[1] = r->gen[0];
        r->gen[0] = old;
        r->count = 0;
        slot = otb_replay_slot(r->gen[0], r->slots, h, fp);
    }
    *slot = fp;
    r->count++;
    return false;
}
