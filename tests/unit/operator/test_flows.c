/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../cmocka-prelude.h"
#include "operator/flows.h"
#include "operator/metrics.h"

static void decodes_keys(void **state) {
        /* 10.42.0.7 . 10.43.0.10 . tcp . 8080, as the kernel stores it */
        static const uint8_t k4[16] = {10, 42, 0, 7, 10, 43, 0, 10, 6, 0, 0, 0, 0x1f, 0x90, 0, 0};
        sv_flow f = {.packets = 3};
        assert_int_equal(sv_flow_decode_key(k4, sizeof(k4), &f), 0);
        assert_int_equal(f.family, AF_INET);
        assert_string_equal(f.src, "10.42.0.7");
        assert_string_equal(f.dst, "10.43.0.10");
        assert_int_equal(f.proto, 6);
        assert_int_equal(f.dport, 8080);
        assert_int_equal(f.packets, 3); /* counters are left alone */

        uint8_t k6[40] = {0};
        assert_int_equal(inet_pton(AF_INET6, "fd00::7", k6), 1);
        assert_int_equal(inet_pton(AF_INET6, "fd00:43::a", k6 + 16), 1);
        k6[32] = 17;
        k6[36] = 0;
        k6[37] = 53;
        assert_int_equal(sv_flow_decode_key(k6, sizeof(k6), &f), 0);
        assert_int_equal(f.family, AF_INET6);
        assert_string_equal(f.src, "fd00::7");
        assert_string_equal(f.dst, "fd00:43::a");
        assert_int_equal(f.proto, 17);
        assert_int_equal(f.dport, 53);

        sv_flow g = {.family = 99};
        assert_int_equal(sv_flow_decode_key(k4, 12, &g), -EINVAL);
        assert_int_equal(sv_flow_decode_key(k6, 41, &g), -EINVAL);
        assert_int_equal(sv_flow_decode_key(NULL, 16, &g), -EINVAL);
        assert_int_equal(g.family, 99);
}

/* ---- aggregation ------------------------------------------------------ */

/* Names: source "w-<last octet of src>", destination "svc-<dport>"; a
 * source address of 10.0.0.99 is unknown (not counted). */
static int lookup(const sv_flow *f, char *source, char *destination, void *userdata) {
        int *calls = userdata;
        if (calls)
                (*calls)++;
        if (strcmp(f->src, "10.0.0.99") == 0)
                return -ENOENT;
        const char *dot = strrchr(f->src, '.');
        snprintf(source, SV_FLOW_NAME_MAX, "w-%s", dot ? dot + 1 : f->src);
        snprintf(destination, SV_FLOW_NAME_MAX, "svc-%u", f->dport);
        return 0;
}

static sv_flow flow(const char *src, uint16_t dport, uint64_t packets, uint64_t bytes) {
        sv_flow f = {.family = AF_INET, .proto = 6, .dport = dport};
        snprintf(f.src, sizeof(f.src), "%s", src);
        snprintf(f.dst, sizeof(f.dst), "10.43.0.1");
        f.packets = packets;
        f.bytes = bytes;
        return f;
}

struct find {
        const char *source, *destination;
        uint64_t bytes, connections;
        int found;
};

static int find_cb(const sv_flow_total *t, void *userdata) {
        struct find *x = userdata;
        if (strcmp(t->source, x->source) == 0 && strcmp(t->destination, x->destination) == 0) {
                x->found++;
                x->bytes = t->bytes;
                x->connections = t->connections;
        }
        return 0;
}

static struct find total(const sv_flow_agg *a, const char *source, const char *destination) {
        struct find x = {.source = source, .destination = destination};
        assert_int_equal(sv_flow_agg_foreach(a, find_cb, &x), 0);
        assert_true(x.found <= 1);
        return x;
}

static void adds_increases_only(void **state) {
        int calls = 0;
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .userdata = &calls};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        sv_flow r1[] = {flow("10.0.0.1", 80, 10, 1000), flow("10.0.0.2", 80, 5, 500)};
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, r1, 2), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1000);
        assert_int_equal(total(a, "w-2", "svc-80").bytes, 500);
        assert_int_equal(calls, 2);

        /* The same counters again: nothing new, no lookup. */
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, r1, 2), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1000);
        assert_int_equal(calls, 2);

        /* Grown: the increase. */
        sv_flow r2[] = {flow("10.0.0.1", 80, 12, 1300), flow("10.0.0.2", 80, 5, 500)};
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, r2, 2), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1300);
        assert_int_equal(total(a, "w-2", "svc-80").bytes, 500);

        /* Smaller than last seen: a new element (expired and created again,
         * or the table rebuilt), counted whole. */
        sv_flow r3[] = {flow("10.0.0.1", 80, 2, 100), flow("10.0.0.2", 80, 6, 400)};
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, r3, 2), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1400);
        /* bytes went down though packets went up: a new element too */
        assert_int_equal(total(a, "w-2", "svc-80").bytes, 900);
        assert_int_equal(sv_flow_agg_pairs(a), 2);
}

