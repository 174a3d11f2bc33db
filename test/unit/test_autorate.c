/* Latency-driven download rate estimate (otb_autorate). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>

#include "otb_autorate.h"

/* A link fed for secs seconds: samples every 0.1 s, the WAN receiving
 * rx_kbit and answering probes in rtt seconds. Returns the time reached. */
static double feed(struct otb_autorate *a, double t, double secs, uint64_t *rx, uint32_t rx_kbit,
                   double rtt)
{
    for (double end = t + secs; t < end; t += 0.1) {
        *rx += (uint64_t)rx_kbit * 1000 / 8 / 10;
        otb_autorate_step(a, t, *rx, rtt);
    }
    return t;
}

static void test_rises_when_loaded_and_flat(void **state)
{
    struct otb_autorate a;
    uint64_t rx = 0;
    (void)state;

    otb_autorate_init(&a, 10000, 2500, 20000);
    assert_int_equal(a.rate_kbit, 10000);
    /* Shaped at 90%: the link carries 9 Mbit/s, RTT flat at 20 ms. */
    double t = feed(&a, 1, 3, &rx, 9000, 0.020);
    assert_true(a.rate_kbit > 10000);
    uint32_t after = a.rate_kbit;
    /* It goes on rising while the load follows, up to the maximum only. */
    for (int i = 0; i < 100; i++)
        t = feed(&a, t, 0.5, &rx, a.rate_kbit * 9 / 10, 0.020);
    assert_true(a.rate_kbit > after);
    assert_int_equal(a.rate_kbit, 20000);
}

static void test_falls_on_rtt_rise(void **state)
{
    struct otb_autorate a;
    uint64_t rx = 0;
    (void)state;

    otb_autorate_init(&a, 10000, 2500, 20000);
    double t = feed(&a, 1, 2, &rx, 1000, 0.020); /* baseline 20 ms, idle */
    assert_int_equal(a.rate_kbit, 10000);
    /* The line fell to 5 Mbit/s: a queue forms in the modem (RTT +80 ms). */
    t = feed(&a, t, 0.35, &rx, 5000, 0.100); /* two high samples: at once */
    assert_true(a.rate_kbit < 10000);
    /* Toward 90% of what the line carries, not just 10% off. */
    t = feed(&a, t, 1.5, &rx, 5000, 0.100);
    assert_true(a.rate_kbit <= 5000 * 95 / 100);
    assert_true(a.rate_kbit >= 2500);
    /* The queue formed where the server, shaping at 90%, sends what the line
     * carried: 5000 / 0.9, not the 10000 we had. */
    assert_true(a.bloat_kbit >= 5500 && a.bloat_kbit <= 5600);
    /* Rising again: +5% while well under that rate, +1% within 90..110% of
     * it, so the next queue is a small one. */
    uint32_t low = a.rate_kbit;
    assert_true(low < 4600);
    for (int i = 0; i < 100 && a.rate_kbit == low; i++) /* after the 2 s hold */
        t = feed(&a, t, 0.1, &rx, low * 9 / 10, 0.020);
    assert_int_equal(a.rate_kbit, low * 105 / 100 + 1);
    for (int i = 0; i < 100 && a.rate_kbit < 5000; i++)
        t = feed(&a, t, 0.5, &rx, a.rate_kbit * 9 / 10, 0.020);
    uint32_t near = a.rate_kbit;
    t = feed(&a, t, 0.5, &rx, near * 9 / 10, 0.020);
    assert_true(a.rate_kbit > near && a.rate_kbit <= near * 101 / 100 + 1);
    /* No queue past 110% of it: the line got faster, +5% steps again. */
    for (int i = 0; i < 100 && a.rate_kbit <= 6200; i++)
        t = feed(&a, t, 0.5, &rx, a.rate_kbit * 9 / 10, 0.020);
    near = a.rate_kbit;
    t = feed(&a, t, 0.5, &rx, near * 9 / 10, 0.020);
    assert_true(a.rate_kbit > near * 104 / 100);
    t = feed(&a, t, 1.5, &rx, 5000, 0.100);
    /* A small rise (under the threshold) does not lower it. */
    uint32_t r = a.rate_kbit;
    t = feed(&a, t, 3, &rx, r / 2, 0.025);
    assert_int_equal(a.rate_kbit, r);
    (void)t;
}

static void test_holds_when_idle(void **state)
{
    struct otb_autorate a;
    uint64_t rx = 0;
    (void)state;

    otb_autorate_init(&a, 10000, 2500, 20000);
    /* Idle (1 Mbit/s of 10) with flat RTT: no reason to move. */
    feed(&a, 1, 20, &rx, 1000, 0.020);
    assert_int_equal(a.rate_kbit, 10000);
    /* Nothing received at all, an RTT sample now and then: the same. */
    otb_autorate_step(&a, 30, rx, 0.020);
    otb_autorate_step(&a, 40, rx, 0.021);
    assert_int_equal(a.rate_kbit, 10000);
}

static void test_bounds(void **state)
{
    struct otb_autorate a;
    uint64_t rx = 0;
    (void)state;

    /* Start outside the bounds: clamped. */
    otb_autorate_init(&a, 50000, 2500, 20000);
    assert_int_equal(a.rate_kbit, 20000);
    otb_autorate_init(&a, 10000, 8000, 12000);
    double t = feed(&a, 1, 1, &rx, 1000, 0.020);
    /* Heavy bufferbloat for a long time: never under the minimum. */
    t = feed(&a, t, 20, &rx, 500, 0.300);
    assert_int_equal(a.rate_kbit, 8000);
    /* Loaded and flat for long: never over the maximum. */
    t = feed(&a, t, 40, &rx, 11000, 0.300);
    for (int i = 0; i < 300; i++)
        t = feed(&a, t, 0.5, &rx, a.rate_kbit, 0.300);
    assert_int_equal(a.rate_kbit, 12000);
    /* A counter that goes back (interface re-created) is no negative rate. */
    otb_autorate_step(&a, t + 1, 0, 0.3);
    otb_autorate_step(&a, t + 2, 100, 0.3);
    assert_int_equal(a.rate_kbit, 12000);
}

static void test_baseline_drift(void **state)
{
    struct otb_autorate a;
    uint64_t rx = 0;
    (void)state;

    otb_autorate_init(&a, 10000, 2500, 20000);
    double t = feed(&a, 1, 2, &rx, 1000, 0.030);
    assert_true(a.baseline > 0.029 && a.baseline < 0.031);
    /* A lower RTT is the new baseline at once. */
    t = feed(&a, t, 1, &rx, 1000, 0.020);
    assert_true(a.baseline < 0.0205);
    /* The path got longer for good (4G handover, +40 ms): the baseline
     * follows slowly, not at once... */
    t = feed(&a, t, 2, &rx, 1000, 0.060);
    assert_true(a.baseline < 0.030);
    /* ...but within a few time constants. */
    t = feed(&a, t, 120, &rx, 1000, 0.060);
    assert_true(a.baseline > 0.055 && a.baseline <= 0.060);
    /* So a loaded link on the longer path is no longer read as bloat: it rises. */
    uint32_t r = a.rate_kbit;
    t = feed(&a, t, 3, &rx, r * 9 / 10, 0.060);
    assert_true(a.rate_kbit > r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rises_when_loaded_and_flat),
        cmocka_unit_test(test_falls_on_rtt_rise),
        cmocka_unit_test(test_holds_when_idle),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_baseline_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
