#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/metrics.h"

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void assert_has_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);
    while ((p = strstr(p, line))) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return;
        p += n;
    }
    fail_msg("line `%s` not in:\n%s", line, text);
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    struct metrics_family *c = metrics_counter("sculpt_api_requests_total",
                                               "API requests.", "method,status");
    metrics_add(c, 1, METRICS_LABELS("GET", "200"));
    metrics_add(c, 2, METRICS_LABELS("GET", "200"));
    metrics_add(c, 1, METRICS_LABELS("POST", "400"));
    metrics_add(c, -5, METRICS_LABELS("POST", "400")); /* counters never go down */
    /* a wrong number of label values is refused, not crashed on */
    metrics_add(c, 1, METRICS_LABELS("GET"));
    assert_true(metrics_value(c, METRICS_LABELS("GET", "200")) == 3);
    assert_true(metrics_value(c, METRICS_LABELS("POST", "400")) == 1);
    assert_true(metrics_value(c, METRICS_LABELS("PUT", "200")) == 0);

    struct metrics_family *g = metrics_gauge("sculpt_guests", "Guests on the host.", NULL);
    metrics_set(g, 4, NULL);
    metrics_set(g, 3, NULL);
    /* the same name again gives the same family */
    assert_ptr_equal(metrics_counter("sculpt_api_requests_total", "x", "method,status"), c);

    autofree char *text = metrics_render();
    assert_has_line(text, "# HELP sculpt_api_requests_total API requests.");
    assert_has_line(text, "# TYPE sculpt_api_requests_total counter");
    assert_has_line(text, "sculpt_api_requests_total{method=\"GET\",status=\"200\"} 3");
    assert_has_line(text, "sculpt_api_requests_total{method=\"POST\",status=\"400\"} 1");
    assert_has_line(text, "# TYPE sculpt_guests gauge");
    assert_has_line(text, "sculpt_guests 3");
    /* families in registration order, series in creation order */
    assert_true(strstr(text, "method=\"GET\"") < strstr(text, "method=\"POST\""));
    assert_true(strstr(text, "sculpt_api_requests_total") < strstr(text, "sculpt_guests"));

    struct metrics_family *t = metrics_counter("sculpt_reshapes_total", "Reshapes.", NULL);
    metrics_set_total(t, 5, NULL);
    metrics_set_total(t, 4, NULL); /* a total never goes back */
    assert_true(metrics_value(t, NULL) == 5);

    metrics_clear(g);
    autofree char *after = metrics_render();
    assert_null(strstr(after, "sculpt_guests 3"));
}

static void test_histogram(void **state)
{
    (void)state;
    static const double bounds[] = {0.01, 0.1, 1};
    struct metrics_family *h = metrics_histogram("sculpt_rpc_seconds", "RPC time.", "method",
                                                 bounds, 3);
    metrics_observe(h, 0.005, METRICS_LABELS("spawn"));
    metrics_observe(h, 0.01, METRICS_LABELS("spawn")); /* le is inclusive */
    metrics_observe(h, 0.5, METRICS_LABELS("spawn"));
    metrics_observe(h, 7, METRICS_LABELS("spawn"));
    assert_true(metrics_value(h, METRICS_LABELS("spawn")) == 4);
    autofree char *text = metrics_render();
    assert_has_line(text, "# TYPE sculpt_rpc_seconds histogram");
    assert_has_line(text, "sculpt_rpc_seconds_bucket{method=\"spawn\",le=\"0.01\"} 2");
    assert_has_line(text, "sculpt_rpc_seconds_bucket{method=\"spawn\",le=\"0.1\"} 2");
    assert_has_line(text, "sculpt_rpc_seconds_bucket{method=\"spawn\",le=\"1\"} 3");
    assert_has_line(text, "sculpt_rpc_seconds_bucket{method=\"spawn\",le=\"+Inf\"} 4");
    assert_has_line(text, "sculpt_rpc_seconds_sum{method=\"spawn\"} 7.515");
    assert_has_line(text, "sculpt_rpc_seconds_count{method=\"spawn\"} 4");
}

static void test_escaping(void **state)
{
    (void)state;
    struct metrics_family *g = metrics_gauge("sculpt_x", "Help with \\ and\nnewline.", "name");
    metrics_set(g, 1, METRICS_LABELS("a\"b\\c\nd"));
    autofree char *text = metrics_render();
    assert_has_line(text, "# HELP sculpt_x Help with \\\\ and\\nnewline.");
    assert_has_line(text, "sculpt_x{name=\"a\\\"b\\\\c\\nd\"} 1");
}

static void collect(void *ctx)
{
    struct metrics_family *g = ctx;
    metrics_set(g, metrics_value(g, NULL) + 1, NULL);
}

static void test_collector(void **state)
{
    (void)state;
    struct metrics_family *g = metrics_gauge("sculpt_scrapes", "Scrapes.", "");
    int id = metrics_collector_add(collect, g);
    free(metrics_render());
    autofree char *text = metrics_render();
    assert_has_line(text, "sculpt_scrapes 2");
    metrics_collector_remove(id);
    free(metrics_render());
    assert_true(metrics_value(g, NULL) == 2);
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
    struct metrics_family *c = arg;
    char label[16];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(label, sizeof(label), "r%d", i % 5);
        metrics_add(c, 1, METRICS_LABELS(label));
        if (i % 1000 == 0)
            free(metrics_render());
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct metrics_family *c = metrics_counter("sculpt_hits_total", "Hits.", "route");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    double total = 0;
    for (int r = 0; r < 5; r++) {
        char label[16];
        snprintf(label, sizeof(label), "r%d", r);
        total += metrics_value(c, METRICS_LABELS(label));
    }
    assert_true(total == THREADS * PER_THREAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counter_and_gauge, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_escaping, reset),
        cmocka_unit_test_setup(test_collector, reset),
        cmocka_unit_test_setup_teardown(test_threads, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
