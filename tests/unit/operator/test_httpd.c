/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "base/strbuf.h"
#include "operator/httpd.h"
#include "operator/metrics.h"

struct response {
        long code;
        sv_strbuf body;
        char content_type[128];
        char allow[64];
        long content_length; /* -1 when absent */
};

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
        struct response *r = arg;
        return sv_strbuf_append(&r->body, data, size * n) < 0 ? 0 : size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
        struct response *r = arg;
        size_t len = size * n;
        if (len > 6 && strncasecmp(data, "allow:", 6) == 0)
                snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 6), data + 6);
        else if (len > 15 && strncasecmp(data, "content-length:", 15) == 0)
                r->content_length = strtol(data + 15, NULL, 10);
        return len;
}

/* One request on the shared handle (so keep-alive is exercised too).
 * Returns the curl result; r is filled on CURLE_OK. */
static CURLcode fetch_on(CURL *curl, const char *host, uint16_t port, const char *method,
                         const char *path, struct response *r) {
        char url[256];
        snprintf(url, sizeof(url), "http://%s:%u%s", host, port, path);
        *r = (struct response){.body = SV_STRBUF_INIT(4 << 20), .content_length = -1};

        curl_easy_setopt(curl, CURLOPT_URL, url);
        /* HTTPGET resets NOBODY, so it goes first. */
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
        if (strcmp(method, "POST") == 0)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "some=body");
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "GET") && strcmp(method, "HEAD") ? method : NULL);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

        CURLcode rc = curl_easy_perform(curl);
        if (rc == CURLE_OK) {
                char *type = NULL;
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->code);
                curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
                snprintf(r->content_type, sizeof(r->content_type), "%s", type ? type : "");
        }
        return rc;
}

static CURL *curl_handle(void) {
        static CURL *curl;
        if (!curl)
                curl = curl_easy_init();
        assert_non_null(curl);
        return curl;
}

static void fetch(uint16_t port, const char *method, const char *path, struct response *r) {
        assert_int_equal(fetch_on(curl_handle(), "127.0.0.1", port, method, path, r), CURLE_OK);
}

static void expect(uint16_t port, const char *method, const char *path, long code,
                   const char *body) {
        struct response r;
        fetch(port, method, path, &r);
        assert_int_equal(r.code, code);
        assert_string_equal(sv_strbuf_str(&r.body), body);
        sv_strbuf_done(&r.body);
}

static void sleep_ms(long ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0)
                ;
}

static sv_httpd *start(const sv_metrics *m, unsigned timeout_ms) {
        sv_httpd_config cfg = {
                .addr = "127.0.0.1", .port = 0, .metrics = m, .heartbeat_timeout_ms = timeout_ms};
        sv_httpd *h = NULL;
        assert_int_equal(sv_httpd_start(&cfg, &h), 0);
        assert_non_null(h);
        assert_int_not_equal(sv_httpd_port(h), 0);
        return h;
}

