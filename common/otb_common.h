/* Shared basics: parser result codes, container_of, small helpers. */
#ifndef OTB_COMMON_H
#define OTB_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Result of every pure parser of network input. */
enum otb_parse {
    OTB_OK = 0,        /* a complete unit was consumed */
    OTB_NEED_MORE = 1, /* input is a valid prefix; call again with more bytes */
    OTB_BAD = -1,      /* input can never become valid */
};

#define OTB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The ev(3) "custom data" idiom: recover the connection from an embedded watcher. */
#define otb_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define OTB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define OTB_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void otb_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t otb_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void otb_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t otb_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif
