#include "otb_srccount.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define OTB_SRCCOUNT_MAX_SOURCES (1u << 16)

int otb_srccount_init(struct otb_srccount *s, size_t sources)
{
    size_t n = 16;

    memset(s, 0, sizeof(*s));
    sources = OTB_MIN(sources, (size_t)OTB_SRCCOUNT_MAX_SOURCES);
    while (n < 2 * sources)
        n <<= 1;
    s->slots = calloc(n, sizeof(*s->slots));
    if (!s->slots)
        return -ENOMEM;
    s->mask = n - 1;
    s->limit = n / 2;
    randombytes_buf(s->key, sizeof(s->key));
    return 0;
}

void otb_srccount_free(struct otb_srccount *s)
{
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

void otb_src_from_sockaddr(struct otb_src *src, const struct sockaddr *sa)
{
    memset(src, 0, sizeof(*src));
    if (sa->sa_family == AF_INET) {
        src->addr[10] = src->addr[11] = 0xff;
        memcpy(src->addr + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
        /* A mapped IPv4 peer (dual-stack listener) is its IPv4 address. */
        memcpy(src->addr, a, memcmp(a, mapped, sizeof(mapped)) == 0 ? 16 : 8);
    }
}

/* Where src's probe sequence starts. */
static size_t otb_srccount_home(const struct otb_srccount *s, const struct otb_src *src)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, src->addr, sizeof(src->addr), s->key);
    memcpy(&h, out, sizeof(h));
    return (size_t)h & s->mask;
}

/* The entry of src, or the free slot where it belongs. */
static struct otb_srccount_entry *otb_srccount_slot(const struct otb_srccount *s,
                                                    const struct otb_src *src)
{
    size_t i;

    for (i = otb_srccount_home(s, src); s->slots[i].count; i = (i + 1) & s->mask)
        if (memcmp(&s->slots[i].src, src, sizeof(*src)) == 0)
            break;
    return &s->slots[i];
}

uint32_t otb_srccount_get(const struct otb_srccount *s, const struct otb_src *src)
{
    return otb_srccount_slot(s, src)->count;
}

uint32_t otb_srccount_add(struct otb_srccount *s, const struct otb_src *src)
{
    struct otb_srccount_entry *e = otb_srccount_slot(s, src);

    if (e->count == 0) {
        if (s->used >= s->limit)
            return 0;
        e->src = *src;
        s->used++;
    }
    return ++e->count;
}

/* Linear probing without tombstones: entries after a freed slot move back
 * into it when it lies on their probe sequence. */
static void otb_srccount_remove_at(struct otb_srccount *s, size_t i)
{
    size_t j = i;

    s->slots[i].count = 0;
    for (;;) {
        size_t home;

        j = (j + 1) & s->mask;
        if (s->slots[j].count == 0)
            return;
        home = otb_srccount_home(s, &s->slots[j].src);
        /* Stays if its home lies cyclically in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        s->slots[i] = s->slots[j];
        s->slots[j].count = 0;
        i = j;
    }
}

void otb_srccount_del(struct otb_srccount *s, const struct otb_src *src)
{
    struct otb_srccount_entry *e = otb_srccount_slot(s, src);

    if (e->count == 0 || --e->count > 0)
        return;
    s->used--;
    otb_srccount_remove_at(s, (size_t)(e - s->slots));
}