static void forgets_keys_not_seen(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        sv_flow f = flow("10.0.0.1", 80, 10, 1000);
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, &f, 1), 0);
        /* Gone in one read (expired)... */
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, NULL, 0), 0);
        /* ...and back with more than before: a new element, counted whole. */
        f.bytes = 1500;
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, &f, 1), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 2500);
        /* Totals stay when their flows are gone. */
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, NULL, 0), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 2500);
}

static void sets_are_separate(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        /* The same key in flows4 (bytes) and conns4 (connections = packets). */
        sv_flow f = flow("10.0.0.1", 80, 10, 1000);
        sv_flow c = flow("10.0.0.1", 80, 3, 180);
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, &f, 1), 0);
        assert_int_equal(sv_flow_agg_feed(a, "conns4", SV_FLOW_CONNECTIONS, NULL, &c, 1), 0);
        c.packets = 4;
        c.bytes = 240;
        assert_int_equal(sv_flow_agg_feed(a, "conns4", SV_FLOW_CONNECTIONS, NULL, &c, 1), 0);
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 1000);
        assert_int_equal(t.connections, 4);
        /* An empty read of flows6 does not forget flows4's keys. */
        assert_int_equal(sv_flow_agg_feed(a, "flows6", SV_FLOW_BYTES, NULL, NULL, 0), 0);
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, &f, 1), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1000);
        /* Several flows can make one pair. */
        sv_flow two[] = {flow("10.0.0.1", 80, 10, 1000), flow("10.0.0.1", 80, 1, 1)};
        snprintf(two[1].dst, sizeof(two[1].dst), "10.43.0.2");
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, two, 2), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1001);
}

static void another_instance_is_new(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        sv_nft_set_id id1 = {.table_handle = 7, .set_handle = 3};
        sv_nft_set_id id2 = {.table_handle = 8, .set_handle = 3};
        sv_flow f = flow("10.0.0.1", 80, 10, 1000);
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, &id1, &f, 1), 0);
        f.bytes = 1200;
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, &id1, &f, 1), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1200);
        /* The table was rebuilt and its element already grew past 1200:
         * counted whole all the same. */
        f.bytes = 1500;
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, &id2, &f, 1), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 2700);
        f.bytes = 1600;
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, &id2, &f, 1), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 2800);
}

static void unnamed_flows_and_duplicates(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);
        /* The lookup refuses 10.0.0.99: not counted, now or later. */
        sv_flow f[] = {flow("10.0.0.99", 80, 10, 1000), flow("10.0.0.1", 80, 1, 10),
                       flow("10.0.0.1", 80, 1, 10)};
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, f, 3), 0);
        assert_int_equal(sv_flow_agg_pairs(a), 1);
        /* A key twice in one read counts once. */
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 10);
}

static void folds_pairs_past_the_cap(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .max_series = 4};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        /* 3 pairs fit (one place is kept for other/other). */
        sv_flow f[] = {flow("10.0.0.1", 80, 1, 1), flow("10.0.0.2", 80, 1, 2),
                       flow("10.0.0.3", 80, 1, 4), flow("10.0.0.4", 80, 1, 8),
                       flow("10.0.0.5", 81, 1, 16)};
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, f, 5), 0);
        assert_int_equal(sv_flow_agg_pairs(a), 4);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1);
        assert_int_equal(total(a, "w-3", "svc-80").bytes, 4);
        assert_int_equal(total(a, "w-4", "svc-80").found, 0);
        assert_int_equal(total(a, SV_FLOW_OTHER, SV_FLOW_OTHER).bytes, 8 + 16);
        /* Existing pairs keep counting. */
        f[0].bytes = 101;
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, f, 5), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 101);
        assert_int_equal(sv_flow_agg_pairs(a), 4);

        sv_flow_agg *c = NULL;
        sv_flow_agg_config one = {.lookup = lookup, .max_series = 1};
        assert_int_equal(sv_flow_agg_new(&one, &c), -EINVAL);
        assert_null(c);
}

