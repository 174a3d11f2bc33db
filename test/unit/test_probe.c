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

    (void)state;
    master_of(&m, "secret");
    /* relayed datagrams (at least salt + tag) are never taken for probes */
    assert_int_equal(otb_probe_answer(&m, -1, buf, 48, NULL), 0);
    assert_int_equal(otb_probe_answer(&m, -1, buf, 0, NULL), 0);
    /* probe-sized junk is refused, not answered */
    assert_int_equal(otb_probe_answer(&m, -1, buf, OTB_PROBE_LEN, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_wrong_key_or_bytes),
        cmocka_unit_test(test_answer_lengths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
