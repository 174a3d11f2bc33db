/* otb-tunnel's flows on otb-redir's status page: on the box UDP is
 * otb-tunnel's, so otb-redir ("tunnel_status_socket") reads otb-tunnel's
 * status document from its status socket once a second and reports the UDP
 * flows and voice flows in its own document, for the page. The read never
 * waits: non-blocking connect and reads in the loop, given up after
 * OTB_TUNNELSTAT_DEADLINE; the last answer is what the page shows, and
 * when there is none (otb-tunnel not running, no answer in time) why. */
#ifndef OTB_TUNNELSTAT_H
#define OTB_TUNNELSTAT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "otb_log.h"

#define OTB_TUNNELSTAT_INTERVAL 1.   /* seconds between reads */
#define OTB_TUNNELSTAT_DEADLINE 0.5  /* seconds for one read */
#define OTB_TUNNELSTAT_MAX 65536     /* a document larger than this is refused */

struct otb_tunnelstat {
    struct ev_loop *loop;
    const struct otb_logger *log;
    char path[108];
    int fd;          /* the read under way, -1: none */
    char *doc;       /* its bytes (allocated for the read only) */
    size_t len;
    ev_io io;
    ev_timer poll;     /* the next read */
    ev_timer deadline; /* the read under way */
    /* The last result. */
    bool ok;
    uint64_t flows, voice;
    char why[192]; /* !ok: why there are no numbers */
};

/* Reads otb-tunnel's socket at path from now on. */
void otb_tunnelstat_start(struct otb_tunnelstat *t, struct ev_loop *loop,
                          const struct otb_logger *log, const char *path);
void otb_tunnelstat_stop(struct otb_tunnelstat *t);
/* ,"tunnel":{"associations":{"active":N,"voice":N}} (otb-tunnel's own
 * names), or ,"tunnel":{"error":"why"}. */
void otb_tunnelstat_write_json(const struct otb_tunnelstat *t, FILE *out);

/* Pure: the UDP flows (udp.associations.active) and voice flows
 * (udp.associations.voice) of otb-tunnel's status document. 0, or -1 with
 * why. */
int otb_tunnelstat_parse(const char *doc, size_t len, uint64_t *flows, uint64_t *voice,
                         char *why, size_t whylen);

#endif
