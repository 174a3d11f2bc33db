/* Operator status: the counters as one JSON document, served on a local
 * unix socket (connect, read, EOF) and logged on SIGUSR1. */
#ifndef OTB_STATUS_H
#define OTB_STATUS_H

#include <stdio.h>

#include "otb_relay.h"

struct otb_upstreams;

typedef void (*otb_status_extra)(void *arg, FILE *out); /* appends ,"key":value... */

struct otb_status {
    ev_io io;
    int fd;
    char path[108];
    struct otb_relay *relay;
    const struct otb_upstreams *upstreams; /* box programs, may be NULL */
    const char *program;
    ev_tstamp started; /* set by the program when it fills the struct */
    otb_status_extra extra;
    void *extra_arg;
};

/* Writes the JSON document (one line). */
void otb_status_write(const struct otb_status *st, FILE *out);
/* Listens on the unix socket path (replacing a stale one). 0, or -1 with err. */
int otb_status_start(struct otb_status *st, const char *path, char *err, size_t errlen);
void otb_status_stop(struct otb_status *st);
/* Logs the document at INFO (SIGUSR1). */
void otb_status_log(const struct otb_status *st);

#endif