static void serves_metrics(void **state) {
        static const double bounds[] = {0.1, 1};
        _cleanup_metrics_ sv_metrics *m = NULL;
        sv_metric *c, *hist;
        assert_int_equal(sv_metrics_new(&m), 0);
        assert_int_equal(sv_metrics_counter(m, "sv_events_total", "Events.", NULL, &c), 0);
        assert_int_equal(sv_metrics_histogram(m, "sv_latency_seconds", "Latency.", NULL, bounds,
                                              ARRAY_SIZE(bounds), &hist),
                         0);
        _cleanup_httpd_ sv_httpd *h = start(m, 60000);
        uint16_t port = sv_httpd_port(h);

        assert_int_equal(sv_metric_add(c, 3), 0);
        assert_int_equal(sv_metric_observe(hist, 0.5), 0);
        char *want;
        size_t want_len;
        assert_int_equal(sv_metrics_render(m, 1 << 20, &want, &want_len), 0);

        struct response r;
        fetch(port, "GET", "/metrics", &r);
        assert_int_equal(r.code, 200);
        assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert_string_equal(sv_strbuf_str(&r.body), want);
        assert_int_equal(r.content_length, (long)want_len);
        sv_strbuf_done(&r.body);

        /* Query strings do not change the resource. */
        fetch(port, "GET", "/metrics?x=1", &r);
        assert_int_equal(r.code, 200);
        sv_strbuf_done(&r.body);

        /* HEAD: same headers, no body. */
        fetch(port, "HEAD", "/metrics", &r);
        assert_int_equal(r.code, 200);
        assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert_int_equal(r.content_length, (long)want_len);
        assert_int_equal(r.body.len, 0);
        sv_strbuf_done(&r.body);
        free(want);

        /* Updates from this thread show in the next scrape. */
        assert_int_equal(sv_metric_inc(c), 0);
        fetch(port, "GET", "/metrics", &r);
        assert_non_null(strstr(sv_strbuf_str(&r.body), "\nsv_events_total 4\n"));
        sv_strbuf_done(&r.body);
}

/* A body of many chunks arrives whole, also with keep-alive afterwards. */
static void serves_large_metrics(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        assert_int_equal(sv_metrics_new(&m), 0);
        for (int i = 0; i < 3000; i++) {
                char v[16];
                sv_metric *g;
                snprintf(v, sizeof(v), "%d", i);
                assert_int_equal(sv_metrics_gauge(m, "sv_pod_info", "Pods.",
                                                  SV_LABELS("pod", v, "namespace", "default"), &g),
                                 0);
                assert_int_equal(sv_metric_set(g, i), 0);
        }
        _cleanup_free_ char *want = NULL;
        size_t want_len;
        assert_int_equal(sv_metrics_render(m, 1 << 22, &want, &want_len), 0);
        assert_true(want_len > 100000);

        _cleanup_httpd_ sv_httpd *h = start(m, 60000);
        for (int i = 0; i < 3; i++) {
                struct response r;
                fetch(sv_httpd_port(h), "GET", "/metrics", &r);
                assert_int_equal(r.code, 200);
                assert_int_equal(r.body.len, want_len);
                assert_string_equal(sv_strbuf_str(&r.body), want);
                sv_strbuf_done(&r.body);
                expect(sv_httpd_port(h), "GET", "/healthz", 200, "ok");
        }
}

static void metrics_without_registry_is_empty(void **state) {
        _cleanup_httpd_ sv_httpd *h = start(NULL, 60000);
        expect(sv_httpd_port(h), "GET", "/metrics", 200, "");
}

static void healthz_follows_the_heartbeat(void **state) {
        _cleanup_httpd_ sv_httpd *h = start(NULL, 300);
        uint16_t port = sv_httpd_port(h);

        struct response r;
        fetch(port, "GET", "/healthz", &r);
        assert_int_equal(r.code, 200);
        assert_string_equal(sv_strbuf_str(&r.body), "ok");
        assert_string_equal(r.content_type, "text/plain; charset=utf-8");
        sv_strbuf_done(&r.body);

        sleep_ms(450);
        expect(port, "GET", "/healthz", 503, "main loop stalled");
        sv_httpd_heartbeat(h);
        expect(port, "GET", "/healthz", 200, "ok");
        expect(port, "HEAD", "/healthz", 200, "");
}

