/* The metrics registry: exact exposition text for each type, labels and escaping, updates from threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "metrics/metrics.h"
#include "metrics/process.h"

static char *render(lkv_metrics_t *reg) {
  char *text;
  size_t len;
  assert_int_equal(lkv_metrics_render(reg, &text, &len), 0);
  assert_int_equal(strlen(text), len);
  return text;
}

static void counter_and_gauge(void **state) {
  (void)state;
  lkv_metrics_t *reg;
  assert_int_equal(lkv_metrics_new(&reg), 0);
  lkv_metric_t *c, *g;
  lkv_metric_desc_t cd = {
      .name = "a_total", .help = "Things.\nWith a \\ newline.", .type = LKV_METRIC_COUNTER};
  lkv_metric_desc_t gd = {.name = "b", .help = "A gauge.", .type = LKV_METRIC_GAUGE};
  assert_int_equal(lkv_metrics_add(reg, &cd, &c), 0);
  assert_int_equal(lkv_metrics_add(reg, &gd, &g), 0);
  assert_int_equal(lkv_metrics_add(reg, &gd, &g), LKV_EINVAL); /* the name is taken */
  lkv_metric_inc(c, 0);
  lkv_metric_add(c, 0, 41);
  lkv_metric_set(g, 0, 0.25);
  lkv_metric_inc(NULL, 0); /* a metric that failed to register: ignored */
  char *text = render(reg);
  assert_string_equal(text,
                      "# HELP a_total Things.\\nWith a \\\\ newline.\n"
                      "# TYPE a_total counter\n"
                      "a_total 42\n"
                      "# HELP b A gauge.\n"
                      "# TYPE b gauge\n"
                      "b 0.25\n");
  free(text);
  lkv_metric_set(g, 0, 1e20);
  lkv_metric_add(g, 0, -1e20);
  lkv_metric_add(g, 0, -3.5);
  assert_true(lkv_metric_value(g, 0) == -3.5);
  lkv_metrics_free(reg);
}

static void labels(void **state) {
  (void)state;
  lkv_metrics_t *reg;
  assert_int_equal(lkv_metrics_new(&reg), 0);
  static const char *const names[] = {"method", "code"};
  lkv_metric_desc_t d = {.name = "calls_total",
                         .help = "Calls.",
                         .type = LKV_METRIC_COUNTER,
                         .label_names = names,
                         .n_labels = 2,
                         .n_series = 3};
  lkv_metric_t *m;
  assert_int_equal(lkv_metrics_add(reg, &d, &m), 0);
  char *text = render(reg);
  assert_string_equal(text, ""); /* no series labelled yet: the family is not listed */
  free(text);
  const char *v0[] = {"Put", "OK"}, *v2[] = {"a\"b\\c\nd", "x"};
  assert_int_equal(lkv_metric_label(m, 0, v0), 0);
  assert_int_equal(lkv_metric_label(m, 0, v0), LKV_EINVAL); /* once */
  assert_int_equal(lkv_metric_label(m, 3, v0), LKV_EINVAL); /* out of range */
  assert_int_equal(lkv_metric_label(m, 2, v2), 0);
  lkv_metric_add(m, 0, 3);
  lkv_metric_inc(m, 1); /* unlabelled: counted, not rendered */
  lkv_metric_inc(m, 7); /* out of range: ignored */
  text = render(reg);
  assert_string_equal(text,
                      "# HELP calls_total Calls.\n"
                      "# TYPE calls_total counter\n"
                      "calls_total{method=\"Put\",code=\"OK\"} 3\n"
                      "calls_total{method=\"a\\\"b\\\\c\\nd\",code=\"x\"} 0\n");
  free(text);
  lkv_metrics_free(reg);
}

static void histogram(void **state) {
  (void)state;
  lkv_metrics_t *reg;
  assert_int_equal(lkv_metrics_new(&reg), 0);
  static const double bounds[] = {0.001, 0.5, 8.192};
  static const char *const names[] = {"to"};
  lkv_metric_desc_t d = {.name = "d_seconds",
                         .help = "Durations.",
                         .type = LKV_METRIC_HISTOGRAM,
                         .label_names = names,
                         .n_labels = 1,
                         .n_series = 1,
                         .bounds = bounds,
                         .n_bounds = 3};
  lkv_metric_t *h;
  assert_int_equal(lkv_metrics_add(reg, &d, &h), 0);
  const char *v[] = {"m1"};
  assert_int_equal(lkv_metric_label(h, 0, v), 0);
  lkv_metric_observe(h, 0, 0.001); /* on a bound: that bucket (le) */
  lkv_metric_observe(h, 0, 0.25);
  lkv_metric_observe(h, 0, 100);
  assert_int_equal(lkv_metric_count(h, 0), 3);
  char *text = render(reg);
  assert_string_equal(text,
                      "# HELP d_seconds Durations.\n"
                      "# TYPE d_seconds histogram\n"
                      "d_seconds_bucket{to=\"m1\",le=\"0.001\"} 1\n"
                      "d_seconds_bucket{to=\"m1\",le=\"0.5\"} 2\n"
                      "d_seconds_bucket{to=\"m1\",le=\"8.192\"} 2\n"
                      "d_seconds_bucket{to=\"m1\",le=\"+Inf\"} 3\n"
                      "d_seconds_sum{to=\"m1\"} 100.251\n"
                      "d_seconds_count{to=\"m1\"} 3\n");
  free(text);
  lkv_metrics_free(reg);
}

