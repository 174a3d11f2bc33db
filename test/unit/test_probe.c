/* WAN health probes (otb_probe.h): authentic both ways, one direction's
 * message never valid as the other's, a wrong key or a changed byte refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "otb_probe.h"

static void master_of(struct otb_master *m, const char *password)
{
    otb_master_from_password(m, OTB_CHACHA20_IETF_POLY1305, password);
}

static void test_request_round_trip(void **state)
{
    struct otb_master m;
    uint8_t buf[OTB_PROBE_LEN];
    uint32_t seq = 0;

    (void)state;
    master_of(&m, "secret");
    otb_probe_request(&m, 0xdeadbeef, buf);
    assert_true(otb_probe_check_request(&m, buf, sizeof(buf), &seq));
    assert_int_equal(seq, 0xdeadbeef);
    /* a request is not a reply: a stranger cannot bounce probes back as answers */
    assert_false(otb_probe_check_reply(&m, buf, sizeof(buf), &seq));
}

static void test_reply_round_trip(void **state)
{
    struct otb_master m;
    uint8_t buf[OTB_PROBE_LEN];
    uint32_t seq = 0;

    (void)state;
    master_of(&m, "secret");
    otb_probe_reply(&m, 7, buf);
    assert_true(otb_probe_check_reply(&m, buf, sizeof(buf), &seq));
    assert_int_equal(seq, 7);
    assert_false(otb_probe_check_request(&m, buf, sizeof(buf), &seq));
}

static void test_wrong_key_or_bytes(void **state)
{
    struct otb_master m, other;
    uint8_t buf[OTB_PROBE_LEN];
    uint32_t seq;

    (void)state;
    master_of(&m, "secret");
    master_of(&other, "other");
    otb_probe_reply(&m, 42, buf);
    assert_false(otb_probe_check_reply(&other, buf, sizeof(buf), &seq));
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] ^= 0x01;
        assert_false(otb_probe_check_reply(&m, buf, sizeof(buf), &seq));
        buf[i] ^= 0x01;
    }
    assert_true(otb_probe_check_reply(&m, buf, sizeof(buf), &seq));
    assert_false(otb_probe_check_reply(&m, buf, sizeof(buf) - 1, &seq));
}

static void test_answer_lengths(void **state)
{
    struct otb_master m;
    uint8_t buf[64] = { 0 };
    uint32_t kbit = 1;

    (void)state;
    master_of(&m, "secret");
    /* relayed datagrams (at least salt + tag) are never taken for probes */
    assert_int_equal(otb_probe_answer(&m, -1, buf, 48, NULL, &kbit), 0);
    assert_int_equal(otb_probe_answer(&m, -1, buf, 0, NULL, &kbit), 0);
    assert_int_equal(otb_probe_answer(&m, -1, buf, 13, NULL, &kbit), 0);
    /* probe-sized junk is refused, not answered */
    assert_int_equal(otb_probe_answer(&m, -1, buf, OTB_PROBE_LEN, NULL, &kbit), -1);
    assert_int_equal(otb_probe_answer(&m, -1, buf, OTB_PROBE_RATE_LEN, NULL, &kbit), -1);
    assert_int_equal(kbit, 0);
}

/* The probe with a download rate: authentic with its rate, any changed byte (the rate
 * included) or another key refused, and the plain probe still parses (rate 0). */
static void test_rate_probe(void **state)
{
    struct otb_master m, other;
    uint8_t buf[OTB_PROBE_RATE_LEN], plain[OTB_PROBE_LEN];
    uint32_t seq = 0, kbit = 0;

    (void)state;
    master_of(&m, "secret");
    master_of(&other, "other");
    otb_probe_request_rate(&m, 0x01020304, 18000, buf);
    assert_int_equal(otb_probe_parse_request(&m, buf, sizeof(buf), &seq, &kbit), 1);
    assert_int_equal(seq, 0x01020304);
    assert_int_equal(kbit, 18000);
    assert_int_equal(otb_probe_parse_request(&other, buf, sizeof(buf), &seq, &kbit), -1);
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] ^= 0x80;
        assert_int_equal(otb_probe_parse_request(&m, buf, sizeof(buf), &seq, &kbit), -1);
        buf[i] ^= 0x80;
    }
    /* neither kind passes for the other, nor for a reply */
    assert_false(otb_probe_check_request(&m, buf, OTB_PROBE_LEN, &seq));
    assert_false(otb_probe_check_reply(&m, buf, OTB_PROBE_LEN, &seq));
    otb_probe_request(&m, 9, plain);
    memcpy(buf, plain, sizeof(plain));
    memset(buf + OTB_PROBE_LEN, 0, OTB_PROBE_RATE_LEN - OTB_PROBE_LEN);
    assert_int_equal(otb_probe_parse_request(&m, buf, sizeof(buf), &seq, &kbit), -1);
    kbit = 5;
    assert_int_equal(otb_probe_parse_request(&m, plain, sizeof(plain), &seq, &kbit), 1);
    assert_int_equal(seq, 9);
    assert_int_equal(kbit, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_wrong_key_or_bytes),
        cmocka_unit_test(test_answer_lengths),
        cmocka_unit_test(test_rate_probe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
