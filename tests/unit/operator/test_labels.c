/* SPDX-License-Identifier: Apache-2.0 */
/* Labels and label selectors with Kubernetes' semantics (metav1.LabelSelector). */
#include <string.h>

#include "../cmocka-prelude.h"
#include "json/json.h"
#include "operator/labels.h"

static json_t *J(const char *s) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_json_parse(s, strlen(s), 1 << 16, &j, &err) < 0)
                fail_msg("test JSON %s: %s", s, err.message);
        return j;
}

static sv_labels labels_of(const char *s) {
        _cleanup_json_ json_t *j = J(s);
        sv_labels l = {.data = (char *)0x1};
        assert_int_equal(sv_labels_from_json(j, &l), 0);
        return l;
}

static sv_selector *compile_ok(const char *s) {
        _cleanup_json_ json_t *j = J(s);
        sv_selector *sel = NULL;
        sv_error err = SV_ERROR_INIT;
        int r = sv_selector_compile(j, &sel, &err);
        if (r != 0)
                fail_msg("compile %s: %d %s", s, r, err.message);
        assert_non_null(sel);
        assert_false(sv_error_is_set(&err));
        return sel;
}

/* Does selector `sel` (JSON) select labels `lab` (JSON)? */
static bool sel_matches(const char *sel, const char *lab) {
        sv_selector *s = compile_ok(sel);
        sv_labels l = labels_of(lab);
        bool m = sv_selector_matches(s, &l);
        sv_labels_done(&l);
        sv_selector_free(s);
        return m;
}

static void labels_from_json(void **state) {
        sv_labels l = labels_of("{\"app\":\"web\",\"app.kubernetes.io/name\":\"shop\","
                                "\"tier\":\"\",\"env\":\"prod\"}");
        assert_int_equal(l.count, 4);
        assert_string_equal(sv_labels_get(&l, "app"), "web");
        assert_string_equal(sv_labels_get(&l, "app.kubernetes.io/name"), "shop");
        assert_string_equal(sv_labels_get(&l, "env"), "prod");
        /* An empty value is a present label. */
        assert_non_null(sv_labels_get(&l, "tier"));
        assert_string_equal(sv_labels_get(&l, "tier"), "");
        /* No prefix or partial matches, keys are case sensitive. */
        assert_null(sv_labels_get(&l, "ap"));
        assert_null(sv_labels_get(&l, "App"));
        assert_null(sv_labels_get(&l, "name"));
        assert_null(sv_labels_get(&l, "web")); /* a value is not a key */
        assert_null(sv_labels_get(&l, ""));
        sv_labels_done(&l);
        assert_null(l.data);
        assert_int_equal(l.count, 0);
        assert_null(sv_labels_get(&l, "app"));
        sv_labels_done(&l);
}

static void labels_empty_and_odd(void **state) {
        sv_labels l = {.data = (char *)0x1};
        /* NULL (absent metadata.labels) and {} are empty. */
        assert_int_equal(sv_labels_from_json(NULL, &l), 0);
        assert_null(l.data);
        assert_int_equal(l.count, 0);
        assert_null(sv_labels_get(&l, "app"));
        l = labels_of("{}");
        assert_null(l.data);
        assert_int_equal(l.count, 0);
        sv_labels_done(&l);
        /* Not an object: empty. */
        l = labels_of("[\"app\",\"web\"]");
        assert_int_equal(l.count, 0);
        assert_null(sv_labels_get(&l, "app"));
        sv_labels_done(&l);
        /* Values that are not strings are not labels. */
        l = labels_of("{\"a\":1,\"b\":null,\"c\":\"x\",\"d\":{}}");
        assert_int_equal(l.count, 1);
        assert_null(sv_labels_get(&l, "a"));
        assert_null(sv_labels_get(&l, "b"));
        assert_string_equal(sv_labels_get(&l, "c"), "x");
        sv_labels_done(&l);
        l = labels_of("{\"a\":1}");
        assert_int_equal(l.count, 0);
        assert_null(sv_labels_get(&l, "a"));
        sv_labels_done(&l);
}

