/* Automatic download rate of a WAN whose rate varies (4G): latency-driven.
 * The server shapes each WAN's download at the rate the box announces; too
 * high and the queue forms in the line again, too low and the download
 * loses throughput. This estimate watches the WAN's received throughput and
 * the RTT of its health probes (which cross the line's download queue):
 *
 *   loaded (rx > 75% of the rate) and RTT near its baseline: +5%, only +1%
 *     within 90..110% of the rate a queue last formed at (less overshoot, so
 *     smaller queues while probing for more); that rate is read from what
 *     the line carried while the queue stood, not from the rate we had
 *   RTT over the baseline by 15 ms or more (a queue in the modem): down to
 *     90% of what the line carries (at most -50%, at least -10%)
 *   otherwise (idle, or a small rise): hold
 *
 * within [min, max]. Decisions every half second, or at once when two
 * samples in a row (0.2 s apart or more) are 15 ms over the baseline; after lowering, no rise
 * for 2 s and no further fall for 1 s (the queue needs time to drain). The
 * baseline is the lowest RTT, at once when lower, rising slowly otherwise
 * (30 s time constant: a path that got longer for good is followed). Pure:
 * no clock, no I/O. */
#ifndef OTB_AUTORATE_H
#define OTB_AUTORATE_H

#include <stdbool.h>
#include <stdint.h>

#define OTB_AUTORATE_INTERVAL 0.5     /* s between decisions */
#define OTB_AUTORATE_LOADED_PCT 75    /* rx over this % of the rate: loaded */
#define OTB_AUTORATE_RISE 0.015       /* s over the baseline: a queue is forming */
#define OTB_AUTORATE_UP_PCT 105
#define OTB_AUTORATE_CREEP_PCT 101    /* the rise near the rate of the last queue */
#define OTB_AUTORATE_DOWN_PCT 90
#define OTB_AUTORATE_HOLD_UP 2.0      /* s after a fall before rising again */
#define OTB_AUTORATE_HOLD_DOWN 1.0    /* s after a fall before falling again */
#define OTB_AUTORATE_BASELINE_TAU 30. /* s: how slowly the baseline rises */
#define OTB_AUTORATE_SERVER_SHARE_PCT 90 /* otb-server's default shape_share */

struct otb_autorate {
    uint32_t rate_kbit, min_kbit, max_kbit;
    double baseline;   /* s; 0 = no sample yet */
    double t0;         /* start of the current interval; 0 = none */
    uint64_t rx0;      /* rx bytes then */
    double rtt_min;    /* lowest sample of the interval; 0 = none */
    double last_down;  /* when the rate was last lowered; 0 = never */
    uint32_t bloat_kbit; /* the announced rate a queue last formed at; 0 = none */
    double prev_rtt;     /* the sample before; two high in a row end the interval early */
    uint32_t rx_kbit;  /* last interval's received throughput (for the log) */
    double rise;       /* last interval's RTT over the baseline, s (for the log) */
};

/* Starts at start_kbit (clamped to [min_kbit, max_kbit]). */
void otb_autorate_init(struct otb_autorate *a, uint32_t start_kbit, uint32_t min_kbit,
                       uint32_t max_kbit);
/* One RTT sample (s, > 0) at now (s), with the WAN's rx byte counter then.
 * True when a.rate_kbit changed. */
bool otb_autorate_step(struct otb_autorate *a, double now, uint64_t rx_bytes, double rtt);

#endif
