/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../cmocka-prelude.h"
#include "operator/flows.h"
#include "operator/metrics.h"

/* ---- entries as conntrack shows them ------------------------------------ */

/* A TCP connection from client:sport to 10.43.0.1:port (a cluster IP) that
 * DNAT sent to server:port; bytes split 1/4 original, 3/4 reply. */
static sv_ct_entry conn(uint32_t id, const char *client, uint16_t sport, const char *server,
                        uint16_t port, uint64_t bytes) {
        sv_ct_entry e = {.family = AF_INET, .proto = 6, .id = id, .has_counters = true};
        assert_int_equal(inet_pton(AF_INET, client, e.orig.src), 1);
        assert_int_equal(inet_pton(AF_INET, "10.43.0.1", e.orig.dst), 1);
        e.orig.sport = sport;
        e.orig.dport = port;
        assert_int_equal(inet_pton(AF_INET, server, e.reply.src), 1);
        assert_int_equal(inet_pton(AF_INET, client, e.reply.dst), 1);
        e.reply.sport = port;
        e.reply.dport = sport;
        e.bytes[0] = bytes / 4;
        e.bytes[1] = bytes - bytes / 4;
        e.packets[0] = e.packets[1] = 1;
        return e;
}

static sv_ct_entry ended(sv_ct_entry e, uint64_t bytes) {
        e.destroyed = true;
        e.bytes[0] = bytes / 4;
        e.bytes[1] = bytes - bytes / 4;
        return e;
}

static void flow_of_an_entry(void **state) {
        sv_ct_entry e = conn(1, "10.42.0.7", 40000, "10.42.1.9", 8080, 100);
        sv_flow f;
        assert_int_equal(sv_flow_from_ct(&e, &f), 0);
        assert_int_equal(f.family, AF_INET);
        assert_string_equal(f.src, "10.42.0.7");
        assert_string_equal(f.dst, "10.42.1.9"); /* after DNAT, not the cluster IP */
        assert_int_equal(f.proto, 6);
        assert_int_equal(f.dport, 8080);

        sv_ct_entry e6 = {.family = AF_INET6, .proto = 17};
        assert_int_equal(inet_pton(AF_INET6, "fd00::7", e6.orig.src), 1);
        assert_int_equal(inet_pton(AF_INET6, "fd00:42::a", e6.reply.src), 1);
        e6.reply.sport = 53;
        assert_int_equal(sv_flow_from_ct(&e6, &f), 0);
        assert_string_equal(f.src, "fd00::7");
        assert_string_equal(f.dst, "fd00:42::a");
        assert_int_equal(f.dport, 53);

        sv_flow g = {.family = 99};
        e6.family = AF_UNIX;
        assert_int_equal(sv_flow_from_ct(&e6, &g), -EINVAL);
        assert_int_equal(sv_flow_from_ct(NULL, &g), -EINVAL);
        assert_int_equal(g.family, 99);
}

/* ---- aggregation ------------------------------------------------------ */

/* Names: source "w-<last octet of the client>", destination "svc-<port>";
 * the client 10.0.0.99 is not ours (not counted). */
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

static void observe(sv_flow_agg *a, sv_ct_entry e) {
        assert_int_equal(sv_flow_agg_observe(a, &e), 0);
}

static void dumps_add_what_grew(void **state) {
        int calls = 0;
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .userdata = &calls};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        /* Dump 1: two connections of w-1, one of w-2. */
        observe(a, conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1000));
        observe(a, conn(2, "10.0.0.1", 40002, "10.42.0.6", 80, 400));
        observe(a, conn(3, "10.0.0.2", 40003, "10.42.0.5", 80, 500));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 1400);
        assert_int_equal(t.connections, 2);
        assert_int_equal(total(a, "w-2", "svc-80").bytes, 500);
        assert_int_equal(calls, 3);

        /* Dump 2, the same counters: nothing new, no lookup. */
        observe(a, conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1000));
        observe(a, conn(2, "10.0.0.1", 40002, "10.42.0.6", 80, 400));
        observe(a, conn(3, "10.0.0.2", 40003, "10.42.0.5", 80, 500));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1400);
        assert_int_equal(calls, 3);

        /* Dump 3: grown, the increase only; connections stay. */
        observe(a, conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1300));
        observe(a, conn(2, "10.0.0.1", 40002, "10.42.0.6", 80, 400));
        observe(a, conn(3, "10.0.0.2", 40003, "10.42.0.5", 80, 500));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 1700);
        assert_int_equal(t.connections, 2);

        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.tracked, 3);
        assert_int_equal(st.vanished, 0);
        assert_int_equal(sv_flow_agg_pairs(a), 2);
}

