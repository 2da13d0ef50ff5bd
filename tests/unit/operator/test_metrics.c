/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "base/fileio.h"
#include "operator/metrics.h"

#define RENDER_MAX (1 << 20)

static char *render(const sv_metrics *m) {
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(sv_metrics_render(m, RENDER_MAX, &text, &len), 0);
        assert_int_equal(len, strlen(text));
        return text;
}

static void renders_counters_and_gauges(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *added, *deleted, *plain, *gauge;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_counter(m, "sv_watch_events_total", "Watch events.",
                                            SV_LABELS("resource", "pods", "type", "ADDED"), &added),
                         0);
        assert_int_equal(sv_metrics_gauge(m, "sv_up", "Whether the loop runs.", NULL, &gauge), 0);
        /* A second label set joins the first family, after the gauge. */
        assert_int_equal(sv_metrics_counter(m, "sv_watch_events_total", "Watch events.",
                                            SV_LABELS("resource", "pods", "type", "DELETED"),
                                            &deleted),
                         0);
        assert_int_equal(sv_metrics_counter(m, "sv_restarts_total", "Restarts.", NULL, &plain), 0);

        assert_int_equal(sv_metric_inc(added), 0);
        assert_int_equal(sv_metric_add(added, 41), 0);
        assert_int_equal(sv_metric_add(deleted, 0.5), 0);
        assert_int_equal(sv_metric_set(gauge, 1), 0);
        assert_int_equal(sv_metric_add(gauge, -3.25), 0);

        _cleanup_free_ char *text = render(m);
        assert_string_equal(text, "# HELP sv_watch_events_total Watch events.\n"
                                  "# TYPE sv_watch_events_total counter\n"
                                  "sv_watch_events_total{resource=\"pods\",type=\"ADDED\"} 42\n"
                                  "sv_watch_events_total{resource=\"pods\",type=\"DELETED\"} 0.5\n"
                                  "# HELP sv_up Whether the loop runs.\n"
                                  "# TYPE sv_up gauge\n"
                                  "sv_up -2.25\n"
                                  "# HELP sv_restarts_total Restarts.\n"
                                  "# TYPE sv_restarts_total counter\n"
                                  "sv_restarts_total 0\n");
}

static void escapes_label_values_and_help(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *s;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_info", "Back\\slash,\nnewline and \"quotes\".",
                                          SV_LABELS("v", "a\\b\"c\nd"), &s),
                         0);
        _cleanup_free_ char *text = render(m);
        assert_string_equal(text, "# HELP sv_info Back\\\\slash,\\nnewline and \"quotes\".\n"
                                  "# TYPE sv_info gauge\n"
                                  "sv_info{v=\"a\\\\b\\\"c\\nd\"} 0\n");
}

static void renders_special_values(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *a, *b, *c;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "G.", SV_LABELS("k", "a"), &a), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "G.", SV_LABELS("k", "b"), &b), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "G.", SV_LABELS("k", "c"), &c), 0);
        assert_int_equal(sv_metric_set(a, 0.1), 0);
        assert_int_equal(sv_metric_set(b, -INFINITY), 0);
        assert_int_equal(sv_metric_set(c, NAN), 0);
        _cleanup_free_ char *text = render(m);
        assert_non_null(strstr(text, "sv_g{k=\"a\"} 0.1\n"));
        assert_non_null(strstr(text, "sv_g{k=\"b\"} -Inf\n"));
        assert_non_null(strstr(text, "sv_g{k=\"c\"} NaN\n"));
}

static void histogram_buckets_are_cumulative(void **state) {
        static const double bounds[] = {0.005, 0.1, 1, 2.5};
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *h, *bare;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_histogram(m, "sv_request_duration_seconds", "Latency.",
                                              SV_LABELS("verb", "LIST"), bounds, ARRAY_SIZE(bounds),
                                              &h),
                         0);
        assert_int_equal(
                sv_metrics_histogram(m, "sv_sync_seconds", "Sync.", NULL, bounds, 1, &bare), 0);
        /* Exact binary fractions, so the sum is exact; 1 sits on a bound and
         * counts in its bucket (le is inclusive). */
        const double obs[] = {0.00390625, 0.0625, 0.5, 1, 2, 3, 10};
        for (size_t i = 0; i < ARRAY_SIZE(obs); i++)
                assert_int_equal(sv_metric_observe(h, obs[i]), 0);
        assert_int_equal(sv_metric_observe(bare, 7), 0);

        _cleanup_free_ char *text = render(m);
        assert_string_equal(text,
                            "# HELP sv_request_duration_seconds Latency.\n"
                            "# TYPE sv_request_duration_seconds histogram\n"
                            "sv_request_duration_seconds_bucket{verb=\"LIST\",le=\"0.005\"} 1\n"
                            "sv_request_duration_seconds_bucket{verb=\"LIST\",le=\"0.1\"} 2\n"
                            "sv_request_duration_seconds_bucket{verb=\"LIST\",le=\"1\"} 4\n"
                            "sv_request_duration_seconds_bucket{verb=\"LIST\",le=\"2.5\"} 5\n"
                            "sv_request_duration_seconds_bucket{verb=\"LIST\",le=\"+Inf\"} 7\n"
                            "sv_request_duration_seconds_sum{verb=\"LIST\"} 16.56640625\n"
                            "sv_request_duration_seconds_count{verb=\"LIST\"} 7\n"
                            "# HELP sv_sync_seconds Sync.\n"
                            "# TYPE sv_sync_seconds histogram\n"
                            "sv_sync_seconds_bucket{le=\"0.005\"} 0\n"
                            "sv_sync_seconds_bucket{le=\"+Inf\"} 1\n"
                            "sv_sync_seconds_sum 7\n"
                            "sv_sync_seconds_count 1\n");
}

