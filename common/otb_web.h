/* What the program serves over HTTP with --metrics ADDR:PORT (otb_http.h):
 *   GET /              the status page (otb_page.html, compiled in)
 *   GET /status.json   the status document, as on the status socket
 *   GET /history.json  each WAN's throughput over the last minutes
 *   GET /metrics       the Prometheus exposition (otb_metrics.h)
 * The history is sampled here, once a second, from the WANs' interface
 * counters, so the page draws the recent past as soon as it opens. */
#ifndef OTB_WEB_H
#define OTB_WEB_H

#include <ev.h>
#include <stdio.h>

#include "otb_http.h"
#include "otb_policy.h"
#include "otb_status.h"
#include "otb_wanmon.h"

#define OTB_WEB_HISTORY 300 /* samples, one per interval */
#define OTB_WEB_INTERVAL 1. /* seconds */

struct otb_web_wan {
    char name[OTB_WAN_NAME_MAX]; /* "" = slot unused */
    uint64_t tx, rx;             /* counters at the last sample */
    float up[OTB_WEB_HISTORY], down[OTB_WEB_HISTORY]; /* bytes/s, ring */
};

struct otb_web {
    const struct otb_status *status;
    struct otb_http http;
    ev_timer sample;
    ev_tstamp last;
    size_t head, n; /* ring: next slot, samples held */
    struct otb_web_wan wans[OTB_MAX_WANS];
};

/* Serves st on host:port. 0, or -1 with err. */
int otb_web_start(struct otb_web *w, const struct otb_status *st, const char *host,
                  unsigned port, char *err, size_t errlen);
void otb_web_stop(struct otb_web *w);

/* Pure parts, for tests. Records one sample: counters tx/rx of WAN slot i
 * (named name) dt seconds after the previous one. */
void otb_web_record(struct otb_web *w, size_t i, const char *name, uint64_t tx, uint64_t rx,
                    ev_tstamp dt);
/* Closes the current sample (every slot has written one value). */
void otb_web_advance(struct otb_web *w);
/* {"interval":1,"wans":[{"name":..,"up":[..],"down":[..]}]}, oldest first. */
void otb_web_write_history(const struct otb_web *w, FILE *out);

#endif