static void bad_descriptions(void **state) {
  (void)state;
  lkv_metrics_t *reg;
  assert_int_equal(lkv_metrics_new(&reg), 0);
  lkv_metric_t *m;
  static const double down[] = {2, 1};
  static const char *const le[] = {"le"};
  lkv_metric_desc_t bad[] = {
      {.name = "1abc", .help = "", .type = LKV_METRIC_GAUGE},
      {.name = "a-b", .help = "", .type = LKV_METRIC_GAUGE},
      {.name = "h", .help = "", .type = LKV_METRIC_HISTOGRAM, .bounds = down, .n_bounds = 2},
      {.name = "g", .help = "", .type = LKV_METRIC_GAUGE, .label_names = le, .n_labels = 1, .n_series = 1},
      {.name = "g", .help = "", .type = LKV_METRIC_GAUGE, .bounds = down, .n_bounds = 1},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(lkv_metrics_add(reg, &bad[i], &m), LKV_EINVAL);
  lkv_metrics_free(reg);
}

typedef struct collected_s {
  lkv_metric_t *g;
  int runs;
} collected_t;

static void collect(void *arg) {
  collected_t *c = arg;
  lkv_metric_set(c->g, 0, ++c->runs);
}

static void collectors(void **state) {
  (void)state;
  lkv_metrics_t *reg;
  assert_int_equal(lkv_metrics_new(&reg), 0);
  collected_t c = {0};
  lkv_metric_desc_t d = {.name = "scrapes", .help = "Scrapes.", .type = LKV_METRIC_GAUGE};
  assert_int_equal(lkv_metrics_add(reg, &d, &c.g), 0);
  assert_int_equal(lkv_metrics_on_collect(reg, collect, &c), 0);
  free(render(reg));
  char *text = render(reg);
  assert_non_null(strstr(text, "\nscrapes 2\n"));
  free(text);
  lkv_metrics_remove_collector(reg, collect, &c);
  free(render(reg));
  assert_int_equal(c.runs, 2);
  lkv_metrics_free(reg);
}

#define THREADS 4
#define PER_THREAD 100000

static void *hammer(void *arg) {
  lkv_metric_t **m = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    lkv_metric_inc(m[0], 0);
    lkv_metric_observe(m[1], 0, 0.5);
  }
  return NULL;
}

static void concurrent_updates(void **state) {
  (void)state;
  lkv_metrics_t *reg;
  assert_int_equal(lkv_metrics_new(&reg), 0);
  lkv_metric_t *m[2];
  lkv_metric_desc_t cd = {.name = "n_total", .help = "N.", .type = LKV_METRIC_COUNTER};
  lkv_metric_desc_t hd = {.name = "h",
                          .help = "H.",
                          .type = LKV_METRIC_HISTOGRAM,
                          .bounds = lkv_metrics_disk_buckets,
                          .n_bounds = LKV_METRICS_DISK_BUCKETS};
  assert_int_equal(lkv_metrics_add(reg, &cd, &m[0]), 0);
  assert_int_equal(lkv_metrics_add(reg, &hd, &m[1]), 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  assert_true(lkv_metric_value(m[0], 0) == THREADS * PER_THREAD);
  assert_int_equal(lkv_metric_count(m[1], 0), THREADS * PER_THREAD);
  assert_true(lkv_metric_value(m[1], 0) == THREADS * PER_THREAD * 0.5);
  lkv_metrics_free(reg);
}

static void process_stat(void **state) {
  (void)state;
  /* comm with a space and a parenthesis; utime 250, stime 150 ticks; starttime 1000; vsize; rss 3 pages */
  const char *stat =
      "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 8 0 1000 4096000 3 18446744073709551615";
  lkv__process_stat_t ps;
  assert_int_equal(lkv__process_parse(stat, 1700000000, 100, 4096, &ps), 0);
  assert_true(ps.cpu_seconds == 4.0);
  assert_true(ps.start_time == 1700000010.0);
  assert_true(ps.virtual_bytes == 4096000.0);
  assert_true(ps.resident_bytes == 3 * 4096.0);
  assert_int_equal(lkv__process_parse("1234 (x) S 1 2", 0, 100, 4096, &ps), LKV_EINVAL);
  assert_int_equal(lkv__process_parse("no parenthesis", 0, 100, 4096, &ps), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(counter_and_gauge), cmocka_unit_test(labels),     cmocka_unit_test(histogram),
      cmocka_unit_test(bad_descriptions),  cmocka_unit_test(collectors), cmocka_unit_test(concurrent_updates),
      cmocka_unit_test(process_stat),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