static void destroy_events_add_the_rest(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        sv_ct_entry c1 = conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1000);
        observe(a, c1);
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        /* It ends with 1800 bytes: 800 more. */
        observe(a, ended(c1, 1800));
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 1800);
        assert_int_equal(t.connections, 1);
        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.tracked, 0);

        /* A connection born and gone between two dumps: its event alone
         * counts it, whole. */
        observe(a, ended(conn(2, "10.0.0.1", 40002, "10.42.0.5", 80, 0), 600));
        t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 2400);
        assert_int_equal(t.connections, 2);

        /* Ended during a dump, after the dump showed it: the dump counted up
         * to 300, the event the rest, nothing twice; the sweep forgets
         * nothing it should not. */
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.tracked, 0);
        sv_ct_entry c3 = conn(3, "10.0.0.1", 40003, "10.42.0.5", 80, 300);
        observe(a, c3);
        observe(a, ended(c3, 350));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 2750);
        assert_int_equal(t.connections, 3);
}

/* A NEW event: the connection as it starts, without counters. */
static sv_ct_entry started(sv_ct_entry e) {
        e.has_counters = false;
        e.bytes[0] = e.bytes[1] = e.packets[0] = e.packets[1] = 0;
        return e;
}

/* w-1's totals towards svc-80, and the connections remembered. */
static void expect_w1(const sv_flow_agg *a, uint64_t connections, uint64_t bytes, size_t tracked) {
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.connections, connections);
        assert_int_equal(t.bytes, bytes);
        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.tracked, tracked);
        assert_int_equal(st.vanished, 0);
}

static void new_events_count_a_connection_once(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        sv_ct_entry c1 = conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 500);
        observe(a, started(c1));
        expect_w1(a, 1, 0, 1);

        /* The dump then shows its bytes. */
        observe(a, c1);
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        expect_w1(a, 1, 500, 1);

        /* A dump may show a connection before its NEW event arrives: the
         * late event is no new connection and takes no bytes back. */
        sv_ct_entry c2 = conn(2, "10.0.0.1", 40002, "10.42.0.5", 80, 300);
        observe(a, c1);
        observe(a, c2);
        observe(a, started(c2));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        expect_w1(a, 2, 800, 2);

        /* Their ends add the rest. */
        observe(a, ended(c1, 900));
        observe(a, ended(c2, 300));
        expect_w1(a, 2, 1200, 0);
}

static void sweeps_forget_the_vanished(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        observe(a, conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1000));
        observe(a, conn(2, "10.0.0.1", 40002, "10.42.0.5", 80, 1000));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        /* The next dump shows only the first: the second's event was lost. */
        observe(a, conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1100));
        assert_int_equal(sv_flow_agg_sweep(a), 1);
        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.tracked, 1);
        assert_int_equal(st.vanished, 1);
        /* Totals never go down. */
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 2100);
        assert_int_equal(t.connections, 2);
        /* An empty dump forgets the rest; the totals stay. */
        assert_int_equal(sv_flow_agg_sweep(a), 1);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 2100);
}

static void reused_ids_are_new_connections(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        observe(a, conn(7, "10.0.0.1", 40001, "10.42.0.5", 80, 1000));
        assert_int_equal(sv_flow_agg_sweep(a), 0);
        /* The same id and tuple, fewer bytes: another entry. */
        observe(a, conn(7, "10.0.0.1", 40001, "10.42.0.5", 80, 100));
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 1100);
        assert_int_equal(t.connections, 2);
        /* The same id with another source port: another entry too. */
        observe(a, conn(7, "10.0.0.1", 40002, "10.42.0.5", 80, 5000));
        t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 6100);
        assert_int_equal(t.connections, 3);
}

static void not_ours_and_no_accounting(void **state) {
        int calls = 0;
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .userdata = &calls};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);
        /* The lookup refuses 10.0.0.99: not counted, not remembered. */
        observe(a, conn(1, "10.0.0.99", 40001, "10.42.0.5", 80, 1000));
        observe(a, ended(conn(2, "10.0.0.99", 40002, "10.42.0.5", 80, 0), 10));
        assert_int_equal(sv_flow_agg_pairs(a), 0);
        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.tracked, 0);
        assert_int_equal(calls, 2);

        /* Made before accounting was on: a connection, no bytes. */
        sv_ct_entry e = conn(3, "10.0.0.1", 40003, "10.42.0.5", 80, 999);
        e.has_counters = false;
        observe(a, e);
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 0);
        assert_int_equal(t.connections, 1);
}

static void over_the_cap_counts_at_the_end(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .max_tracked = 2};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);
        sv_ct_entry c[3] = {conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 100),
                            conn(2, "10.0.0.1", 40002, "10.42.0.5", 80, 200),
                            conn(3, "10.0.0.1", 40003, "10.42.0.5", 80, 400)};
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 3; i++)
                        observe(a, c[i]);
                assert_int_equal(sv_flow_agg_sweep(a), 0);
        }
        /* The third waits for its end, never counted twice meanwhile. */
        struct find t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 300);
        assert_int_equal(t.connections, 2);
        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(a, &st);
        assert_int_equal(st.untracked, 3);
        observe(a, ended(c[2], 500));
        t = total(a, "w-1", "svc-80");
        assert_int_equal(t.bytes, 800);
        assert_int_equal(t.connections, 3);
}

