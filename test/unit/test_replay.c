/* Unit tests for the salt replay filter: duplicates, generation rotation and
 * the absence of false positives. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_replay.h"

#define SALT_LEN 32

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* Distinct deterministic salts: tag selects a family, i the member. */
static void salt_n(uint8_t *salt, uint32_t tag, uint64_t i)
{
    memset(salt, 0x5C, SALT_LEN);
    memcpy(salt, &tag, sizeof(tag));
    memcpy(salt + 8, &i, sizeof(i));
}

static void add_fresh(struct otb_replay *r, uint32_t tag, uint64_t from, uint64_t count)
{
    uint8_t salt[SALT_LEN];

    for (uint64_t i = from; i < from + count; i++) {
        salt_n(salt, tag, i);
        assert_false(otb_replay_check_add(r, salt, sizeof(salt)));
    }
}

static void test_duplicate(void **state)
{
    struct otb_replay r;
    uint8_t a[SALT_LEN], b[SALT_LEN];

    (void)state;
    assert_int_equal(otb_replay_init(&r, 1000), 0);
    randombytes_buf(a, sizeof(a));
    memcpy(b, a, sizeof(b));
    b[SALT_LEN - 1] ^= 1;
    assert_false(otb_replay_check_add(&r, a, sizeof(a)));
    assert_true(otb_replay_check_add(&r, a, sizeof(a)));
    assert_true(otb_replay_check_add(&r, a, sizeof(a)));
    /* One bit apart, or a prefix of it (a 16-byte salt), is a different salt. */
    assert_false(otb_replay_check_add(&r, b, sizeof(b)));
    assert_true(otb_replay_check_add(&r, b, sizeof(b)));
    assert_false(otb_replay_check_add(&r, a, 16));
    assert_true(otb_replay_check_add(&r, a, 16));
    assert_true(otb_replay_check_add(&r, a, sizeof(a)));
    otb_replay_free(&r);
    assert_null(r.gen[0]);
    assert_null(r.gen[1]);
}

static void test_distinct_accepted(void **state)
{
    struct otb_replay r;
    uint8_t salt[SALT_LEN];

    (void)state;
    assert_int_equal(otb_replay_init(&r, 4096), 0);
    add_fresh(&r, 1, 0, 3000);
    /* All of them are remembered. */
    for (uint64_t i = 0; i < 3000; i++) {
        salt_n(salt, 1, i);
        assert_true(otb_replay_check_add(&r, salt, sizeof(salt)));
    }
    otb_replay_free(&r);
}

/* Sized like shadowsocks-libev's ppbloom: at least 1 M salts per
 * generation, in 6 bytes a salt (12 MiB for the two generations). */
static void test_default_size(void **state)
{
    struct otb_replay r;

    (void)state;
    assert_int_equal(otb_replay_init(&r, OTB_REPLAY_DEFAULT_CAPACITY), 0);
    assert_true(r.capacity >= (1u << 20));
    assert_int_equal(otb_replay_bytes(&r), 12u << 20);
    otb_replay_free(&r);
}

static void test_capacity_rounding(void **state)
{
    static const size_t asked[] = { 0, 1, 8, 9, 1000, 1024, 1025, OTB_REPLAY_DEFAULT_CAPACITY };

    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(asked); i++) {
        struct otb_replay r;
        assert_int_equal(otb_replay_init(&r, asked[i]), 0);
        assert_true(r.capacity >= asked[i]);
        assert_int_equal(r.slots, r.capacity + r.capacity / 2);
        assert_int_equal(r.capacity & (r.capacity - 1), 0);
        assert_int_equal(otb_replay_bytes(&r), 2 * r.slots * sizeof(uint32_t));
        assert_true(r.capacity < 2 * asked[i] || r.capacity == 8);
        otb_replay_free(&r);
    }
}

/* A salt stays refused for at least capacity further salts and is forgotten
 * after at most 2 * capacity further salts, wherever it lands in a
 * generation. */
