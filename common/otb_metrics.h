/* The Prometheus text exposition (format 0.0.4) of a program's state: the
 * counters of otb_counters.h (names made from their JSON group and key, so a
 * new counter shows without being listed twice), build info, process start
 * time and, on the box, each server's health and each WAN's state, RTT,
 * loss and bytes. Written from the same struct otb_status as the JSON
 * document, so both always say the same. */
#ifndef OTB_METRICS_H
#define OTB_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "otb_counters.h"
#include "otb_status.h"

/* One counter's place in the exposition. */
struct otb_metric_name {
    char family[96];    /* otb_tcp_refused_total */
    const char *label;  /* "reason", NULL: no label */
    const char *value;  /* its value ("auth_fail") */
    const char *type;   /* "counter" or "gauge" */
};

/* Pure: where counter d of the table with prefix scope ("tcp", "udp")
 * goes. false when it is not exposed (no JSON group). */
bool otb_metrics_name(const char *scope, const struct otb_counter_desc *d,
                      struct otb_metric_name *m);
/* Every family of counter table t (values c), HELP and TYPE first. */
void otb_metrics_write_counters(const char *scope, const struct otb_counter_table *t,
                                const void *c, FILE *out);
/* The whole exposition of the program behind st. */
void otb_metrics_write(const struct otb_status *st, FILE *out);

#endif
