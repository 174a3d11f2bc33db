#include "otb_buf.h"

#include <stdlib.h>

void otb_pool_init(struct otb_pool *p, size_t max_free)
{
    p->free = NULL;
    p->nfree = 0;
    p->max_free = max_free;
    p->in_use = 0;
}

void otb_pool_destroy(struct otb_pool *p)
{
    while (p->free) {
        struct otb_buf *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->nfree = 0;
}

struct otb_buf *otb_pool_get(struct otb_pool *p)
{
    struct otb_buf *b = p->free;

    if (b) {
        p->free = b->next;
        p->nfree--;
    } else {
        b = malloc(sizeof(*b));
        if (!b)
            return NULL;
    }
    b->next = NULL;
    b->start = b->end = 0;
    p->in_use++;
    return b;
}

void otb_pool_put(struct otb_pool *p, struct otb_buf *b)
{
    p->in_use--;
    if (p->nfree >= p->max_free) {
        free(b);
        return;
    }
    b->next = p->free;
    p->free = b;
    p->nfree++;
}
