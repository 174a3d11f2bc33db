/* Unit tests for the per-source counter of unauthenticated connections:
 * sources (IPv4, mapped IPv4, IPv6 /64), counts, the table's bound, and
 * removal in the middle of probe sequences checked against a plain array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "otb_srccount.h"

static struct otb_src src_of(const char *ip)
{
    struct sockaddr_storage ss = { 0 };
    struct otb_src src;

    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    otb_src_from_sockaddr(&src, (struct sockaddr *)&ss);
    return src;
}

static void test_sources(void **state)
{
    struct otb_src a = src_of("192.0.2.1"), b = src_of("::ffff:192.0.2.1");
    struct otb_src c = src_of("2001:db8:1:2::1"), d = src_of("2001:db8:1:2:ffff::9");
    struct otb_src e = src_of("2001:db8:1:3::1"), f = src_of("192.0.2.2");
    (void)state;

    /* A mapped IPv4 peer is its IPv4 address; IPv6 counts per /64. */
    assert_memory_equal(&a, &b, sizeof(a));
    assert_memory_equal(&c, &d, sizeof(c));
    assert_memory_not_equal(&c, &e, sizeof(c));
    assert_memory_not_equal(&a, &f, sizeof(a));
}

static void test_counts(void **state)
{
    struct otb_srccount s;
    struct otb_src a = src_of("192.0.2.1"), b = src_of("198.51.100.7");
    (void)state;

    assert_int_equal(otb_srccount_init(&s, 8), 0);
    assert_int_equal(otb_srccount_get(&s, &a), 0);
    assert_int_equal(otb_srccount_add(&s, &a), 1);
    assert_int_equal(otb_srccount_add(&s, &a), 2);
    assert_int_equal(otb_srccount_add(&s, &b), 1);
    assert_int_equal(s.used, 2);
    otb_srccount_del(&s, &a);
    assert_int_equal(otb_srccount_get(&s, &a), 1);
    otb_srccount_del(&s, &a);
    otb_srccount_del(&s, &a); /* not counted: nothing happens */
    assert_int_equal(otb_srccount_get(&s, &a), 0);
    assert_int_equal(otb_srccount_get(&s, &b), 1);
    assert_int_equal(s.used, 1);
    otb_srccount_free(&s);
    assert_null(s.slots);
}

/* Room for limit sources; one more new source is refused, known ones count on. */
static void test_bound(void **state)
{
    struct otb_srccount s;
    char ip[32];
    (void)state;

    assert_int_equal(otb_srccount_init(&s, 8), 0);
    for (size_t i = 0; i < s.limit; i++) {
        struct otb_src x;
        snprintf(ip, sizeof(ip), "10.0.0.%zu", i + 1);
        x = src_of(ip);
        assert_int_equal(otb_srccount_add(&s, &x), 1);
    }
    struct otb_src extra = src_of("10.0.1.1"), first = src_of("10.0.0.1");
    assert_int_equal(otb_srccount_add(&s, &extra), 0);
    assert_int_equal(otb_srccount_add(&s, &first), 2);
    otb_srccount_free(&s);
}

/* Random adds and removals against a plain array of counts: removal moves
 * entries back along their probe sequences, and must lose none. */
static void test_against_reference(void **state)
{
    enum { SOURCES = 200, STEPS = 100000 };
    struct otb_srccount s;
    struct otb_src srcs[SOURCES];
    uint32_t ref[SOURCES] = { 0 };
    size_t used = 0;
    char ip[32];
    (void)state;

    assert_int_equal(otb_srccount_init(&s, SOURCES), 0);
    for (int i = 0; i < SOURCES; i++) {
        snprintf(ip, sizeof(ip), "2001:db8:%x::1", i);
        srcs[i] = src_of(ip);
    }
    srand(7);
    for (int step = 0; step < STEPS; step++) {
        int i = rand() % SOURCES;
        if (rand() % 2) {
            used += ref[i] == 0;
            assert_int_equal(otb_srccount_add(&s, &srcs[i]), ++ref[i]);
        } else {
            otb_srccount_del(&s, &srcs[i]);
            if (ref[i] > 0 && --ref[i] == 0)
                used--;
        }
        if (step % 1000 == 0)
            for (int j = 0; j < SOURCES; j++)
                assert_int_equal(otb_srccount_get(&s, &srcs[j]), ref[j]);
        assert_int_equal(s.used, used);
    }
    otb_srccount_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_against_reference),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