static void readyz_follows_the_flag(void **state) {
        _cleanup_httpd_ sv_httpd *h = start(NULL, 60000);
        uint16_t port = sv_httpd_port(h);

        expect(port, "GET", "/readyz", 503, "starting");
        sv_httpd_set_ready(h, false, "waiting for the pods cache");
        expect(port, "GET", "/readyz", 503, "waiting for the pods cache");
        sv_httpd_set_ready(h, true, NULL);
        expect(port, "GET", "/readyz", 200, "ok");
        sv_httpd_set_ready(h, false, NULL);
        expect(port, "GET", "/readyz", 503, "not ready");

        char long_reason[1000];
        memset(long_reason, 'x', sizeof(long_reason) - 1);
        long_reason[sizeof(long_reason) - 1] = '\0';
        sv_httpd_set_ready(h, false, long_reason);
        struct response r;
        fetch(port, "GET", "/readyz", &r);
        assert_int_equal(r.code, 503);
        assert_int_equal(r.body.len, SV_HTTPD_REASON_MAX - 1);
        sv_strbuf_done(&r.body);
}

static void other_paths_and_methods(void **state) {
        _cleanup_httpd_ sv_httpd *h = start(NULL, 60000);
        uint16_t port = sv_httpd_port(h);

        expect(port, "GET", "/", 404, "not found");
        expect(port, "GET", "/metrics/", 404, "not found");
        expect(port, "GET", "/healthzz", 404, "not found");
        expect(port, "HEAD", "/nope", 404, "");

        const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
        for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
                struct response r;
                fetch(port, methods[i], "/metrics", &r);
                assert_int_equal(r.code, 405);
                assert_string_equal(sv_strbuf_str(&r.body), "method not allowed");
                assert_non_null(strstr(r.allow, "GET, HEAD"));
                sv_strbuf_done(&r.body);
                /* The connection may have been closed; the next request works. */
                expect(port, "GET", "/healthz", 200, "ok");
        }
}

/* Bound to 127.0.0.1 only: another loopback address gets no answer. */
static void binds_only_the_given_address(void **state) {
        _cleanup_httpd_ sv_httpd *h = start(NULL, 60000);
        CURL *other = curl_easy_init();
        assert_non_null(other);
        struct response r;
        assert_int_equal(fetch_on(other, "127.0.0.2", sv_httpd_port(h), "GET", "/healthz", &r),
                         CURLE_COULDNT_CONNECT);
        sv_strbuf_done(&r.body);
        curl_easy_cleanup(other);
}

static void serves_ipv6(void **state) {
        sv_httpd_config cfg = {.addr = "::1", .heartbeat_timeout_ms = 1000};
        _cleanup_httpd_ sv_httpd *h = NULL;
        int r = sv_httpd_start(&cfg, &h);
        if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
                print_message("skipped: no ::1 here\n");
                skip();
        }
        assert_int_equal(r, 0);
        CURL *curl = curl_easy_init();
        assert_non_null(curl);
        struct response resp;
        assert_int_equal(fetch_on(curl, "[::1]", sv_httpd_port(h), "GET", "/healthz", &resp),
                         CURLE_OK);
        assert_int_equal(resp.code, 200);
        sv_strbuf_done(&resp.body);
        curl_easy_cleanup(curl);
}

/* The operator holds many fds (curl, netlink, files); lws's sparse fd lookup
 * (FD_LIMIT) must still take sockets numbered far above that limit. */
static void serves_with_high_fd_numbers(void **state) {
        int fds[300];
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
        sv_httpd *h = start(NULL, 60000);
        expect(sv_httpd_port(h), "GET", "/healthz", 200, "ok");
        expect(sv_httpd_port(h), "GET", "/readyz", 503, "starting");
        assert_null(sv_httpd_stop(h));
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                close(fds[i]);
}

