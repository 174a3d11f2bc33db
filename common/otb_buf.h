/* Fixed-size data buffers from a free list: connections take one when they
 * have bytes to hold and give it back as soon as it is empty, so an idle
 * connection holds none and steady traffic allocates nothing. */
#ifndef OTB_BUF_H
#define OTB_BUF_H

#include <stddef.h>
#include <stdint.h>

#define OTB_BUF_SIZE (32 * 1024)

struct otb_buf {
    struct otb_buf *next; /* free-list link */
    uint32_t start, end;  /* pending bytes are data[start, end) */
    uint8_t data[OTB_BUF_SIZE];
};

struct otb_pool {
    struct otb_buf *free;
    size_t nfree;
    size_t max_free; /* buffers kept for reuse; the rest are returned to the system */
    size_t in_use;
};

void otb_pool_init(struct otb_pool *p, size_t max_free);
void otb_pool_destroy(struct otb_pool *p);
/* NULL on allocation failure. */
struct otb_buf *otb_pool_get(struct otb_pool *p);
void otb_pool_put(struct otb_pool *p, struct otb_buf *b);

static inline size_t otb_buf_len(const struct otb_buf *b)
{
    return b->end - b->start;
}

#endif
