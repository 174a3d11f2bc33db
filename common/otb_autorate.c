#include "otb_autorate.h"

static uint32_t otb_autorate_clamp(const struct otb_autorate *a, uint64_t kbit)
{
    return kbit < a->min_kbit ? a->min_kbit : kbit > a->max_kbit ? a->max_kbit : (uint32_t)kbit;
}

void otb_autorate_init(struct otb_autorate *a, uint32_t start_kbit, uint32_t min_kbit,
                       uint32_t max_kbit)
{
    *a = (struct otb_autorate){ .min_kbit = min_kbit, .max_kbit = max_kbit };
    a->rate_kbit = otb_autorate_clamp(a, start_kbit);
}

/* The lowest RTT at once; a higher one slowly, so a path that got longer
 * for good (4G handover) is not read as a queue for ever. */
static void otb_autorate_baseline(struct otb_autorate *a, double rtt, double dt)
{
    if (a->baseline == 0 || rtt < a->baseline) {
        a->baseline = rtt;
        return;
    }
    double k = dt / OTB_AUTORATE_BASELINE_TAU;
    a->baseline += (rtt - a->baseline) * (k > 1 ? 1 : k);
}

/* Within 90..110% of the rate a queue last formed at: the line's limit is near, creep. Past
 * it without a queue, the line got faster (4G): rise at full pace again. */
static bool otb_autorate_near_bloat(const struct otb_autorate *a, uint64_t rate)
{
    uint64_t b = a->bloat_kbit;

    return b > 0 && rate * 10 >= b * 9 && rate * 10 <= b * 11;
}

/* The new rate for an interval's throughput and RTT rise. */
static uint64_t otb_autorate_decide(const struct otb_autorate *a, double now)
{
    uint64_t rate = a->rate_kbit;
    bool loaded = (uint64_t)a->rx_kbit * 100 > rate * OTB_AUTORATE_LOADED_PCT;

    if (a->rise >= OTB_AUTORATE_RISE) {
        if (a->last_down > 0 && now - a->last_down < OTB_AUTORATE_HOLD_DOWN)
            return rate;
        /* To 90% of what the line carries now: the queue then drains. The
         * rise may come from elsewhere (the upload, the cell): not below
         * half at a time. */
        uint64_t to = (uint64_t)a->rx_kbit * OTB_AUTORATE_DOWN_PCT / 100;
        uint64_t cap = rate * OTB_AUTORATE_DOWN_PCT / 100;
        if (to > cap)
            to = cap;
        return to < rate / 2 ? rate / 2 : to;
    }
    if (loaded && a->rise < OTB_AUTORATE_RISE / 2 &&
        (a->last_down == 0 || now - a->last_down >= OTB_AUTORATE_HOLD_UP))
        return rate * (otb_autorate_near_bloat(a, rate) ? OTB_AUTORATE_CREEP_PCT
                                                        : OTB_AUTORATE_UP_PCT) / 100 + 1;
    return rate;
}

bool otb_autorate_step(struct otb_autorate *a, double now, uint64_t rx_bytes, double rtt)
{
    if (rtt <= 0)
        return false;
    if (a->t0 == 0 || rx_bytes < a->rx0 || now < a->t0) { /* first, or the counter went back */
        a->t0 = now;
        a->rx0 = rx_bytes;
        a->rtt_min = rtt;
        if (a->baseline == 0)
            a->baseline = rtt;
        return false;
    }
    if (a->rtt_min == 0 || rtt < a->rtt_min)
        a->rtt_min = rtt;
    double dt = now - a->t0;
    /* A queue seen twice in a row need not wait for the end of the interval. */
    double prev = a->prev_rtt;
    bool queue = prev - a->baseline >= OTB_AUTORATE_RISE && rtt - a->baseline >= OTB_AUTORATE_RISE;
    a->prev_rtt = rtt;
    if (dt < OTB_AUTORATE_INTERVAL && !(queue && dt >= 0.2))
        return false;
    if (queue)
        a->rtt_min = rtt < prev ? rtt : prev;
    /* The interval's lowest sample: a lone late answer is jitter, a queue
     * raises them all. */
    otb_autorate_baseline(a, a->rtt_min, dt);
    a->rise = a->rtt_min - a->baseline;
    a->rx_kbit = (uint32_t)((double)(rx_bytes - a->rx0) * 8 / 1000 / dt);
    a->t0 = now;
    a->rx0 = rx_bytes;
    a->rtt_min = 0;

    uint32_t old = a->rate_kbit;
    a->rate_kbit = otb_autorate_clamp(a, otb_autorate_decide(a, now));
    if (a->rate_kbit < old) {
        /* Where the queue forms: the announced rate at which the server's shaping (at
         * its default share) sends what the line carried while the queue stood, not the
         * rate we had, which may be twice the line's after a fall. A fall soon after
         * another is the same queue draining: where it formed is known already. */
        uint64_t at = (uint64_t)a->rx_kbit * 100 / OTB_AUTORATE_SERVER_SHARE_PCT;
        bool draining = a->last_down > 0 && now - a->last_down < OTB_AUTORATE_HOLD_UP;

        if (!draining || a->bloat_kbit == 0)
            a->bloat_kbit = at < a->rate_kbit ? a->rate_kbit : at > old ? old : (uint32_t)at;
        a->last_down = now;
    }
    return a->rate_kbit != old;
}