static void test_rotation(void **state)
{
    static const uint64_t offsets[] = { 0, 1, 2, 511, 512, 700, 1023, 1024, 1025, 3000 };

    (void)state;
    for (size_t o = 0; o < OTB_ARRAY_LEN(offsets); o++) {
        struct otb_replay r;
        uint8_t target[SALT_LEN];
        size_t cap;

        assert_int_equal(otb_replay_init(&r, 1000), 0);
        cap = r.capacity;
        assert_int_equal(cap, 1024);

        add_fresh(&r, 2, 0, offsets[o]);
        salt_n(target, 3, o);
        assert_false(otb_replay_check_add(&r, target, sizeof(target)));

        /* capacity further salts, checking along the way (a refused check
         * does not record anything). */
        for (uint64_t i = 0; i < cap; i++) {
            add_fresh(&r, 4, i, 1);
            if (i % 97 == 0 || i + 1 == cap)
                assert_true(otb_replay_check_add(&r, target, sizeof(target)));
        }
        /* Well over 2 * capacity in total: forgotten. */
        add_fresh(&r, 4, cap, cap + 100);
        assert_false(otb_replay_check_add(&r, target, sizeof(target)));
        /* Accepted again means recorded again. */
        assert_true(otb_replay_check_add(&r, target, sizeof(target)));
        otb_replay_free(&r);
    }
}

/* The exact window when the salt opens a fresh table: it survives
 * 2 * capacity - 1 further salts, and the 2 * capacity-th drops it. */
static void test_rotation_exact(void **state)
{
    struct otb_replay r;
    uint8_t target[SALT_LEN];
    size_t cap;

    (void)state;
    assert_int_equal(otb_replay_init(&r, 64), 0);
    cap = r.capacity;
    salt_n(target, 5, 0);
    assert_false(otb_replay_check_add(&r, target, sizeof(target)));
    add_fresh(&r, 6, 0, 2 * cap - 1);
    assert_true(otb_replay_check_add(&r, target, sizeof(target)));
    add_fresh(&r, 6, 2 * cap - 1, 1);
    assert_false(otb_replay_check_add(&r, target, sizeof(target)));
    otb_replay_free(&r);

    /* Never remembers more than 2 * capacity salts, never fewer than capacity. */
    assert_int_equal(otb_replay_init(&r, 64), 0);
    cap = r.capacity;
    add_fresh(&r, 7, 0, 10 * cap + 3);
    {
        uint8_t salt[SALT_LEN];
        size_t remembered = 0;
        /* Check newest first so that checks (which record forgotten salts)
         * do not disturb the answer for older ones. */
        for (uint64_t i = 10 * cap + 3; i-- > 0;) {
            salt_n(salt, 7, i);
            if (otb_replay_check_add(&r, salt, sizeof(salt)))
                remembered++;
            else
                break;
        }
        assert_true(remembered >= cap);
        assert_true(remembered <= 2 * cap);
    }
    otb_replay_free(&r);
}

static void test_no_false_positives(void **state)
{
    enum { N = 200000 };
    struct otb_replay r;
    uint8_t *salts = malloc((size_t)N * SALT_LEN);
    size_t refused = 0;

    (void)state;
    assert_non_null(salts);
    randombytes_buf(salts, (size_t)N * SALT_LEN);
    assert_int_equal(otb_replay_init(&r, OTB_REPLAY_DEFAULT_CAPACITY), 0);
    for (size_t i = 0; i < N; i++)
        if (otb_replay_check_add(&r, salts + i * SALT_LEN, SALT_LEN))
            refused++;
    assert_int_equal(refused, 0);
    /* The most recent capacity salts are all still refused. */
    for (size_t i = N - r.capacity; i < N; i++)
        assert_true(otb_replay_check_add(&r, salts + i * SALT_LEN, SALT_LEN));
    otb_replay_free(&r);

    /* 16-byte salts (AES-128-GCM) behave the same. */
    assert_int_equal(otb_replay_init(&r, 1u << 14), 0);
    refused = 0;
    for (size_t i = 0; i < N; i++)
        if (otb_replay_check_add(&r, salts + i * SALT_LEN, 16))
            refused++;
    assert_int_equal(refused, 0);
    otb_replay_free(&r);
    free(salts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate),
        cmocka_unit_test(test_distinct_accepted),
        cmocka_unit_test(test_default_size),
        cmocka_unit_test(test_capacity_rounding),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_rotation_exact),
        cmocka_unit_test(test_no_false_positives),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
