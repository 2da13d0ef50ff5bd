/* SPDX-License-Identifier: Apache-2.0 */
/* sv_genmap: a node report's {"uid": generation} as a sorted table. */
#include <string.h>

#include "../cmocka-prelude.h"
#include "json/json.h"
#include "operator/genmap.h"

static json_t *parse(const char *text) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_json_parse(text, strlen(text), 1 << 16, &j, &err), 0);
        return j;
}

static void lookups_and_equality(void **state) {
        _cleanup_json_ json_t *obj =
                parse("{\"6d5f0c1e-0000-4000-8000-000000000002\": 7,"
                      " \"6d5f0c1e-0000-4000-8000-000000000001\": 3,"
                      " \"not-a-number\": \"3\","
                      " \"a-key-much-longer-than-any-kubernetes-uid-can-be\": 1}");
        sv_genmap m = {0};
        assert_int_equal(sv_genmap_from_json(obj, &m), 0);
        assert_int_equal(m.n, 2); /* the string and the overlong key are no report */
        int64_t g = 0;
        assert_true(sv_genmap_get(&m, "6d5f0c1e-0000-4000-8000-000000000001", &g));
        assert_int_equal(g, 3);
        assert_true(sv_genmap_get(&m, "6d5f0c1e-0000-4000-8000-000000000002", &g));
        assert_int_equal(g, 7);
        assert_false(sv_genmap_get(&m, "6d5f0c1e-0000-4000-8000-000000000003", &g));
        assert_false(sv_genmap_get(&m, NULL, &g));
        assert_true(sv_genmap_equals_json(&m, obj));
        _cleanup_json_ json_t *other_gen = parse("{\"6d5f0c1e-0000-4000-8000-000000000002\": 8,"
                                                 " \"6d5f0c1e-0000-4000-8000-000000000001\": 3}");
        assert_false(sv_genmap_equals_json(&m, other_gen));
        _cleanup_json_ json_t *fewer = parse("{\"6d5f0c1e-0000-4000-8000-000000000001\": 3}");
        assert_false(sv_genmap_equals_json(&m, fewer));
        sv_genmap_done(&m);
        assert_int_equal(m.n, 0);
        _cleanup_json_ json_t *empty = parse("{}");
        assert_true(sv_genmap_equals_json(&m, empty));
        assert_int_equal(sv_genmap_from_json(empty, &m), 0);
        assert_false(sv_genmap_get(&m, "x", &g));
        sv_genmap_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(lookups_and_equality)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