static void labels_many(void **state) {
        json_t *o = json_object();
        char k[32], v[32];
        for (int i = 0; i < 300; i++) {
                snprintf(k, sizeof(k), "example.com/key-%d", i);
                snprintf(v, sizeof(v), "value-%d", i * 7);
                json_object_set_new(o, k, json_string(v));
        }
        sv_labels l = {0};
        assert_int_equal(sv_labels_from_json(o, &l), 0);
        assert_int_equal(l.count, 300);
        for (int i = 0; i < 300; i++) {
                snprintf(k, sizeof(k), "example.com/key-%d", i);
                snprintf(v, sizeof(v), "value-%d", i * 7);
                assert_string_equal(sv_labels_get(&l, k), v);
        }
        sv_labels_done(&l);
        json_decref(o);
}

/* compile must fail with -EINVAL, SV_CODE_INVALID_CONFIG, a message containing
 * `needle`, and leave *out alone. */
static void compile_fails(const char *sel, const char *needle) {
        _cleanup_json_ json_t *j = J(sel);
        sv_selector *s = (sv_selector *)0x1;
        sv_error err = SV_ERROR_INIT;
        int r = sv_selector_compile(j, &s, &err);
        if (r != -EINVAL)
                fail_msg("compile %s: %d, want -EINVAL", sel, r);
        assert_ptr_equal(s, (sv_selector *)0x1);
        assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
        if (!strstr(err.message, needle))
                fail_msg("compile %s: message \"%s\" lacks \"%s\"", sel, err.message, needle);
}

static void selector_errors(void **state) {
        /* In and NotIn need values. */
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\"}]}",
                      "In and NotIn need values");
        compile_fails(
                "{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\",\"values\":[]}]}",
                "In and NotIn need values");
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"NotIn\"}]}",
                      "In and NotIn need values");
        /* Exists and DoesNotExist take none. */
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\","
                      "\"values\":[\"web\"]}]}",
                      "take no values");
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"DoesNotExist\","
                      "\"values\":[\"web\"]}]}",
                      "take no values");
        /* Operators are exactly the four, case sensitive; key and operator required. */
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Equals\","
                      "\"values\":[\"web\"]}]}",
                      "matchExpressions[0]");
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"in\","
                      "\"values\":[\"web\"]}]}",
                      "In, NotIn, Exists, DoesNotExist");
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\"},"
                      "{\"key\":\"app\",\"values\":[\"web\"]}]}",
                      "matchExpressions[1]");
        compile_fails("{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", "needs a key");
        compile_fails("{\"matchExpressions\":[{\"key\":7,\"operator\":\"Exists\"}]}",
                      "needs a key");
        compile_fails("{\"matchExpressions\":[\"app in (web)\"]}", "needs a key");
        /* Shapes. */
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\","
                      "\"values\":\"web\"}]}",
                      "values must be a list");
        compile_fails("{\"matchExpressions\":{\"key\":\"app\",\"operator\":\"Exists\"}}",
                      "matchExpressions must be a list");
        compile_fails("{\"matchLabels\":[\"app\",\"web\"]}", "matchLabels must be an object");
        compile_fails("[]", "must be an object");
        compile_fails("\"app=web\"", "must be an object");
        /* matchLabels values are strings. */
        compile_fails("{\"matchLabels\":{\"app\":1}}", "must be a string");
        compile_fails("{\"matchLabels\":{\"app\":true}}", "must be a string");
        compile_fails("{\"matchLabels\":{\"app\":null}}", "must be a string");
        compile_fails("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\","
                      "\"values\":[\"web\",3]}]}",
                      "a value is not a string");
        /* Empty keys. */
        compile_fails("{\"matchLabels\":{\"\":\"web\"}}", "empty or too long");
        compile_fails("{\"matchExpressions\":[{\"key\":\"\",\"operator\":\"Exists\"}]}",
                      "empty or too long");
}