static int lookup_other(const sv_flow *f, char *source, char *destination, void *userdata) {
        snprintf(source, SV_FLOW_NAME_MAX, "%s",
                 strcmp(f->src, "10.0.0.9") == 0 ? SV_FLOW_OTHER : f->src);
        snprintf(destination, SV_FLOW_NAME_MAX, "svc-%u", f->dport);
        return 0;
}

static void folds_into_the_destinations_other(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup_other, .max_series = 3};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);
        sv_flow f[] = {flow("10.0.0.9", 80, 1, 1), flow("10.0.0.1", 80, 1, 2),
                       flow("10.0.0.2", 80, 1, 4), flow("10.0.0.3", 81, 1, 8)};
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, f, 4), 0);
        assert_int_equal(total(a, SV_FLOW_OTHER, "svc-80").bytes, 1 + 4);
        assert_int_equal(total(a, "10.0.0.1", "svc-80").bytes, 2);
        assert_int_equal(total(a, SV_FLOW_OTHER, SV_FLOW_OTHER).bytes, 8);
        assert_int_equal(sv_flow_agg_pairs(a), 3);
}

static void exports_counters(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        assert_int_equal(sv_metrics_new(&m), 0);
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .metrics = m};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        sv_flow f = flow("10.0.0.1", 80, 10, 1000);
        sv_flow c = flow("10.0.0.1", 80, 2, 120);
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, &f, 1), 0);
        assert_int_equal(sv_flow_agg_feed(a, "conns4", SV_FLOW_CONNECTIONS, NULL, &c, 1), 0);
        f.bytes = 1500;
        assert_int_equal(sv_flow_agg_feed(a, "flows4", SV_FLOW_BYTES, NULL, &f, 1), 0);

        _cleanup_free_ char *text = NULL;
        size_t len;
        assert_int_equal(sv_metrics_render(m, 1 << 20, &text, &len), 0);
        assert_non_null(strstr(
                text, "selvedge_l4_bytes_total{source=\"w-1\",destination=\"svc-80\"} 1500\n"));
        assert_non_null(strstr(
                text, "selvedge_l4_connections_total{source=\"w-1\",destination=\"svc-80\"} 2\n"));
        assert_non_null(strstr(text, "# TYPE selvedge_l4_bytes_total counter\n"));

        /* Names the registry refuses (not UTF-8): counted, not exported, and
         * the error said once. */
        _cleanup_metrics_ sv_metrics *m2 = NULL;
        assert_int_equal(sv_metrics_new(&m2), 0);
        _cleanup_flow_agg_ sv_flow_agg *b = NULL;
        cfg.metrics = m2;
        assert_int_equal(sv_flow_agg_new(&cfg, &b), 0);
        sv_flow bad = flow("10.0.0.\xff", 80, 1, 7);
        assert_int_equal(sv_flow_agg_feed(b, "flows4", SV_FLOW_BYTES, NULL, &bad, 1), -EINVAL);
        assert_int_equal(total(b, "w-\xff", "svc-80").bytes, 7);
}

static void refuses_bad_arguments(void **state) {
        sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {0};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), -EINVAL);
        assert_int_equal(sv_flow_agg_new(NULL, &a), -EINVAL);
        assert_null(a);
        assert_null(sv_flow_agg_free(NULL));
        cfg.lookup = lookup;
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);
        assert_int_equal(sv_flow_agg_feed(a, NULL, SV_FLOW_BYTES, NULL, NULL, 0), -EINVAL);
        assert_int_equal(sv_flow_agg_feed(a, "x", SV_FLOW_BYTES, NULL, NULL, 1), -EINVAL);
        assert_int_equal(sv_flow_agg_feed(a, "x", (enum sv_flow_kind)7, NULL, NULL, 0), -EINVAL);
        assert_int_equal(sv_flow_agg_pairs(a), 0);
        assert_int_equal(sv_flow_agg_read(a, NULL, "selvedge"), -EINVAL);
        sv_flow_agg_free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(decodes_keys),
                cmocka_unit_test(adds_increases_only),
                cmocka_unit_test(forgets_keys_not_seen),
                cmocka_unit_test(sets_are_separate),
                cmocka_unit_test(another_instance_is_new),
                cmocka_unit_test(unnamed_flows_and_duplicates),
                cmocka_unit_test(folds_pairs_past_the_cap),
                cmocka_unit_test(folds_into_the_destinations_other),
                cmocka_unit_test(exports_counters),
                cmocka_unit_test(refuses_bad_arguments),
        };
        return cmocka_run_group_tests_name("operator/flows", tests, NULL, NULL);
}