static void invalid_registrations_are_refused(void **state) {
        static const double bounds[] = {1, 2};
        static const double unordered[] = {2, 1};
        static const double inf[] = {1, INFINITY};
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *s = NULL;
        assert_int_equal(sv_metrics_new(&m), 0);

        const char *bad_names[] = {"",          "1abc_total", "a-b_total",
                                   "a b_total", "é_total",    "x_total\n"};
        for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++)
                assert_int_equal(sv_metrics_counter(m, bad_names[i], "H.", NULL, &s), -EINVAL);
        assert_int_equal(sv_metrics_counter(m, NULL, "H.", NULL, &s), -EINVAL);
        /* Suffix rules. */
        assert_int_equal(sv_metrics_counter(m, "sv_events", "H.", NULL, &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_events_total", "H.", NULL, &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_pods_count", "H.", NULL, &s), -EINVAL);
        assert_int_equal(sv_metrics_histogram(m, "sv_x_bucket", "H.", NULL, bounds, 2, &s),
                         -EINVAL);
        /* Help is required. */
        assert_int_equal(sv_metrics_gauge(m, "sv_g", NULL, NULL, &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "", NULL, &s), -EINVAL);
        /* Labels. */
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("__x", "v"), &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("a:b", "v"), &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("1a", "v"), &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("a", "1", "a", "2"), &s),
                         -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("odd"), &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("a", "\xff"), &s), -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("a", "\xc0\xaf"), &s),
                         -EINVAL);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "\xed\xa0\x80", NULL, &s), -EINVAL);
        /* Caps. */
        char big[SV_METRICS_HELP_MAX + 2];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(sv_metrics_gauge(m, "sv_g", big, NULL, &s), -E2BIG);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "H.", SV_LABELS("a", big), &s), -E2BIG);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", SV_LABELS("le", "1"), bounds, 2, &s),
                         -EINVAL);
        /* Bounds. */
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", NULL, NULL, 0, &s), -EINVAL);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", NULL, unordered, 2, &s), -EINVAL);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", NULL, inf, 2, &s), -EINVAL);
        assert_null(s);

        /* Colons are allowed in metric names; then family rules apply. */
        assert_int_equal(sv_metrics_gauge(m, "sv:g", "H.", SV_LABELS("a", "1"), &s), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_utf8", "Ünïcode ✓.", SV_LABELS("a", "日本"), &s),
                         0);
        assert_int_equal(sv_metrics_gauge(m, "sv:g", "H.", SV_LABELS("a", "1"), &s), -EEXIST);
        assert_int_equal(sv_metrics_gauge(m, "sv:g", "Other.", SV_LABELS("a", "2"), &s), -EINVAL);
        assert_int_equal(sv_metrics_histogram(m, "sv:g", "H.", SV_LABELS("a", "2"), bounds, 2, &s),
                         -EINVAL);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", NULL, bounds, 2, &s), 0);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", SV_LABELS("a", "1"), bounds, 1, &s),
                         -EINVAL);

        /* Nothing refused was rendered. */
        _cleanup_free_ char *text = render(m);
        assert_string_equal(text, "# HELP sv:g H.\n# TYPE sv:g gauge\nsv:g{a=\"1\"} 0\n"
                                  "# HELP sv_utf8 Ünïcode ✓.\n# TYPE sv_utf8 gauge\n"
                                  "sv_utf8{a=\"日本\"} 0\n"
                                  "# HELP sv_h H.\n# TYPE sv_h histogram\n"
                                  "sv_h_bucket{le=\"1\"} 0\nsv_h_bucket{le=\"2\"} 0\n"
                                  "sv_h_bucket{le=\"+Inf\"} 0\nsv_h_sum 0\nsv_h_count 0\n");
}

