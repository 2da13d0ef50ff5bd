/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "json/json.h"

static json_t *parse_ok(const char *s) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_json_parse(s, strlen(s), 4096, &j, &err), 0);
        return j;
}

static void parse_errors_are_decode_errors(void **state) {
        /* Includes an embedded NUL, which jansson refuses unless asked. */
        const char *bad[] = {"{", "{\"a\":1,\"a\":2}", "[1,]", "", "nul", "\"a\\u0000b\""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *j = (json_t *)0x1;
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(sv_json_parse(bad[i], strlen(bad[i]), 4096, &j, &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_DECODE);
                assert_ptr_equal(j, (json_t *)0x1);
                assert_non_null(strstr(err.message, "invalid JSON"));
        }
}

static void parse_is_capped(void **state) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_json_parse("[1,2,3]", 7, 6, &j, &err), -EFBIG);
        assert_null(j);
        assert_non_null(strstr(err.message, "exceeds the limit"));
}

static void typed_getters(void **state) {
        _cleanup_json_ json_t *j =
                parse_ok("{\"name\":\"mesh\",\"on\":true,\"n\":5,\"o\":{},\"l\":[1,2],\"z\":null}");
        sv_error err = SV_ERROR_INIT;
        const char *s = NULL;
        bool b = false;
        uint64_t n = 0;
        json_t *o = NULL, *l = NULL;
        assert_int_equal(sv_json_get_string(j, "name", true, 16, &s, &err), 0);
        assert_string_equal(s, "mesh");
        assert_int_equal(sv_json_get_bool(j, "on", true, &b, &err), 0);
        assert_true(b);
        assert_int_equal(sv_json_get_uint(j, "n", true, 5, &n, &err), 0);
        assert_int_equal(n, 5);
        assert_int_equal(sv_json_get_object(j, "o", true, &o, &err), 0);
        assert_int_equal(sv_json_get_array(j, "l", true, 2, &l, &err), 0);
        assert_false(sv_error_is_set(&err));

        /* null and absent read as absent; optional absent records nothing. */
        assert_int_equal(sv_json_get_string(j, "z", false, 16, &s, &err), -ENOENT);
        assert_int_equal(sv_json_get_string(j, "missing", false, 16, &s, &err), -ENOENT);
        assert_false(sv_error_is_set(&err));
        assert_string_equal(s, "mesh");
}

static void getter_errors_name_the_field(void **state) {
        _cleanup_json_ json_t *j =
                parse_ok("{\"name\":\"toolong\",\"n\":-1,\"l\":[1,2,3],\"s\":\"ab\"}");
        struct {
                int r;
                const char *needle;
        } cases[3];
        const char *s;
        uint64_t n;
        json_t *l;
        sv_error errs[3] = {SV_ERROR_INIT, SV_ERROR_INIT, SV_ERROR_INIT};
        cases[0].r = sv_json_get_string(j, "name", true, 3, &s, &errs[0]);
        cases[0].needle = "\"name\" is longer than 3";
        cases[1].r = sv_json_get_uint(j, "n", true, 10, &n, &errs[1]);
        cases[1].needle = "\"n\" must be an integer from 0 to 10";
        cases[2].r = sv_json_get_array(j, "l", true, 2, &l, &errs[2]);
        cases[2].needle = "\"l\" has more than 2 items";
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(cases[i].r, -EINVAL);
                assert_int_equal(errs[i].code, SV_CODE_INVALID_CONFIG);
                assert_non_null(strstr(errs[i].message, cases[i].needle));
        }

        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_json_get_object(j, "absent", true, &l, &err), -ENOENT);
        assert_non_null(strstr(err.message, "required field \"absent\""));
}

/* Sorted by string value in place, a non-string as ""; short arrays as they are. */
static void array_sort_strings(void **state) {
        json_t *arr = json_pack("[s,s,i,s,s]", "10.0.0.9", "10.0.0.10", 7, "a", "10.0.0.9");
        assert_int_equal(sv_json_array_sort_strings(arr), 0);
        json_t *want = json_pack("[i,s,s,s,s]", 7, "10.0.0.10", "10.0.0.9", "10.0.0.9", "a");
        assert_true(json_equal(arr, want));
        json_t *one = json_pack("[s]", "x"), *none = json_array();
        assert_int_equal(sv_json_array_sort_strings(one), 0);
        assert_int_equal(sv_json_array_sort_strings(none), 0);
        assert_int_equal(sv_json_array_sort_strings(NULL), 0);
        assert_string_equal(json_string_value(json_array_get(one, 0)), "x");
        json_decref(arr);
        json_decref(want);
        json_decref(one);
        json_decref(none);
}

/* The largest block jansson asks for, to see an array's table. */
static size_t largest_alloc;
static void *counting_malloc(size_t n) {
        if (n > largest_alloc)
                largest_alloc = n;
        return malloc(n);
}

static void array_compact(void **state) {
        json_t *arr = json_array();
        for (int i = 0; i < 100; i++)
                assert_int_equal(json_array_append_new(arr, json_integer(i)), 0);
        json_t *first = json_array_get(arr, 0);
        json_set_alloc_funcs(counting_malloc, free);
        largest_alloc = 0;
        json_t *compact = sv_json_array_compact(arr);
        json_set_alloc_funcs(malloc, free);
        assert_non_null(compact);
        assert_true(json_equal(arr, compact));
        assert_ptr_equal(json_array_get(compact, 0), first); /* shared, not copied */
        /* Appends grew the table to 128 slots; the copy's holds 100 and
         * jansson's 8 of an empty array. */
        assert_true(largest_alloc <= 108 * sizeof(json_t *));
        assert_true(largest_alloc >= 100 * sizeof(json_t *));
        json_t *empty = json_array(), *empty_copy = sv_json_array_compact(empty);
        assert_int_equal(json_array_size(empty_copy), 0);
        json_decref(arr);
        json_decref(compact);
        json_decref(empty);
        json_decref(empty_copy);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parse_errors_are_decode_errors),
                cmocka_unit_test(parse_is_capped),
                cmocka_unit_test(typed_getters),
                cmocka_unit_test(getter_errors_name_the_field),
                cmocka_unit_test(array_sort_strings),
                cmocka_unit_test(array_compact),
        };
        return cmocka_run_group_tests_name("json/json", tests, NULL, NULL);
}
