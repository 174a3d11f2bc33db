/* otb-tunnel's status document as otb-redir reads it for its page
 * (otb_tunnelstat.h): the UDP and voice flows, or why there are none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_tunnelstat.h"

static int parse(const char *doc, uint64_t *flows, uint64_t *voice, char *why, size_t whylen)
{
    return otb_tunnelstat_parse(doc, strlen(doc), flows, voice, why, whylen);
}

static void test_parse(void **state)
{
    uint64_t flows = 0, voice = 0;
    char why[128] = "";

    (void)state;
    assert_int_equal(parse("{\"program\":\"otb-tunnel\",\"uptime_s\":3,\"udp\":{\"associations\":"
                           "{\"active\":7,\"created\":9,\"max\":4096,\"voice\":2},"
                           "\"up\":{\"packets\":1}}}\n",
                           &flows, &voice, why, sizeof(why)),
                     0);
    assert_int_equal(flows, 7);
    assert_int_equal(voice, 2);
}

static void test_parse_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "{\"udp\":{\"associations\":{\"active\":7,\"voice\":2}}",      /* cut */
        "{\"udp\":{\"associations\":{\"active\":7,\"voice\":2}}} {}",  /* two */
        "{\"udp\":{\"associations\":{\"active\":7}}}",                 /* no voice */
        "{\"udp\":{\"associations\":{\"active\":-1,\"voice\":0}}}",
        "{\"udp\":{\"associations\":{\"active\":\"7\",\"voice\":0}}}",
        "{\"connections\":{\"active\":1}}",                            /* not otb-tunnel's */
        "[1,2]",
    };
    uint64_t flows, voice;
    char why[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (parse(bad[i], &flows, &voice, why, sizeof(why)) != -1)
            fail_msg("document %zu taken", i);
        assert_true(why[0] != '\0');
    }
}

static void write_stat(const struct otb_tunnelstat *t, char *out, size_t cap)
{
    FILE *f = fmemopen(out, cap, "w");

    assert_non_null(f);
    otb_tunnelstat_write_json(t, f);
    fclose(f);
}

static void test_write(void **state)
{
    struct otb_tunnelstat t = { .ok = true, .flows = 3, .voice = 1 };
    char out[256];

    (void)state;
    write_stat(&t, out, sizeof(out));
    assert_string_equal(out, ",\"tunnel\":{\"associations\":{\"active\":3,\"voice\":1}}");
    t.ok = false;
    snprintf(t.why, sizeof(t.why), "otb-tunnel is not running (/run/a\"b: No such file)");
    write_stat(&t, out, sizeof(out));
    assert_string_equal(out, ",\"tunnel\":{\"error\":\"otb-tunnel is not running "
                             "(\\/run\\/a\\\"b: No such file)\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
