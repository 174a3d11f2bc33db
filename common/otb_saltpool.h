/* The Shadowsocks 2022 salt pool: every request salt is kept, exactly (no
 * hashes: the spec forbids anything that could answer a false positive),
 * for a fixed time, and a salt seen again within it is refused. One open-
 * addressing table whose expired entries are free slots; it grows (and
 * drops what expired) when half full, so it holds the salts of the last
 * ttl seconds and nothing of a quiet server. */
#ifndef OTB_SALTPOOL_H
#define OTB_SALTPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "otb_crypto.h"

struct otb_salt_entry {
    double expires; /* 0 = empty */
    uint8_t len;
    uint8_t salt[OTB_MAX_SALT_LEN];
};

struct otb_saltpool {
    struct otb_salt_entry *slots; /* NULL until the first salt */
    size_t nslots, used;          /* used: slots ever filled since the last rebuild */
    double ttl;
    uint8_t key[crypto_shorthash_KEYBYTES];
};

/* Zeroed pool keeping salts ttl seconds. */
void otb_saltpool_init(struct otb_saltpool *p, double ttl);
void otb_saltpool_free(struct otb_saltpool *p);
/* 1 if salt (len <= OTB_MAX_SALT_LEN) was seen within ttl before now (refuse
 * it), 0 if not (it is kept until now + ttl), -ENOMEM if it could not be
 * kept (refuse too: a salt not kept could be replayed). */
int otb_saltpool_check_add(struct otb_saltpool *p, const uint8_t *salt, size_t len, double now);
/* Salts currently kept (not expired at now). */
size_t otb_saltpool_count(const struct otb_saltpool *p, double now);

#endif