static void updates_check_the_type(void **state) {
        static const double bounds[] = {1};
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *c, *g, *h;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_counter(m, "sv_c_total", "C.", NULL, &c), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "G.", NULL, &g), 0);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", NULL, bounds, 1, &h), 0);

        assert_int_equal(sv_metric_set(c, 1), -EINVAL);
        assert_int_equal(sv_metric_add(c, -1), -EINVAL);
        assert_int_equal(sv_metric_add(c, NAN), -EINVAL);
        assert_int_equal(sv_metric_observe(c, 1), -EINVAL);
        assert_int_equal(sv_metric_observe(g, 1), -EINVAL);
        assert_int_equal(sv_metric_inc(h), -EINVAL);
        assert_int_equal(sv_metric_set(h, 1), -EINVAL);
        assert_int_equal(sv_metric_observe(h, NAN), -EINVAL);
        assert_int_equal(sv_metric_inc(NULL), -EINVAL);
}

static void render_respects_the_cap(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *s;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_gauge(m, "sv_g", "G.", NULL, &s), 0);
        char *text = (char *)"untouched";
        size_t len = 7;
        assert_int_equal(sv_metrics_render(m, 10, &text, &len), -ENOBUFS);
        assert_string_equal(text, "untouched");
        assert_int_equal(len, 7);

        _cleanup_metrics_ sv_metrics *empty = NULL;
        assert_int_equal(sv_metrics_new(&empty), 0);
        _cleanup_free_ char *none = render(empty);
        assert_string_equal(none, "");
        assert_null(sv_metrics_free(NULL));
}

struct hammer {
        sv_metric *c, *h;
};

static void *hammer(void *arg) {
        struct hammer *x = arg;
        for (int i = 0; i < 100000; i++) {
                (void)sv_metric_inc(x->c);
                (void)sv_metric_observe(x->h, 0.5);
        }
        return NULL;
}

/* Updates from two threads while a third renders: nothing is lost, and every
 * render is internally consistent (_count equals the +Inf bucket). */
static void concurrent_updates_and_renders(void **state) {
        static const double bounds[] = {1};
        _cleanup_metrics_ sv_metrics *m = NULL;
        struct hammer x;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_counter(m, "sv_c_total", "C.", NULL, &x.c), 0);
        assert_int_equal(sv_metrics_histogram(m, "sv_h", "H.", NULL, bounds, 1, &x.h), 0);

        pthread_t t[2];
        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                assert_int_equal(pthread_create(&t[i], NULL, hammer, &x), 0);
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *text = render(m);
                unsigned long long inf = 0, count = 0;
                const char *p = strstr(text, "sv_h_bucket{le=\"+Inf\"} ");
                const char *q = strstr(text, "sv_h_count ");
                assert_non_null(p);
                assert_non_null(q);
                assert_int_equal(sscanf(p, "sv_h_bucket{le=\"+Inf\"} %llu", &inf), 1);
                assert_int_equal(sscanf(q, "sv_h_count %llu", &count), 1);
                assert_int_equal(inf, count);
        }
        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                pthread_join(t[i], NULL);

        _cleanup_free_ char *text = render(m);
        assert_non_null(strstr(text, "sv_c_total 200000\n"));
        assert_non_null(strstr(text, "sv_h_bucket{le=\"1\"} 200000\n"));
        assert_non_null(strstr(text, "sv_h_sum 100000\n"));
        assert_non_null(strstr(text, "sv_h_count 200000\n"));
}

static void *register_many(void *arg) {
        sv_metrics *m = arg;
        for (int i = 0; i < 2000; i++) {
                char src[32];
                snprintf(src, sizeof(src), "w%d", i);
                sv_metric *s;
                if (sv_metrics_counter(m, "sv_flows_total", "Flows.",
                                       SV_LABELS("source", src, "destination", "d"), &s) < 0 ||
                    sv_metric_inc(s) < 0)
                        return (void *)1;
        }
        return NULL;
}

/* Series registered by one thread while another renders (per-workload
 * telemetry registers as workloads appear): every render sees whole series,
 * and in the end all of them. */
static void concurrent_registrations_and_renders(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *first;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_counter(m, "sv_first_total", "First.", NULL, &first), 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, register_many, m), 0);
        size_t last = 0;
        for (int i = 0; i < 100; i++) {
                _cleanup_free_ char *text = render(m);
                size_t n = 0;
                for (const char *p = text; (p = strstr(p, "sv_flows_total{")); p++)
                        n++;
                assert_true(n >= last);
                last = n;
                assert_non_null(strstr(text, "sv_first_total 0\n"));
        }
        void *rc;
        assert_int_equal(pthread_join(t, &rc), 0);
        assert_null(rc);
        _cleanup_free_ char *text = render(m);
        assert_non_null(strstr(text, "sv_flows_total{source=\"w0\",destination=\"d\"} 1\n"));
        assert_non_null(strstr(text, "sv_flows_total{source=\"w1999\",destination=\"d\"} 1\n"));
}

