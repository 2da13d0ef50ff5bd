/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables renderer: golden rulesets for representative states
 * (tests/unit/operator/testdata/render/<case>.json -> <case>.nft; regenerate
 * with SV_UPDATE_GOLDEN=1 and review the diff), and what a change costs: pod
 * churn touches only set elements, an unchanged state nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "../testutil.h"
#include "base/fileio.h"
#include "json/json.h"
#include "operator/render.h"

#define DATA "tests/unit/operator/testdata/render/"

static json_t *load(const char *name, sv_render_config *cfg) {
        char path[256];
        snprintf(path, sizeof(path), DATA "%s.json", name);
        json_t *j = sv_test_load_json(path);
        json_t *c = json_object_get(j, "config");
        *cfg = (sv_render_config){
                .default_deny = json_is_true(json_object_get(c, "defaultDeny")),
                .dns_service = "kube-system/kube-dns",
                .nflog_group = (uint16_t)json_integer_value(json_object_get(c, "nflogGroup")),
        };
        json_t *state = json_incref(json_object_get(j, "state"));
        json_decref(j);
        return state;
}

static sv_ruleset *render(const json_t *state, const sv_render_config *cfg) {
        sv_ruleset *rs = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_render(state, cfg, &rs, &err) < 0)
                fail_msg("render: %s", err.message);
        return rs;
}

static void golden(const char *name) {
        sv_render_config cfg;
        json_t *state = load(name, &cfg);
        sv_ruleset *rs = render(state, &cfg);
        char *text = NULL;
        assert_int_equal(sv_ruleset_text(rs, &text), 0);
        char path[256];
        snprintf(path, sizeof(path), DATA "%s.nft", name);
        if (getenv("SV_UPDATE_GOLDEN")) {
                assert_int_equal(sv_write_file_atomic(path, text, strlen(text), 0644), 0);
        } else {
                char *want = NULL;
                size_t len = 0;
                assert_int_equal(sv_read_file_capped(path, 1 << 20, &want, &len), 0);
                if (strcmp(want, text) != 0)
                        fail_msg("%s differs from the rendering:\n%s", path, text);
                free(want);
        }
        free(text);
        sv_ruleset_free(rs);
        json_decref(state);
}

static void test_golden_basic(void **s) {
        golden("basic");
}
static void test_golden_default_deny(void **s) {
        golden("default-deny");
}
static void test_golden_dual_stack(void **s) {
        golden("dual-stack");
}

static sv_render_stats diff(const sv_ruleset *from, const sv_ruleset *to, unsigned *messages) {
        sv_nft_batch *b = NULL;
        assert_int_equal(sv_nft_batch_new(64 << 20, &b), 0);
        sv_render_stats st;
        assert_int_equal(sv_ruleset_diff(from, to, b, &st), 0);
        *messages = sv_nft_batch_count(b);
        sv_nft_batch_free(b);
        return st;
}

static void test_unchanged_state_is_no_transaction(void **s) {
        sv_render_config cfg;
        json_t *state = load("basic", &cfg);
        sv_ruleset *a = render(state, &cfg), *b = render(state, &cfg);
        unsigned n;
        sv_render_stats st = diff(a, b, &n);
        assert_int_equal(n, 0);
        assert_false(st.full);
        st = diff(NULL, b, &n);
        assert_true(st.full);
        assert_true(n > 20);
        sv_ruleset_free(a);
        sv_ruleset_free(b);
        json_decref(state);
}

/* The applied model without its rules (what the backend keeps): the same
 * text, and a diff from it to the same state, or to one with a changed
 * chain, is what it was from the full model. */