static void start_refuses_bad_configs(void **state) {
        sv_httpd *h = NULL;
        const char *bad[] = {"localhost", "lo", "", "127.0.0.1:80", "1.2.3"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                sv_httpd_config cfg = {.addr = bad[i], .heartbeat_timeout_ms = 1000};
                assert_int_equal(sv_httpd_start(&cfg, &h), -EINVAL);
        }
        sv_httpd_config cfg = {.addr = NULL, .heartbeat_timeout_ms = 1000};
        assert_int_equal(sv_httpd_start(&cfg, &h), -EINVAL);
        cfg = (sv_httpd_config){.addr = "127.0.0.1", .heartbeat_timeout_ms = 0};
        assert_int_equal(sv_httpd_start(&cfg, &h), -EINVAL);
        assert_null(h);

        /* A port in use is reported, not ignored. */
        _cleanup_httpd_ sv_httpd *first = start(NULL, 1000);
        cfg = (sv_httpd_config){
                .addr = "127.0.0.1", .port = sv_httpd_port(first), .heartbeat_timeout_ms = 1000};
        assert_int_equal(sv_httpd_start(&cfg, &h), -EADDRINUSE);
        assert_null(h);
        /* An address this host does not have. */
        cfg = (sv_httpd_config){.addr = "192.0.2.1", .heartbeat_timeout_ms = 1000};
        assert_int_equal(sv_httpd_start(&cfg, &h), -EADDRNOTAVAIL);
        assert_null(h);
}

static void stops_cleanly(void **state) {
        assert_null(sv_httpd_stop(NULL));
        /* Several start/stop rounds, one with an idle keep-alive connection
         * still open in curl's cache, one never contacted. */
        for (int i = 0; i < 3; i++) {
                sv_httpd *h = start(NULL, 1000);
                uint16_t port = sv_httpd_port(h);
                if (i < 2)
                        expect(port, "GET", "/healthz", 200, "ok");
                assert_null(sv_httpd_stop(h));
                if (i < 2) {
                        struct response r;
                        assert_int_not_equal(
                                fetch_on(curl_handle(), "127.0.0.1", port, "GET", "/healthz", &r),
                                CURLE_OK);
                        sv_strbuf_done(&r.body);
                }
        }
}

static void parses_metrics_addr(void **state) {
        char host[SV_HTTPD_ADDR_MAX];
        uint16_t port;
        assert_int_equal(sv_httpd_parse_addr("127.0.0.1:9464", host, &port), 0);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 9464);
        assert_int_equal(sv_httpd_parse_addr("[::1]:0", host, &port), 0);
        assert_string_equal(host, "::1");
        assert_int_equal(port, 0);
        assert_int_equal(sv_httpd_parse_addr("0.0.0.0:80", host, &port), 0);
        assert_string_equal(host, "0.0.0.0");

        const char *bad[] = {"127.0.0.1",        "127.0.0.1:",   ":9464",      "localhost:9464",
                             "127.0.0.1:65536",  "127.0.0.1:-1", "::1:9464",   "[::1]9464",
                             "[127.0.0.1]:9464", "[::1:9464",    "1.2.3.4:09", "[fe80::1%lo]:9464"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                snprintf(host, sizeof(host), "untouched");
                port = 7;
                assert_int_equal(sv_httpd_parse_addr(bad[i], host, &port), -EINVAL);
                assert_string_equal(host, "untouched");
                assert_int_equal(port, 7);
        }
        assert_int_equal(sv_httpd_parse_addr(NULL, host, &port), -EINVAL);
}

static int setup(void **state) {
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state) {
        curl_easy_cleanup(curl_handle());
        curl_global_cleanup();
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(serves_metrics),
                cmocka_unit_test(serves_large_metrics),
                cmocka_unit_test(metrics_without_registry_is_empty),
                cmocka_unit_test(healthz_follows_the_heartbeat),
                cmocka_unit_test(readyz_follows_the_flag),
                cmocka_unit_test(other_paths_and_methods),
                cmocka_unit_test(binds_only_the_given_address),
                cmocka_unit_test(serves_ipv6),
                cmocka_unit_test(serves_with_high_fd_numbers),
                cmocka_unit_test(start_refuses_bad_configs),
                cmocka_unit_test(stops_cleanly),
                cmocka_unit_test(parses_metrics_addr),
        };
        return cmocka_run_group_tests_name("operator/httpd", tests, setup, teardown);
}
