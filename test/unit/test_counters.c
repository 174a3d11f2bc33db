/* Counter formatting: the status document's keys and the log line's names
 * come from the one list per group in otb_counters.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_counters.h"

/* Distinct values so that a field written under the wrong name shows. */
static struct otb_counters tcp_sample(void)
{
    return (struct otb_counters){ .active = 1, .accepted = 2, .closed = 3, .limit_pauses = 4,
                                  .bytes_plain_out = 5, .bytes_cipher_out = 6, .auth_fail = 7,
                                  .replay = 8, .bad_header = 9, .acl_refused = 10,
                                  .dns_fail = 11, .connect_fail = 12, .timeouts = 13,
                                  .errors = 14, .buffers_in_use = 15, .preauth_timeouts = 16,
                                  .preauth_source_cap = 17, .preauth_evicted = 18,
                                  .self_refused = 21, .pending = 22, .pending_capped = 23,
                                  .client_refused = 24, .rerouted = 25 };
}

static struct otb_udp_counters udp_sample(void)
{
    return (struct otb_udp_counters){ .assoc_active = 1, .assoc_created = 2,
                                      .assoc_evicted = 3, .assoc_expired = 4, .assoc_max = 5,
                                      .up_packets = 6, .up_bytes = 7, .down_packets = 8,
                                      .down_bytes = 9, .bad = 10, .replay = 11,
                                      .acl_refused = 12, .dns_fail = 13, .dns_dropped = 14,
                                      .send_errors = 15, .errors = 16, .no_server = 17,
                                      .probes = 18, .assoc_refused = 19, .self_refused = 21,
                                      .client_refused = 24, .assoc_voice = 20,
                                      .dup_sent = 25, .dup_dropped = 26 };
}

static char *json_of(const struct otb_counter_table *t, const void *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    otb_counters_write_json(t, c, f);
    fclose(f);
    return text;
}

static void test_tcp_json(void **state)
{
    struct otb_counters c = tcp_sample();
    char *text = json_of(&otb_tcp_counter_table, &c);

    (void)state;
    assert_string_equal(text,
                        "\"connections\":{\"active\":1,\"accepted\":2,\"closed\":3,"
                        "\"limit_pauses\":4,\"rerouted\":25},"
                        "\"preauth\":{\"timeouts\":16,\"source_cap\":17,\"evicted\":18},"
                        "\"bytes\":{\"to_plain\":5,\"to_cipher\":6},"
                        "\"refused\":{\"auth_fail\":7,\"replay\":8,\"bad_header\":9,\"acl\":10,"
                        "\"client\":24,\"self\":21},\"pending\":{\"active\":22,\"capped\":23},"
                        "\"failures\":{\"dns\":11,\"connect\":12,\"timeouts\":13,\"errors\":14}");
    free(text);
}

static void test_tcp_line(void **state)
{
    struct otb_counters c = tcp_sample();
    char line[OTB_COUNTERS_LINE_LEN];

    (void)state;
    otb_counters_format_line(&otb_tcp_counter_table, &c, line, sizeof(line));
    assert_string_equal(line, "active 1 accepted 2 closed 3 limit_pauses 4 rerouted 25 "
                              "preauth_timeouts 16 preauth_source_cap 17 preauth_evicted 18 "
                              "bytes_to_plain 5 "
                              "bytes_to_cipher 6 auth_fail 7 replay 8 bad_header 9 "
                              "acl_refused 10 client_refused 24 self_refused 21 pending 22 "
                              "pending_capped 23 dns_fail 11 connect_fail 12 timeouts 13 "
                              "errors 14 buffers_in_use 15");
}

static void test_udp_json(void **state)
{
    struct otb_udp_counters c = udp_sample();
    char *text = json_of(&otb_udp_counter_table, &c);

    (void)state;
    assert_string_equal(text,
                        "\"associations\":{\"active\":1,\"created\":2,\"evicted\":3,"
                        "\"refused\":19,\"expired\":4,\"max\":5,\"voice\":20},"
                        "\"up\":{\"packets\":6,\"bytes\":7},"
                        "\"down\":{\"packets\":8,\"bytes\":9},"
                        "\"refused\":{\"bad\":10,\"replay\":11,\"acl\":12,\"client\":24,\"self\":21},"
                        "\"failures\":{\"dns\":13,\"dns_dropped\":14,\"send\":15,\"errors\":16,"
                        "\"no_server\":17},\"probes\":{\"answered\":18},"
                        "\"duplicates\":{\"sent\":25,\"dropped\":26}");
    free(text);
}

static void test_udp_line(void **state)
{
    struct otb_udp_counters c = udp_sample();
    char line[OTB_COUNTERS_LINE_LEN];

    (void)state;
    otb_counters_format_line(&otb_udp_counter_table, &c, line, sizeof(line));
    assert_string_equal(line, "assoc_active 1 assoc_created 2 assoc_evicted 3 assoc_refused 19 "
                              "assoc_expired 4 "
                              "up_packets 6 up_bytes 7 down_packets 8 down_bytes 9 bad 10 "
                              "replay 11 acl_refused 12 client_refused 24 self_refused 21 "
                              "dns_fail 13 dns_dropped 14 "
                              "send_errors 15 errors 16 no_server 17 probes_answered 18 "
                              "dup_sent 25 dup_dropped 26");
}

/* A short buffer cuts the line; it stays a terminated string. */
static void test_line_truncated(void **state)
{
    struct otb_counters c = tcp_sample();
    char line[12];

    (void)state;
    otb_counters_format_line(&otb_tcp_counter_table, &c, line, sizeof(line));
    assert_string_equal(line, "active 1 ac");
}

/* Every counter of each list is in the document or the line, none twice. */
static void test_tables_cover_structs(void **state)
{
    (void)state;
    assert_int_equal(otb_tcp_counter_table.n, sizeof(struct otb_counters) / sizeof(uint64_t));
    assert_int_equal(otb_udp_counter_table.n,
                     sizeof(struct otb_udp_counters) / sizeof(uint64_t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_json),  cmocka_unit_test(test_tcp_line),
        cmocka_unit_test(test_udp_json),  cmocka_unit_test(test_udp_line),
        cmocka_unit_test(test_line_truncated), cmocka_unit_test(test_tables_cover_structs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