static void selector_limits(void **state) {
        /* Keys: prefix (253) + '/' + name (63) = 317 at most. Values: 63. */
        char key[400], val[100], sel[1024];
        memset(key, 'k', sizeof(key));
        memset(val, 'v', sizeof(val));

        snprintf(sel, sizeof(sel), "{\"matchLabels\":{\"%.317s\":\"%.63s\"}}", key, val);
        sv_selector_free(compile_ok(sel));
        snprintf(sel, sizeof(sel), "{\"matchLabels\":{\"%.318s\":\"web\"}}", key);
        compile_fails(sel, "empty or too long");
        snprintf(sel, sizeof(sel), "{\"matchLabels\":{\"app\":\"%.64s\"}}", val);
        compile_fails(sel, "at most 63 characters");

        snprintf(sel, sizeof(sel),
                 "{\"matchExpressions\":[{\"key\":\"%.317s\",\"operator\":\"In\","
                 "\"values\":[\"a\",\"%.63s\"]}]}",
                 key, val);
        sv_selector_free(compile_ok(sel));
        snprintf(sel, sizeof(sel),
                 "{\"matchExpressions\":[{\"key\":\"%.318s\",\"operator\":\"Exists\"}]}", key);
        compile_fails(sel, "empty or too long");
        snprintf(sel, sizeof(sel),
                 "{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"NotIn\","
                 "\"values\":[\"a\",\"%.64s\"]}]}",
                 val);
        compile_fails(sel, "at most 63 characters");
        /* The first error wins and nothing leaks when a later requirement fails. */
        snprintf(sel, sizeof(sel),
                 "{\"matchLabels\":{\"a\":\"1\",\"b\":\"2\"},\"matchExpressions\":["
                 "{\"key\":\"c\",\"operator\":\"Exists\"},{\"key\":\"d\",\"operator\":\"In\","
                 "\"values\":[\"x\",\"%.64s\"]}]}",
                 val);
        compile_fails(sel, "label selector on \"d\"");
}

static void compiled_shape(void **state) {
        sv_selector *s = compile_ok("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                                    "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"dev\","
                                    "\"test\"]},{\"key\":\"canary\",\"operator\":"
                                    "\"DoesNotExist\",\"values\":[]}]}");
        assert_int_equal(s->n_reqs, 3);
        assert_string_equal(s->reqs[0].key, "app");
        assert_int_equal(s->reqs[0].op, SV_SEL_IN);
        assert_int_equal(s->reqs[0].n_values, 1);
        assert_string_equal(s->reqs[0].values[0], "web");
        assert_string_equal(s->reqs[1].key, "env");
        assert_int_equal(s->reqs[1].op, SV_SEL_NOT_IN);
        assert_int_equal(s->reqs[1].n_values, 2);
        assert_string_equal(s->reqs[1].values[1], "test");
        assert_int_equal(s->reqs[2].op, SV_SEL_DOES_NOT_EXIST);
        assert_int_equal(s->reqs[2].n_values, 0);
        assert_null(sv_selector_free(s));
        assert_null(sv_selector_free(NULL));
}

static void match_labels(void **state) {
        const char *sel = "{\"matchLabels\":{\"app\":\"web\",\"tier\":\"frontend\"}}";
        assert_true(sel_matches(sel, "{\"app\":\"web\",\"tier\":\"frontend\"}"));
        assert_true(sel_matches(sel, "{\"app\":\"web\",\"tier\":\"frontend\",\"x\":\"y\"}"));
        assert_false(sel_matches(sel, "{\"app\":\"web\"}"));
        assert_false(sel_matches(sel, "{\"app\":\"web\",\"tier\":\"backend\"}"));
        assert_false(sel_matches(sel, "{\"app\":\"Web\",\"tier\":\"frontend\"}"));
        assert_false(sel_matches(sel, "{}"));
        assert_false(sel_matches(sel, "null"));
        /* An empty value is matched exactly, not as "absent". */
        assert_true(sel_matches("{\"matchLabels\":{\"canary\":\"\"}}", "{\"canary\":\"\"}"));
        assert_false(sel_matches("{\"matchLabels\":{\"canary\":\"\"}}", "{}"));
        assert_false(sel_matches("{\"matchLabels\":{\"canary\":\"\"}}", "{\"canary\":\"x\"}"));
}

