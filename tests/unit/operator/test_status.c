/* SPDX-License-Identifier: Apache-2.0 */
/* sv_status_desired: the conditions of crds/README.md ("Status, conditions and
 * reasons") from the controller's verdict and the nodes' rollout. */
#include <string.h>

#include "../cmocka-prelude.h"
#include "json/json.h"
#include "operator/objects.h"
#include "operator/status.h"

static const char *const TYPES[] = {"Accepted", "Programmed", "Ready", "Reconciling", "Stalled"};

static sv_mesh_object policy(int64_t generation, const char *spec) {
        return (sv_mesh_object){
                .kind = SV_KIND_SERVICE_POLICY,
                .namespace = (char *)"prod",
                .name = (char *)"dev-must-not-reach-prod",
                .uid = (char *)"8ccf547f-79fd-4209-b34e-7052191ca706",
                .resource_version = (char *)"147587",
                .creation = (char *)"2026-11-24T21:54:49Z",
                .generation = generation,
                .spec = (char *)spec,
        };
}

static json_t *J(const char *s) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_json_parse(s, strlen(s), 1 << 16, &j, &err) < 0)
                fail_msg("test JSON %s: %s", s, err.message);
        return j;
}

/* metav1.Condition's reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$ */
static bool valid_reason(const char *r) {
        size_t n = strlen(r);
        if (n == 0 || n > 1024 || !((r[0] >= 'A' && r[0] <= 'Z') || (r[0] >= 'a' && r[0] <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = r[i];
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '_' ||
                          (i < n - 1 && (c == ',' || c == ':'));
                if (!ok)
                        return false;
        }
        return true;
}

/* The shape every desired status has: observedGeneration, and the five
 * condition types once each, each stamped with the generation. */
static void check_shape(const json_t *st, int64_t gen) {
        assert_true(json_is_object(st));
        json_t *og = json_object_get(st, "observedGeneration");
        assert_true(json_is_integer(og));
        assert_int_equal(json_integer_value(og), gen);
        json_t *conds = json_object_get(st, "conditions");
        assert_true(json_is_array(conds));
        if (json_array_size(conds) != ARRAY_SIZE(TYPES))
                fail_msg("%zu conditions, want %zu", json_array_size(conds), ARRAY_SIZE(TYPES));
        bool seen[ARRAY_SIZE(TYPES)] = {false};
        size_t i;
        json_t *c;
        json_array_foreach (conds, i, c) {
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *status = json_string_value(json_object_get(c, "status"));
                const char *reason = json_string_value(json_object_get(c, "reason"));
                const char *message = json_string_value(json_object_get(c, "message"));
                assert_non_null(type);
                assert_non_null(status);
                assert_non_null(reason);
                assert_non_null(message);
                assert_true(!strcmp(status, "True") || !strcmp(status, "False") ||
                            !strcmp(status, "Unknown"));
                if (!valid_reason(reason))
                        fail_msg("condition %s: reason \"%s\" is not a valid reason", type, reason);
                assert_true(strlen(message) <= 32768);
                json_t *cog = json_object_get(c, "observedGeneration");
                assert_true(json_is_integer(cog));
                assert_int_equal(json_integer_value(cog), gen);
                size_t k = 0;
                while (k < ARRAY_SIZE(TYPES) && strcmp(TYPES[k], type) != 0)
                        k++;
                if (k == ARRAY_SIZE(TYPES)) {
                        fail_msg("unexpected condition type %s", type);
                } else {
                        assert_false(seen[k]);
                        seen[k] = true;
                }
        }
}

static json_t *cond(const json_t *st, const char *type) {
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(st, "conditions"), i, c) {
                if (!strcmp(json_string_value(json_object_get(c, "type")), type))
                        return c;
        }
        fail_msg("no condition %s", type);
        return NULL;
}

/* Checks status and reason of condition `type`, and its message when msg is
 * not NULL (exactly) or contains `part` when part is not NULL. */
static void expect(const json_t *st, const char *type, const char *status, const char *reason,
                   const char *msg, const char *part) {
        json_t *c = cond(st, type);
        const char *s = json_string_value(json_object_get(c, "status"));
        const char *r = json_string_value(json_object_get(c, "reason"));
        const char *m = json_string_value(json_object_get(c, "message"));
        if (strcmp(s, status) != 0 || strcmp(r, reason) != 0)
                fail_msg("%s: %s/%s, want %s/%s", type, s, r, status, reason);
        if (msg && strcmp(m, msg) != 0)
                fail_msg("%s: message \"%s\", want \"%s\"", type, m, msg);
        if (part && !strstr(m, part))
                fail_msg("%s: message \"%s\" lacks \"%s\"", type, m, part);
}

static json_t *desired(int64_t gen, const json_t *verdict, sv_rollout ro) {
        sv_mesh_object o = policy(gen, "{}");
        json_t *st = sv_status_desired(&o, verdict, &ro);
        assert_non_null(st);
        check_shape(st, gen);
        return st;
}

static void accepted_and_programmed(void **state) {
        _cleanup_json_ json_t *v = J("{\"accepted\":true}");
        const json_t *verdicts[] = {NULL, v};
        for (size_t i = 0; i < ARRAY_SIZE(verdicts); i++) {
                _cleanup_json_ json_t *st =
                        desired(3, verdicts[i], (sv_rollout){.nodes = 2, .programmed = 2});
                expect(st, "Accepted", "True", "Accepted", NULL, NULL);
                expect(st, "Programmed", "True", "Programmed", NULL, "2 of 2");
                expect(st, "Ready", "True", "Ready", NULL, NULL);
                expect(st, "Reconciling", "False", "Programmed", NULL, NULL);
                expect(st, "Stalled", "False", "Accepted", NULL, NULL);
        }
        /* One node, first generation. */
        _cleanup_json_ json_t *st = desired(1, NULL, (sv_rollout){.nodes = 1, .programmed = 1});
        expect(st, "Ready", "True", "Ready", NULL, NULL);
}

/* A split backend with no ready endpoint: accepted, programmed (the others
 * take its weight), but not Ready, and why. */
static void degraded(void **state) {
        _cleanup_json_ json_t *v =
                J("{\"accepted\":true,\"degradedReason\":\"BackendUnavailable\","
                  "\"degradedMessage\":\"Service prod/reviews-v3 (a backend) has no ready "
                  "endpoint\"}");
        _cleanup_json_ json_t *st = desired(2, v, (sv_rollout){.nodes = 2, .programmed = 2});
        expect(st, "Accepted", "True", "Accepted", NULL, NULL);
        expect(st, "Programmed", "True", "Programmed", NULL, NULL);
        expect(st, "Ready", "False", "BackendUnavailable", NULL, "reviews-v3");
        expect(st, "Stalled", "False", "Accepted", NULL, NULL);
        /* Still rolling out: the rollout is what Ready reports first. */
        _cleanup_json_ json_t *rolling = desired(2, v, (sv_rollout){.nodes = 2, .programmed = 1});
        expect(rolling, "Ready", "False", "NotProgrammed", NULL, NULL);
}

static void not_accepted(void **state) {
        _cleanup_json_ json_t *v = J("{\"accepted\":false,\"reason\":\"BackendNotFound\","
                                     "\"message\":\"Service prod/api-v2 does not exist\"}");
        const char *msg = "Service prod/api-v2 does not exist";
        /* Programmed everywhere (the parts that resolve are enforced). */
        _cleanup_json_ json_t *st = desired(4, v, (sv_rollout){.nodes = 2, .programmed = 2});
        expect(st, "Accepted", "False", "BackendNotFound", msg, NULL);
        expect(st, "Programmed", "True", "Programmed", NULL, NULL);
        expect(st, "Ready", "False", "BackendNotFound", msg, NULL);
        expect(st, "Stalled", "True", "BackendNotFound", msg, NULL);
        expect(st, "Reconciling", "False", "Programmed", NULL, NULL);

        /* Ready takes the reason of the first of Accepted, Programmed not True. */
        _cleanup_json_ json_t *partial = desired(4, v, (sv_rollout){.nodes = 2, .programmed = 1});
        expect(partial, "Ready", "False", "BackendNotFound", msg, NULL);
        expect(partial, "Stalled", "True", "BackendNotFound", NULL, NULL);
        expect(partial, "Programmed", "False", "NotProgrammed", NULL, "1 of 2 nodes");

        /* Not accepted and a node failing: Stalled names the Accepted reason. */
        _cleanup_json_ json_t *both =
                desired(4, v, (sv_rollout){.nodes = 2, .programmed = 0, .failed = "map full"});
        expect(both, "Stalled", "True", "BackendNotFound", NULL, NULL);
        expect(both, "Ready", "False", "BackendNotFound", NULL, NULL);
        expect(both, "Programmed", "False", "ProgrammingFailed", "map full", NULL);

        /* The other reasons of the table pass through the same way. */
        static const char *const reasons[] = {"InvalidSelector", "Conflicted", "UnsupportedValue"};
        for (size_t i = 0; i < ARRAY_SIZE(reasons); i++) {
                _cleanup_json_ json_t *vv = json_pack("{s:b,s:s,s:s}", "accepted", 0, "reason",
                                                      reasons[i], "message", "see the spec");
                _cleanup_json_ json_t *s =
                        desired(9, vv, (sv_rollout){.nodes = 1, .programmed = 1});
                expect(s, "Accepted", "False", reasons[i], "see the spec", NULL);
                expect(s, "Ready", "False", reasons[i], NULL, NULL);
                expect(s, "Stalled", "True", reasons[i], NULL, NULL);
        }

        /* No message (or an empty one): still a message, never an empty one. */
        _cleanup_json_ json_t *nomsg = J("{\"accepted\":false,\"reason\":\"Conflicted\","
                                         "\"message\":\"\"}");
        _cleanup_json_ json_t *s2 = desired(2, nomsg, (sv_rollout){.nodes = 1, .programmed = 1});
        expect(s2, "Accepted", "False", "Conflicted", NULL, NULL);
        assert_true(strlen(json_string_value(json_object_get(cond(s2, "Accepted"), "message"))) >
                    0);
}

static void partial_rollout(void **state) {
        _cleanup_json_ json_t *st = desired(5, NULL, (sv_rollout){.nodes = 2, .programmed = 1});
        expect(st, "Accepted", "True", "Accepted", NULL, NULL);
        expect(st, "Programmed", "False", "NotProgrammed", "1 of 2 nodes", NULL);
        expect(st, "Ready", "False", "NotProgrammed", NULL, "1 of 2 nodes");
        expect(st, "Reconciling", "True", "NotProgrammed", NULL, "1 of 2 nodes");
        expect(st, "Stalled", "False", "Accepted", NULL, NULL);

        _cleanup_json_ json_t *none = desired(5, NULL, (sv_rollout){.nodes = 3, .programmed = 0});
        expect(none, "Programmed", "False", "NotProgrammed", "0 of 3 nodes", NULL);
        expect(none, "Reconciling", "True", "NotProgrammed", NULL, NULL);
}

static void programming_failed(void **state) {
        const char *f = "nft map svc_backends is full (65536 elements)";
        _cleanup_json_ json_t *st =
                desired(6, NULL, (sv_rollout){.nodes = 3, .programmed = 1, .failed = f});
        expect(st, "Accepted", "True", "Accepted", NULL, NULL);
        expect(st, "Programmed", "False", "ProgrammingFailed", f, NULL);
        expect(st, "Ready", "False", "ProgrammingFailed", NULL, NULL);
        expect(st, "Stalled", "True", "ProgrammingFailed", NULL, NULL);
        expect(st, "Reconciling", "False", "Programmed", NULL, NULL);

        /* A failure wins even when the count says every node is done. */
        _cleanup_json_ json_t *all =
                desired(6, NULL, (sv_rollout){.nodes = 2, .programmed = 2, .failed = f});
        expect(all, "Programmed", "False", "ProgrammingFailed", NULL, NULL);
        expect(all, "Stalled", "True", "ProgrammingFailed", NULL, NULL);

        /* A long failure message is shortened, keeping its start. */
        char longmsg[400];
        memset(longmsg, 'e', sizeof(longmsg) - 1);
        longmsg[sizeof(longmsg) - 1] = '\0';
        memcpy(longmsg, "map full: ", 10);
        _cleanup_json_ json_t *lst =
                desired(6, NULL, (sv_rollout){.nodes = 1, .programmed = 0, .failed = longmsg});
        const char *m = json_string_value(json_object_get(cond(lst, "Programmed"), "message"));
        assert_true(strlen(m) > 10 && strlen(m) < strlen(longmsg));
        assert_memory_equal(m, longmsg, strlen(m));
}

/* BUG (operator/status.c, sv_status_desired): the failure message is cut
 * with snprintf("%.120s"), which can split a multi-byte UTF-8 character; the
 * cut message is invalid UTF-8, json_pack refuses it, cond() returns NULL and
 * json_array_append_new drops it: the Programmed, Ready and Stalled
 * conditions silently vanish (2 conditions instead of 5). Expected: five
 * conditions, the message cut at a character boundary. */
static void long_utf8_failure_message(void **state) {
        char f[200];
        memset(f, 'x', 119);
        /* "é" (2 bytes) at bytes 119-120 straddles the cut at 120; then more. */
        memcpy(f + 119, "\xc3\xa9 de la table", 15);
        f[134] = '\0';
        sv_mesh_object o = policy(7, "{}");
        sv_rollout ro = {.nodes = 2, .programmed = 1, .failed = f};
        json_t *st = sv_status_desired(&o, NULL, &ro);
        assert_non_null(st);
        size_t n = json_array_size(json_object_get(st, "conditions"));
        if (n != ARRAY_SIZE(TYPES)) {
                /* Free before failing: a failed assertion skips cleanups. */
                json_decref(st);
                fail_msg("BUG: %zu conditions, want 5 (a cut UTF-8 character made json_pack "
                         "fail)",
                         n);
        }
        check_shape(st, 7);
        expect(st, "Programmed", "False", "ProgrammingFailed", NULL, NULL);
        expect(st, "Stalled", "True", "ProgrammingFailed", NULL, NULL);
        const char *m = json_string_value(json_object_get(cond(st, "Programmed"), "message"));
        assert_memory_equal(m, f, 119);
        json_decref(st);
}

static void no_nodes(void **state) {
        _cleanup_json_ json_t *st = desired(2, NULL, (sv_rollout){0});
        expect(st, "Accepted", "True", "Accepted", NULL, NULL);
        expect(st, "Programmed", "Unknown", "Pending", NULL, NULL);
        json_t *ready = cond(st, "Ready");
        assert_string_not_equal(json_string_value(json_object_get(ready, "status")), "True");
        assert_string_equal(json_string_value(json_object_get(ready, "reason")), "Pending");
        expect(st, "Reconciling", "True", "NotProgrammed", NULL, NULL);
        expect(st, "Stalled", "False", "Accepted", NULL, NULL);
}

static void observed_generation_everywhere(void **state) {
        static const int64_t gens[] = {1, 2, 17, 1LL << 40, INT64_MAX};
        _cleanup_json_ json_t *bad = J("{\"accepted\":false,\"reason\":\"BackendNotFound\"}");
        for (size_t i = 0; i < ARRAY_SIZE(gens); i++) {
                /* check_shape (in desired) asserts it on the status and on each
                 * condition, in every branch. */
                json_decref(desired(gens[i], NULL, (sv_rollout){.nodes = 2, .programmed = 2}));
                json_decref(desired(gens[i], NULL, (sv_rollout){.nodes = 2, .programmed = 1}));
                json_decref(desired(gens[i], NULL, (sv_rollout){0}));
                json_decref(desired(gens[i], bad, (sv_rollout){.nodes = 1, .failed = "x"}));
        }
}

/* Pure: same inputs, same output; the inputs are not touched. */
static void pure(void **state) {
        _cleanup_json_ json_t *v = J("{\"accepted\":false,\"reason\":\"Conflicted\","
                                     "\"message\":\"an older TrafficSplit owns prod/api\"}");
        _cleanup_json_ json_t *v_copy = json_deep_copy(v);
        char spec[] = "{\"action\":\"Deny\",\"podSelector\":{}}";
        char old[] = "{\"observedGeneration\":1,\"conditions\":[]}";
        sv_mesh_object o = policy(3, spec);
        o.kind = SV_KIND_TRAFFIC_SPLIT;
        assert_int_equal(sv_text_pack(old, strlen(old), &o.status), 0);
        sv_rollout ro = {.nodes = 4, .programmed = 3};
        _cleanup_json_ json_t *a = sv_status_desired(&o, v, &ro);
        _cleanup_json_ json_t *b = sv_status_desired(&o, v, &ro);
        assert_true(json_equal(a, b));
        assert_true(json_equal(v, v_copy));
        assert_string_equal(old, "{\"observedGeneration\":1,\"conditions\":[]}");
        assert_string_equal(spec, "{\"action\":\"Deny\",\"podSelector\":{}}");
        assert_int_equal(ro.nodes, 4);
        assert_int_equal(ro.programmed, 3);
        check_shape(a, 3);
        /* No lastTransitionTime: that is stamped at write time. */
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(a, "conditions"), i, c) {
                assert_null(json_object_get(c, "lastTransitionTime"));
        }
        sv_packed_text_done(&o.status);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(accepted_and_programmed),
                cmocka_unit_test(not_accepted),
                cmocka_unit_test(degraded),
                cmocka_unit_test(partial_rollout),
                cmocka_unit_test(programming_failed),
                cmocka_unit_test(long_utf8_failure_message),
                cmocka_unit_test(no_nodes),
                cmocka_unit_test(observed_generation_everywhere),
                cmocka_unit_test(pure),
        };
        return cmocka_run_group_tests_name("operator/status", tests, NULL, NULL);
}