static void folds_pairs_past_the_cap(void **state) {
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup, .max_series = 4};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);

        /* 3 pairs fit (one place is kept for other/other). */
        observe(a, conn(1, "10.0.0.1", 1, "10.42.0.5", 80, 1));
        observe(a, conn(2, "10.0.0.2", 1, "10.42.0.5", 80, 2));
        observe(a, conn(3, "10.0.0.3", 1, "10.42.0.5", 80, 4));
        observe(a, conn(4, "10.0.0.4", 1, "10.42.0.5", 80, 8));
        observe(a, conn(5, "10.0.0.5", 1, "10.42.0.5", 81, 16));
        assert_int_equal(sv_flow_agg_pairs(a), 4);
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 1);
        assert_int_equal(total(a, "w-3", "svc-80").bytes, 4);
        assert_int_equal(total(a, "w-4", "svc-80").found, 0);
        assert_int_equal(total(a, SV_FLOW_OTHER, SV_FLOW_OTHER).bytes, 8 + 16);
        /* Existing pairs keep counting, folded ones too. */
        observe(a, conn(1, "10.0.0.1", 1, "10.42.0.5", 80, 101));
        observe(a, conn(4, "10.0.0.4", 1, "10.42.0.5", 80, 10));
        assert_int_equal(total(a, "w-1", "svc-80").bytes, 101);
        assert_int_equal(total(a, SV_FLOW_OTHER, SV_FLOW_OTHER).bytes, 10 + 16);
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
        observe(a, conn(1, "10.0.0.9", 1, "10.42.0.5", 80, 1));
        observe(a, conn(2, "10.0.0.1", 1, "10.42.0.5", 80, 2));
        observe(a, conn(3, "10.0.0.2", 1, "10.42.0.5", 80, 4));
        observe(a, conn(4, "10.0.0.3", 1, "10.42.0.5", 81, 8));
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

        sv_ct_entry c1 = conn(1, "10.0.0.1", 40001, "10.42.0.5", 80, 1000);
        observe(a, c1);
        observe(a, ended(conn(2, "10.0.0.1", 40002, "10.42.0.5", 80, 0), 0));
        observe(a, ended(c1, 1500));

        _cleanup_free_ char *text = NULL;
        size_t len;
        assert_int_equal(sv_metrics_render(m, 1 << 20, &text, &len), 0);
        assert_non_null(strstr(
                text, "selvedge_l4_bytes_total{source=\"w-1\",destination=\"svc-80\"} 1500\n"));
        assert_non_null(strstr(
                text, "selvedge_l4_connections_total{source=\"w-1\",destination=\"svc-80\"} 2\n"));
        assert_non_null(strstr(text, "# TYPE selvedge_l4_bytes_total counter\n"));
}

static int lookup_bad_utf8(const sv_flow *f, char *source, char *destination, void *userdata) {
        snprintf(source, SV_FLOW_NAME_MAX, "w-\xff");
        snprintf(destination, SV_FLOW_NAME_MAX, "svc-%u", f->dport);
        return 0;
}

static void unexportable_names_still_count(void **state) {
        _cleanup_metrics_ sv_metrics *m = NULL;
        assert_int_equal(sv_metrics_new(&m), 0);
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        sv_flow_agg_config cfg = {.lookup = lookup_bad_utf8, .metrics = m};
        assert_int_equal(sv_flow_agg_new(&cfg, &a), 0);
        sv_ct_entry e = conn(1, "10.0.0.1", 1, "10.42.0.5", 80, 7);
        assert_int_equal(sv_flow_agg_observe(a, &e), -EINVAL);
        assert_int_equal(total(a, "w-\xff", "svc-80").bytes, 7);
        /* Remembered all the same: the next dump adds nothing twice. */
        assert_int_equal(sv_flow_agg_observe(a, &e), 0);
        assert_int_equal(total(a, "w-\xff", "svc-80").bytes, 7);
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
        assert_int_equal(sv_flow_agg_observe(a, NULL), -EINVAL);
        assert_int_equal(sv_flow_agg_observe(NULL, NULL), -EINVAL);
        assert_int_equal(sv_flow_agg_sweep(NULL), 0);
        assert_int_equal(sv_flow_agg_pairs(a), 0);
        sv_flow_agg_free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(flow_of_an_entry),
                cmocka_unit_test(dumps_add_what_grew),
                cmocka_unit_test(destroy_events_add_the_rest),
                cmocka_unit_test(new_events_count_a_connection_once),
                cmocka_unit_test(sweeps_forget_the_vanished),
                cmocka_unit_test(reused_ids_are_new_connections),
                cmocka_unit_test(not_ours_and_no_accounting),
                cmocka_unit_test(over_the_cap_counts_at_the_end),
                cmocka_unit_test(folds_pairs_past_the_cap),
                cmocka_unit_test(folds_into_the_destinations_other),
                cmocka_unit_test(exports_counters),
                cmocka_unit_test(unexportable_names_still_count),
                cmocka_unit_test(refuses_bad_arguments),
        };
        return cmocka_run_group_tests_name("operator/flows", tests, NULL, NULL);
}
