/* Operator status: the counters, paths and servers as one JSON document,
 * served on a local unix socket (connect, read, EOF); on SIGUSR1 and at exit
 * the counters as log lines. The counters themselves are declared in
 * otb_counters.h. */
#ifndef OTB_STATUS_H
#define OTB_STATUS_H

#include <stdio.h>

#include "otb_relay.h"
#include "otb_udprelay.h"

struct otb_upstreams;

typedef void (*otb_status_extra)(void *arg, FILE *out); /* appends ,"key":value... */

struct otb_status {
    ev_io io;
    int fd;
    char path[108];
    struct ev_loop *loop;
    const struct otb_logger *log;
    const char *program;
    ev_tstamp started;
    /* What the document reports; NULL: the program has no such part. */
    const struct otb_relay *tcp;
    const struct otb_udprelay *udp;
    const struct otb_upstreams *upstreams;
    otb_status_extra extra; /* program-specific keys, may be NULL */
    void *extra_arg;
};

/* Writes the JSON document (one line). */
void otb_status_write(const struct otb_status *st, FILE *out);
/* Listens on the unix socket path (replacing a stale one). 0, or -1 with err. */
int otb_status_start(struct otb_status *st, const char *path, char *err, size_t errlen);
void otb_status_stop(struct otb_status *st);
/* One line per counter group ("stats: ...", "udp stats: ..."): at exit. */
void otb_status_log_counters(const struct otb_status *st);
/* SIGUSR1: the counter lines, then the rest of the document (uptime, paths,
 * servers) as "status: {...}", so that no counter is logged twice. */
void otb_status_log(const struct otb_status *st);

#endif