static void match_expressions(void **state) {
        const char *in = "{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\","
                         "\"values\":[\"prod\",\"staging\"]}]}";
        assert_true(sel_matches(in, "{\"env\":\"prod\"}"));
        assert_true(sel_matches(in, "{\"env\":\"staging\"}"));
        assert_false(sel_matches(in, "{\"env\":\"dev\"}"));
        assert_false(sel_matches(in, "{\"env\":\"prod2\"}"));
        assert_false(sel_matches(in, "{\"env\":\"\"}"));
        assert_false(sel_matches(in, "{}")); /* In fails for a missing key */

        const char *notin = "{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\","
                            "\"values\":[\"dev\",\"test\"]}]}";
        assert_true(sel_matches(notin, "{\"env\":\"prod\"}"));
        assert_false(sel_matches(notin, "{\"env\":\"dev\"}"));
        assert_false(sel_matches(notin, "{\"env\":\"test\"}"));
        assert_true(sel_matches(notin, "{}")); /* NotIn holds for a missing key */
        assert_true(sel_matches(notin, "{\"app\":\"dev\"}"));

        const char *exists =
                "{\"matchExpressions\":[{\"key\":\"canary\",\"operator\":\"Exists\"}]}";
        assert_true(sel_matches(exists, "{\"canary\":\"true\"}"));
        assert_true(sel_matches(exists, "{\"canary\":\"\"}"));
        assert_false(sel_matches(exists, "{}"));
        assert_false(sel_matches(exists, "{\"canary2\":\"x\"}"));
        /* "values": [] is the same as no values. */
        assert_true(sel_matches("{\"matchExpressions\":[{\"key\":\"canary\",\"operator\":"
                                "\"Exists\",\"values\":[]}]}",
                                "{\"canary\":\"1\"}"));

        const char *dne = "{\"matchExpressions\":[{\"key\":\"canary\",\"operator\":"
                          "\"DoesNotExist\"}]}";
        assert_true(sel_matches(dne, "{}")); /* DoesNotExist holds for a missing key */
        assert_true(sel_matches(dne, "{\"app\":\"canary\"}"));
        assert_false(sel_matches(dne, "{\"canary\":\"\"}"));
        assert_false(sel_matches(dne, "{\"canary\":\"true\"}"));
}

static void everything_and_and(void **state) {
        /* {} and NULL (no selector) select everything, labelled or not. */
        assert_true(sel_matches("{}", "{}"));
        assert_true(sel_matches("{}", "{\"app\":\"web\"}"));
        assert_true(sel_matches("{\"matchLabels\":{},\"matchExpressions\":[]}", "{\"a\":\"b\"}"));
        sv_selector *s = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_selector_compile(NULL, &s, &err), 0);
        assert_non_null(s);
        assert_int_equal(s->n_reqs, 0);
        sv_labels none = {0}, some = labels_of("{\"app\":\"web\"}");
        assert_true(sv_selector_matches(s, &none));
        assert_true(sv_selector_matches(s, &some));
        sv_selector_free(s);
        sv_labels_done(&some);

        /* Every requirement must hold. */
        const char *all = "{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                          "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\"]},"
                          "{\"key\":\"track\",\"operator\":\"NotIn\",\"values\":[\"canary\"]},"
                          "{\"key\":\"team\",\"operator\":\"Exists\"},"
                          "{\"key\":\"legacy\",\"operator\":\"DoesNotExist\"}]}";
        assert_true(sel_matches(all, "{\"app\":\"web\",\"env\":\"prod\",\"team\":\"a\"}"));
        assert_true(sel_matches(all, "{\"app\":\"web\",\"env\":\"prod\",\"team\":\"a\","
                                     "\"track\":\"stable\"}"));
        assert_false(sel_matches(all, "{\"app\":\"api\",\"env\":\"prod\",\"team\":\"a\"}"));
        assert_false(sel_matches(all, "{\"app\":\"web\",\"env\":\"dev\",\"team\":\"a\"}"));
        assert_false(sel_matches(all, "{\"app\":\"web\",\"env\":\"prod\",\"team\":\"a\","
                                      "\"track\":\"canary\"}"));
        assert_false(sel_matches(all, "{\"app\":\"web\",\"env\":\"prod\"}"));
        assert_false(sel_matches(all, "{\"app\":\"web\",\"env\":\"prod\",\"team\":\"a\","
                                      "\"legacy\":\"\"}"));
        /* Two requirements on one key: both hold (an intersection). */
        const char *both = "{\"matchLabels\":{\"env\":\"prod\"},\"matchExpressions\":["
                           "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\",\"dev\"]},"
                           "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"dev\"]}]}";
        assert_true(sel_matches(both, "{\"env\":\"prod\"}"));
        assert_false(sel_matches(both, "{\"env\":\"dev\"}"));
        const char *never = "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"},"
                            "{\"key\":\"a\",\"operator\":\"DoesNotExist\"}]}";
        assert_false(sel_matches(never, "{}"));
        assert_false(sel_matches(never, "{\"a\":\"1\"}"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(labels_from_json),   cmocka_unit_test(labels_empty_and_odd),
                cmocka_unit_test(labels_many),        cmocka_unit_test(selector_errors),
                cmocka_unit_test(selector_limits),    cmocka_unit_test(compiled_shape),
                cmocka_unit_test(match_labels),       cmocka_unit_test(match_expressions),
                cmocka_unit_test(everything_and_and),
        };
        return cmocka_run_group_tests_name("operator/labels", tests, NULL, NULL);
}
