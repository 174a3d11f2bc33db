#include "otb_counters.h"

#include <string.h>

#define OTB_COUNTER_DESC_TCP(field, group, key, log)                            \
    { offsetof(struct otb_counters, field), group, key, log },
#define OTB_COUNTER_DESC_UDP(field, group, key, log)                            \
    { offsetof(struct otb_udp_counters, field), group, key, log },

static const struct otb_counter_desc otb_tcp_counter_desc[] = {
    OTB_TCP_COUNTERS(OTB_COUNTER_DESC_TCP)
};
static const struct otb_counter_desc otb_udp_counter_desc[] = {
    OTB_UDP_COUNTERS(OTB_COUNTER_DESC_UDP)
};

const struct otb_counter_table otb_tcp_counter_table = {
    otb_tcp_counter_desc, sizeof(otb_tcp_counter_desc) / sizeof(otb_tcp_counter_desc[0])
};
const struct otb_counter_table otb_udp_counter_table = {
    otb_udp_counter_desc, sizeof(otb_udp_counter_desc) / sizeof(otb_udp_counter_desc[0])
};

uint64_t otb_counter_get(const struct otb_counter_desc *d, const void *c)
{
    uint64_t v;

    memcpy(&v, (const char *)c + d->offset, sizeof(v));
    return v;
}

static unsigned long long otb_counter_value(const struct otb_counter_desc *d, const void *c)
{
    return (unsigned long long)otb_counter_get(d, c);
}

void otb_counters_write_json(const struct otb_counter_table *t, const void *c, FILE *out)
{
    const char *group = NULL;

    for (size_t i = 0; i < t->n; i++) {
        const struct otb_counter_desc *d = &t->desc[i];
        if (!d->group)
            continue;
        if (group && strcmp(group, d->group) == 0)
            fputc(',', out);
        else
            fprintf(out, "%s\"%s\":{", group ? "}," : "", d->group);
        group = d->group;
        fprintf(out, "\"%s\":%llu", d->key, otb_counter_value(d, c));
    }
    if (group)
        fputc('}', out);
}

void otb_counters_format_line(const struct otb_counter_table *t, const void *c, char *line,
                              size_t len)
{
    size_t used = 0;

    if (len)
        line[0] = '\0';
    for (size_t i = 0; i < t->n && used < len; i++) {
        const struct otb_counter_desc *d = &t->desc[i];
        int n;
        if (!d->log)
            continue;
        n = snprintf(line + used, len - used, "%s%s %llu", used ? " " : "", d->log,
                     otb_counter_value(d, c));
        if (n < 0)
            break;
        used += (size_t)n;
    }
}
