/* UDP association table (keyed SipHash, LRU) and the server's names cache:
 * pure data structures, no I/O. */
#include "otb_udprelay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ===================================================== association table */

int otb_udp_table_init(struct otb_udp_table *t, size_t expected)
{
    size_t n = 16;

    memset(t, 0, sizeof(*t));
    while (n < expected)
        n <<= 1;
    t->buckets = calloc(n, sizeof(*t->buckets));
    t->cbuckets = calloc(n, sizeof(*t->cbuckets));
    if (!t->buckets || !t->cbuckets) {
        free(t->buckets);
        free(t->cbuckets);
        t->buckets = NULL;
        t->cbuckets = NULL;
        return -ENOMEM;
    }
    t->mask = n - 1;
    t->lru.next = t->lru.prev = &t->lru;
    randombytes_buf(t->hkey, sizeof(t->hkey));
    return 0;
}

void otb_udp_table_free(struct otb_udp_table *t)
{
    while (t->clients) { /* left by links the owner did not remove */
        struct otb_udp_client *c = t->clients;
        t->clients = c->next;
        free(c);
    }
    free(t->buckets);
    free(t->cbuckets);
    t->buckets = NULL;
    t->cbuckets = NULL;
    t->count = 0;
}

int otb_udp_key_set(struct otb_udp_key *k, const struct sockaddr *sa, uint8_t sub)
{
    memset(k, 0, sizeof(*k));
    k->sub = sub;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        memcpy(k->addr, &sin->sin_addr, 4);
        k->port = sin->sin_port;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        memcpy(k->addr, &sin6->sin6_addr, 16);
        k->port = sin6->sin6_port;
    } else {
        return -EAFNOSUPPORT;
    }
    k->family = (uint8_t)sa->sa_family;
    return 0;
}

uint64_t otb_udp_table_hash(const struct otb_udp_table *t, const struct otb_udp_key *k)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)k, sizeof(*k), t->hkey);
    memcpy(&h, out, sizeof(h));
    return h;
}

struct otb_udp_link *otb_udp_table_find(const struct otb_udp_table *t,
                                        const struct otb_udp_key *k, uint64_t hash)
{
    for (struct otb_udp_link *l = t->buckets[hash & t->mask]; l; l = l->hnext)
        if (memcmp(&l->key, k, sizeof(*k)) == 0)
            return l;
    return NULL;
}

