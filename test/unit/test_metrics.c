/* The Prometheus exposition made from the counter lists (otb_metrics.h),
 * the WAN throughput history of the status page and the HTTP method check
 * (otb_web.h, otb_http.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_http.h"
#include "otb_metrics.h"
#include "otb_web.h"

static char *text_of(void (*write)(const void *, FILE *), const void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    write(arg, f);
    fclose(f);
    return text;
}

static void write_udp(const void *c, FILE *f)
{
    otb_metrics_write_counters("udp", &otb_udp_counter_table, c, f);
}

static void write_tcp(const void *c, FILE *f)
{
    otb_metrics_write_counters("tcp", &otb_tcp_counter_table, c, f);
}

static void write_history(const void *w, FILE *f)
{
    otb_web_write_history(w, f);
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* Each family: one HELP, one TYPE, then all of its samples together; every
 * counter of a list that is in the JSON is one sample. */
static void check_families(const char *text, const struct otb_counter_table *t)
{
    char *copy = strdup(text), *save = NULL, current[128] = "";
    size_t samples = 0, in_json = 0;

    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], type_line[160];
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%127s", current);
            snprintf(type_line, sizeof(type_line), "# TYPE %s ", current);
            assert_int_equal(count(text, type_line), 1);
            continue;
        }
        if (line[0] == '#')
            continue;
        sscanf(line, "%127[^{ ]", name);
        assert_string_equal(name, current); /* under its own TYPE line */
        samples++;
    }
    for (size_t i = 0; i < t->n; i++)
        in_json += t->desc[i].group != NULL;
    assert_int_equal(samples, in_json);
    free(copy);
}

static void test_udp_exposition(void **state)
{
    struct otb_udp_counters c = { .assoc_active = 1, .assoc_created = 2, .up_packets = 6,
                                  .up_bytes = 7, .down_packets = 8, .down_bytes = 9,
                                  .replay = 11, .probes = 18, .assoc_voice = 19 };
    char *text = text_of(write_udp, &c);

    (void)state;
    assert_non_null(strstr(text, "# TYPE otb_udp_bytes_total counter\n"
                                 "otb_udp_bytes_total{direction=\"up\"} 7\n"
                                 "otb_udp_bytes_total{direction=\"down\"} 9\n"));
    assert_non_null(strstr(text, "otb_udp_packets_total{direction=\"down\"} 8\n"));
    assert_non_null(strstr(text, "# TYPE otb_udp_associations_active gauge\n"
                                 "otb_udp_associations_active 1\n"));
    assert_non_null(strstr(text, "otb_udp_associations_voice 19\n"));
    assert_non_null(strstr(text, "otb_udp_associations_created_total 2\n"));
    assert_non_null(strstr(text, "otb_udp_refused_total{reason=\"replay\"} 11\n"));
    assert_non_null(strstr(text, "otb_udp_probes_answered_total 18\n"));
    check_families(text, &otb_udp_counter_table);
    free(text);
}

static void test_tcp_exposition(void **state)
{
    struct otb_counters c = { .active = 3, .accepted = 5, .bytes_plain_out = 1000,
                              .bytes_cipher_out = 1234, .auth_fail = 7, .buffers_in_use = 9 };
    char *text = text_of(write_tcp, &c);

    (void)state;
    assert_non_null(strstr(text, "otb_tcp_connections_active 3\n"));
    assert_non_null(strstr(text, "otb_tcp_connections_accepted_total 5\n"));
    assert_non_null(strstr(text, "otb_tcp_bytes_total{direction=\"to_cipher\"} 1234\n"));
    assert_non_null(strstr(text, "otb_tcp_refused_total{reason=\"auth_fail\"} 7\n"));
    assert_null(strstr(text, "buffers")); /* not in the JSON: not exposed either */
    check_families(text, &otb_tcp_counter_table);
    free(text);
}

/* Counters only grow: every counter family ends in _total, gauges do not. */
static void test_names(void **state)
{
    const struct otb_counter_table *tables[] = { &otb_tcp_counter_table,
                                                 &otb_udp_counter_table };

    (void)state;
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < tables[t]->n; i++) {
            struct otb_metric_name m;
            if (!otb_metrics_name("x", &tables[t]->desc[i], &m))
                continue;
            size_t n = strlen(m.family);
            bool total = n > 6 && strcmp(m.family + n - 6, "_total") == 0;
            assert_true(strcmp(m.type, "counter") == 0 ? total : !total);
            assert_int_equal(strncmp(m.family, "otb_x_", 6), 0);
        }
}

static void test_history(void **state)
{
    static struct otb_web w;
    char *text;

    (void)state;
    memset(&w, 0, sizeof(w));
    otb_web_record(&w, 0, "wan1", 1000, 5000, 1); /* first sample: no rate yet */
    otb_web_advance(&w);
    otb_web_record(&w, 0, "wan1", 3000, 9000, 2);
    otb_web_record(&w, 1, "wan2", 7, 7, 2);
    otb_web_advance(&w);
    otb_web_record(&w, 0, "wan1", 2000, 9000, 1); /* went back: no rate */
    otb_web_record(&w, 1, "wan2", 107, 1007, 1);
    otb_web_advance(&w);
    text = text_of(write_history, &w);
    assert_string_equal(text, "{\"interval\":1,\"wans\":["
                              "{\"name\":\"wan1\",\"up\":[0,1000,0],\"down\":[0,2000,0]},"
                              "{\"name\":\"wan2\",\"up\":[0,0,100],\"down\":[0,0,1000]}]}\n");
    free(text);
    /* Another WAN in slot 1: its past starts empty. */
    otb_web_record(&w, 1, "wan3", 50, 50, 1);
    otb_web_advance(&w);
    text = text_of(write_history, &w);
    assert_non_null(strstr(text, "{\"name\":\"wan3\",\"up\":[0,0,0,0]"));
    free(text);
}

/* The ring keeps the last OTB_WEB_HISTORY samples, oldest first. */
static void test_history_wraps(void **state)
{
    static struct otb_web w;
    char *text;

    (void)state;
    memset(&w, 0, sizeof(w));
    for (uint64_t k = 0; k < OTB_WEB_HISTORY + 10; k++) {
        otb_web_record(&w, 0, "a", k * k, 0, 1);
        otb_web_advance(&w);
    }
    text = text_of(write_history, &w);
    assert_int_equal(w.n, OTB_WEB_HISTORY);
    /* rate k = k^2 - (k-1)^2 = 2k - 1; the oldest kept is k = 10 */
    assert_non_null(strstr(text, "\"up\":[19,21,"));
    assert_non_null(strstr(text, ",617],\"down\"")); /* k = 309 */
    free(text);
}

static void test_methods(void **state)
{
    (void)state;
    assert_int_equal(otb_http_method_status("GET"), 0);
    assert_int_equal(otb_http_method_status("HEAD"), 0);
    assert_int_equal(otb_http_method_status("POST"), 405);
    assert_int_equal(otb_http_method_status("get"), 405);
    assert_int_equal(otb_http_method_status(""), 405);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_exposition), cmocka_unit_test(test_tcp_exposition),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_history),
        cmocka_unit_test(test_history_wraps),  cmocka_unit_test(test_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