#define PROMTOOL "/usr/bin/promtool"

/* Runs `promtool check metrics` with the text on stdin; returns its exit
 * status and its output (stdout and stderr) in out. */
static int promtool_check(const char *text, char **out) {
        char in_path[] = "/tmp/sv-test-metrics-XXXXXX";
        char out_path[] = "/tmp/sv-test-promtool-XXXXXX";
        int in = mkostemp(in_path, O_CLOEXEC);
        int res = mkostemp(out_path, O_CLOEXEC);
        assert_true(in >= 0 && res >= 0);
        assert_int_equal(sv_write_all(in, text, strlen(text)), 0);
        assert_int_equal(lseek(in, 0, SEEK_SET), 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* dup2 clears O_CLOEXEC on the copies, as the child needs. */
                if (dup2(in, STDIN_FILENO) < 0 || dup2(res, STDOUT_FILENO) < 0 ||
                    dup2(res, STDERR_FILENO) < 0)
                        _exit(127);
                execl(PROMTOOL, PROMTOOL, "check", "metrics", (char *)NULL);
                _exit(127);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        size_t len;
        assert_int_equal(sv_read_file_capped(out_path, 1 << 16, out, &len), 0);
        close(in);
        close(res);
        unlink(in_path);
        unlink(out_path);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void promtool_accepts_the_rendering(void **state) {
        if (access(PROMTOOL, X_OK) != 0) {
                print_message("skipped: " PROMTOOL " is missing (Debian package prometheus)\n");
                skip();
        }
        static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *s;
        assert_int_equal(sv_metrics_new(&m), 0);
        const char *types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};
        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
                assert_int_equal(sv_metrics_counter(m, "selvedge_watch_events_total",
                                                    "Watch events received, by resource and "
                                                    "type.",
                                                    SV_LABELS("resource", "pods", "type", types[i]),
                                                    &s),
                                 0);
                assert_int_equal(sv_metric_add(s, (double)i * 3), 0);
        }
        assert_int_equal(
                sv_metrics_gauge(m, "selvedge_ready", "1 once caches are synced.", NULL, &s), 0);
        assert_int_equal(sv_metric_set(s, 1), 0);
        assert_int_equal(sv_metrics_gauge(m, "selvedge_build_info", "Build \"info\"\\.",
                                          SV_LABELS("version", "0.1\n\"dev\"\\"), &s),
                         0);
        assert_int_equal(sv_metric_set(s, 1), 0);
        const char *verbs[] = {"GET", "LIST", "WATCH"};
        for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
                assert_int_equal(sv_metrics_histogram(m, "selvedge_api_request_duration_seconds",
                                                      "Kubernetes API request latency.",
                                                      SV_LABELS("verb", verbs[i]), bounds,
                                                      ARRAY_SIZE(bounds), &s),
                                 0);
                for (int k = 0; k < 50; k++)
                        assert_int_equal(sv_metric_observe(s, 0.001 * k * k * (double)(i + 1)), 0);
        }
        assert_int_equal(sv_metrics_gauge(m, "selvedge_lag_seconds", "Odd values.",
                                          SV_LABELS("k", "nan"), &s),
                         0);
        assert_int_equal(sv_metric_set(s, NAN), 0);
        assert_int_equal(sv_metrics_gauge(m, "selvedge_lag_seconds", "Odd values.",
                                          SV_LABELS("k", "inf"), &s),
                         0);
        assert_int_equal(sv_metric_set(s, INFINITY), 0);

        _cleanup_free_ char *text = render(m);
        _cleanup_free_ char *output = NULL;
        int rc = promtool_check(text, &output);
        if (rc != 0 || *output)
                print_message("promtool (exit %d): %s\n%s", rc, output, text);
        assert_int_equal(rc, 0);
        assert_string_equal(output, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(renders_counters_and_gauges),
                cmocka_unit_test(escapes_label_values_and_help),
                cmocka_unit_test(renders_special_values),
                cmocka_unit_test(histogram_buckets_are_cumulative),
                cmocka_unit_test(invalid_registrations_are_refused),
                cmocka_unit_test(updates_check_the_type),
                cmocka_unit_test(render_respects_the_cap),
                cmocka_unit_test(concurrent_updates_and_renders),
                cmocka_unit_test(concurrent_registrations_and_renders),
                cmocka_unit_test(promtool_accepts_the_rendering),
        };
        return cmocka_run_group_tests_name("operator/metrics", tests, NULL, NULL);
}