static void test_forgotten_rules_diff_the_same(void **s) {
        sv_render_config cfg;
        json_t *state = load("default-deny", &cfg);
        sv_ruleset *full = render(state, &cfg), *kept = render(state, &cfg);
        sv_ruleset_forget_rules(kept);
        char *want = NULL, *got = NULL;
        assert_int_equal(sv_ruleset_text(full, &want), 0);
        assert_int_equal(sv_ruleset_text(kept, &got), 0);
        assert_string_equal(got, want);
        free(want);
        free(got);
        sv_ruleset *same = render(state, &cfg);
        unsigned n;
        sv_render_stats st = diff(kept, same, &n);
        assert_int_equal(n, 0);
        assert_false(st.full);
        /* Another default verdict changes chains: both diffs flush and
         * refill the same ones. */
        sv_render_config deny_off = cfg;
        deny_off.default_deny = !cfg.default_deny;
        sv_ruleset *changed = render(state, &deny_off);
        unsigned n_full, n_kept;
        sv_render_stats from_full = diff(full, changed, &n_full),
                        from_kept = diff(kept, changed, &n_kept);
        assert_true(from_full.chains_changed + from_full.chains_added > 0);
        assert_int_equal(from_kept.chains_changed, from_full.chains_changed);
        assert_int_equal(from_kept.chains_added, from_full.chains_added);
        assert_int_equal(from_kept.chains_removed, from_full.chains_removed);
        assert_int_equal(n_kept, n_full);
        sv_ruleset_free(full);
        sv_ruleset_free(kept);
        sv_ruleset_free(same);
        sv_ruleset_free(changed);
        json_decref(state);
}

/* A new pod that existing policies select: set and map elements only. */
static void test_pod_churn_touches_only_elements(void **s) {
        sv_render_config cfg;
        json_t *state = load("default-deny", &cfg);
        sv_ruleset *before = render(state, &cfg);
        json_array_append_new(json_object_get(state, "localPods"),
                              json_pack("{s:s,s:s,s:s,s:[s]}", "namespace", "prod", "name", "web-1",
                                        "identity", "prod/web", "ips", "10.78.1.9"));
        json_t *no_dev = json_array_get(json_object_get(state, "policies"), 1);
        json_array_append_new(json_object_get(no_dev, "targets"), json_string("10.78.1.9"));
        json_array_append_new(json_array_get(json_object_get(state, "peerGroups"), 0),
                              json_string("10.78.2.77"));
        sv_ruleset *after = render(state, &cfg);
        assert_true(sv_ruleset_same_chains(before, after));
        unsigned n;
        sv_render_stats st = diff(before, after, &n);
        assert_false(st.full);
        assert_int_equal(st.chains_added + st.chains_changed + st.chains_removed, 0);
        /* local4, in4 and the peer group */
        assert_int_equal(st.elems_added, 3);
        assert_int_equal(st.elems_removed, 0);
        assert_int_equal(n, 3);
        /* and back */
        st = diff(after, before, &n);
        assert_int_equal(st.elems_removed, 3);
        assert_int_equal(st.chains_added + st.chains_changed + st.chains_removed, 0);
        sv_ruleset_free(before);
        sv_ruleset_free(after);
        json_decref(state);
}

/* Weights are shares of 10,000 that add up exactly; a backend with weight 0
 * or without a ready endpoint gets no interval. */
static void test_split_shares(void **s) {
        sv_render_config cfg;
        json_t *state = load("basic", &cfg);
        json_t *backends =
                json_object_get(json_array_get(json_object_get(state, "splits"), 0), "backends");
        json_array_clear(backends);
        json_array_append_new(backends,
                              json_pack("{s:s,s:i}", "service", "reviews-v1", "weight", 1));
        json_array_append_new(backends,
                              json_pack("{s:s,s:i}", "service", "reviews-v2", "weight", 2));
        json_array_append_new(backends, json_pack("{s:s,s:i}", "service", "web", "weight", 0));
        sv_ruleset *rs = render(state, &cfg);
        char *text = NULL;
        assert_int_equal(sv_ruleset_text(rs, &text), 0);
        /* 1/3 and 2/3 of 10,000: 3333 + 6667 */
        const char *w = strstr(text, "numgen random mod 10000 vmap { 0-3332 : jump split_");
        assert_non_null(w);
        assert_non_null(strstr(w, ", 3333-9999 : jump split_"));
        assert_null(strstr(text, "10.78.1.2 } : 8080")); /* weight 0: web is never a target */
        free(text);
        sv_ruleset_free(rs);
        json_decref(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_basic),
                cmocka_unit_test(test_golden_default_deny),
                cmocka_unit_test(test_golden_dual_stack),
                cmocka_unit_test(test_unchanged_state_is_no_transaction),
                cmocka_unit_test(test_forgotten_rules_diff_the_same),
                cmocka_unit_test(test_pod_churn_touches_only_elements),
                cmocka_unit_test(test_split_shares),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
