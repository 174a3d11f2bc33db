#include "otb_saltpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void otb_saltpool_init(struct otb_saltpool *p, double ttl)
{
    memset(p, 0, sizeof(*p));
    p->ttl = ttl;
    randombytes_buf(p->key, sizeof(p->key));
}

void otb_saltpool_free(struct otb_saltpool *p)
{
    free(p->slots);
    p->slots = NULL;
    p->nslots = p->used = 0;
}

/* Keyed, so that a peer cannot aim salts at one probe chain. */
static size_t otb_saltpool_home(const struct otb_saltpool *p, const uint8_t *salt, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;

    crypto_shorthash(h, salt, len, p->key);
    memcpy(&v, h, sizeof(v));
    return (size_t)v & (p->nslots - 1);
}

static bool otb_saltpool_live(const struct otb_salt_entry *e, double now)
{
    return e->expires != 0 && e->expires > now;
}

/* Empties the table into one of nslots slots, keeping the live entries. */
static int otb_saltpool_rebuild(struct otb_saltpool *p, size_t nslots, double now)
{
    struct otb_salt_entry *old = p->slots;
    size_t old_n = p->nslots;

    p->slots = calloc(nslots, sizeof(*p->slots));
    if (!p->slots) {
        p->slots = old;
        return -ENOMEM;
    }
    p->nslots = nslots;
    p->used = 0;
    for (size_t i = 0; i < old_n; i++) {
        if (!otb_saltpool_live(&old[i], now))
            continue;
        size_t j = otb_saltpool_home(p, old[i].salt, old[i].len);
        while (p->slots[j].expires != 0)
            j = (j + 1) & (p->nslots - 1);
        p->slots[j] = old[i];
        p->used++;
    }
    free(old);
    return 0;
}

int otb_saltpool_check_add(struct otb_saltpool *p, const uint8_t *salt, size_t len, double now)
{
    struct otb_salt_entry *free_slot = NULL;
    size_t i;

    if (p->used + 1 > p->nslots / 2) {
        size_t live = otb_saltpool_count(p, now), n = 16;
        while (n < 4 * (live + 1))
            n <<= 1;
        if (otb_saltpool_rebuild(p, n, now) != 0)
            return -ENOMEM;
    }
    /* The whole chain is searched: an expired slot before a live match is
     * only a place to put a new salt. */
    for (i = otb_saltpool_home(p, salt, len); p->slots[i].expires != 0;
         i = (i + 1) & (p->nslots - 1)) {
        struct otb_salt_entry *e = &p->slots[i];
        if (!otb_saltpool_live(e, now)) {
            if (!free_slot)
                free_slot = e;
            continue;
        }
        if (e->len == len && memcmp(e->salt, salt, len) == 0)
            return 1;
    }
    if (!free_slot) {
        free_slot = &p->slots[i];
        p->used++;
    }
    free_slot->expires = now + p->ttl;
    free_slot->len = (uint8_t)len;
    memcpy(free_slot->salt, salt, len);
    return 0;
}

size_t otb_saltpool_count(const struct otb_saltpool *p, double now)
{
    size_t n = 0;

    for (size_t i = 0; i < p->nslots; i++)
        n += otb_saltpool_live(&p->slots[i], now);
    return n;
}