static void otb_udp_lru_unlink(struct otb_udp_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static void otb_udp_lru_push(struct otb_udp_table *t, struct otb_udp_link *l)
{
    l->prev = &t->lru;
    l->next = t->lru.next;
    t->lru.next->prev = l;
    t->lru.next = l;
}

/* ------------------------------------------------------------- clients */

/* A key of no address family (a 2022 session, keyed by its session ID: its
 * address may change) has no address to group by: all such keys share one
 * client, so a session costs no client of its own (memory per session), and
 * a full table takes the least recently active session for a new one. */
static void otb_udp_client_key(struct otb_udp_key *ck, const struct otb_udp_key *k)
{
    memset(ck, 0, sizeof(*ck));
    if (k->family != AF_UNSPEC)
        memcpy(ck->addr, k->addr, sizeof(ck->addr));
    ck->family = k->family;
}

static struct otb_udp_client *otb_udp_client_find(const struct otb_udp_table *t,
                                                  const struct otb_udp_key *ck, uint64_t hash)
{
    for (struct otb_udp_client *c = t->cbuckets[hash & t->mask]; c; c = c->hnext)
        if (c->hash == hash && memcmp(&c->key, ck, sizeof(*ck)) == 0)
            return c;
    return NULL;
}

static struct otb_udp_client *otb_udp_client_get(struct otb_udp_table *t,
                                                 const struct otb_udp_key *k)
{
    struct otb_udp_key ck;
    struct otb_udp_client *c;
    uint64_t hash;

    otb_udp_client_key(&ck, k);
    hash = otb_udp_table_hash(t, &ck);
    if ((c = otb_udp_client_find(t, &ck, hash)))
        return c;
    if (!(c = calloc(1, sizeof(*c))))
        return NULL;
    c->key = ck;
    c->hash = hash;
    c->lru.cnext = c->lru.cprev = &c->lru;
    c->hnext = t->cbuckets[hash & t->mask];
    t->cbuckets[hash & t->mask] = c;
    c->next = t->clients;
    if (t->clients)
        t->clients->prev = c;
    t->clients = c;
    return c;
}

static void otb_udp_client_put(struct otb_udp_table *t, struct otb_udp_client *c)
{
    struct otb_udp_client **p = &t->cbuckets[c->hash & t->mask];

    if (--c->count > 0)
        return;
    while (*p && *p != c)
        p = &(*p)->hnext;
    if (*p)
        *p = c->hnext;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void otb_udp_client_unlink(struct otb_udp_link *l)
{
    l->cprev->cnext = l->cnext;
    l->cnext->cprev = l->cprev;
}

static void otb_udp_client_push(struct otb_udp_link *l)
{
    struct otb_udp_link *head = &l->client->lru;

    l->cprev = head;
    l->cnext = head->cnext;
    head->cnext->cprev = l;
    head->cnext = l;
}

size_t otb_udp_table_client_count(const struct otb_udp_table *t, const struct otb_udp_key *k)
{
    struct otb_udp_key ck;
    const struct otb_udp_client *c;

    otb_udp_client_key(&ck, k);
    c = otb_udp_client_find(t, &ck, otb_udp_table_hash(t, &ck));
    return c ? c->count : 0;
}

/* ------------------------------------------------------------------ links */

int otb_udp_table_insert(struct otb_udp_table *t, struct otb_udp_link *l, uint64_t hash)
{
    struct otb_udp_link **b = &t->buckets[hash & t->mask];

    if (!(l->client = otb_udp_client_get(t, &l->key)))
        return -ENOMEM;
    l->client->count++;
    otb_udp_client_push(l);
    l->hnext = *b;
    *b = l;
    otb_udp_lru_push(t, l);
    t->count++;
    return 0;
}

void otb_udp_table_remove(struct otb_udp_table *t, struct otb_udp_link *l)
{
    struct otb_udp_link **p = &t->buckets[otb_udp_table_hash(t, &l->key) & t->mask];

    while (*p && *p != l)
        p = &(*p)->hnext;
    if (*p)
        *p = l->hnext;
    otb_udp_lru_unlink(l);
    otb_udp_client_unlink(l);
    otb_udp_client_put(t, l->client);
    l->hnext = l->prev = l->next = l->cprev = l->cnext = NULL;
    l->client = NULL;
    t->count--;
}

void otb_udp_table_touch(struct otb_udp_table *t, struct otb_udp_link *l)
{
    if (l->client->lru.cnext != l) {
        otb_udp_client_unlink(l);
        otb_udp_client_push(l);
    }
    if (t->lru.next == l)
        return;
    otb_udp_lru_unlink(l);
    otb_udp_lru_push(t, l);
}

/* The client's least recently active association that may go, or NULL. */
static struct otb_udp_link *otb_udp_client_victim(const struct otb_udp_client *c,
                                                  otb_udp_evictable_fn evictable, void *arg)
{
    for (struct otb_udp_link *l = c->lru.cprev; l != &c->lru; l = l->cprev)
        if (evictable(l, arg))
            return l;
    return NULL;
}

struct otb_udp_link *otb_udp_table_victim(const struct otb_udp_table *t,
                                          const struct otb_udp_key *k,
                                          otb_udp_evictable_fn evictable, void *arg)
{
    struct otb_udp_key ck;
    const struct otb_udp_client *own, *best = NULL;
    struct otb_udp_link *victim = NULL;
    size_t floor;

    otb_udp_client_key(&ck, k);
    own = otb_udp_client_find(t, &ck, otb_udp_table_hash(t, &ck));
    floor = own ? own->count : 0;
    /* Heaviest first; only k's own client or strictly heavier ones. */
    for (const struct otb_udp_client *c = t->clients; c; c = c->next) {
        struct otb_udp_link *l;
        if (c != own && c->count <= floor)
            continue;
        if (best && (c->count < best->count || (c->count == best->count && best == own)))
            continue;
        if ((l = otb_udp_client_victim(c, evictable, arg))) {
            best = c;
            victim = l;
        }
    }
    return victim;
}

struct otb_udp_link *otb_udp_table_oldest(const struct otb_udp_table *t)
{
    return t->lru.prev == &t->lru ? NULL : t->lru.prev;
}

const struct sockaddr *otb_udp_names_find(const struct otb_udp_name *names, size_t n,
                                          const char *host, uint16_t port, ev_tstamp now)
{
    for (size_t i = 0; i < n; i++)
        if (names[i].port == port && now < names[i].expires && strcmp(names[i].host, host) == 0)
            return (const struct sockaddr *)&names[i].addr;
    return NULL;
}

void otb_udp_names_put(struct otb_udp_name *names, size_t n, const char *host, uint16_t port,
                       const struct sockaddr *sa, ev_tstamp expires)
{
    struct otb_udp_name *slot = &names[0];

    for (size_t i = 0; i < n; i++) {
        if (names[i].port == port && strcmp(names[i].host, host) == 0) {
            slot = &names[i];
            break;
        }
        if (names[i].expires < slot->expires)
            slot = &names[i];
    }
    snprintf(slot->host, sizeof(slot->host), "%s", host);
    slot->port = port;
    slot->expires = expires;
    memcpy(&slot->addr, sa, otb_sockaddr_len(sa));
}

bool otb_udp_port_is_voice(uint16_t port)
{
    static const uint16_t voice[] = { 3478, 3479, 4569, 5060, 5061, 5349 };

    for (size_t i = 0; i < OTB_ARRAY_LEN(voice); i++)
        if (voice[i] == port)
            return true;
    return false;
}
