/* SPDX-License-Identifier: Apache-2.0 */
/* The persisted state (sv_state_save / sv_state_load): a round trip, a
 * version-1 file read back in today's shape, an unknown version refused. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "../testutil.h"
#include "base/fileio.h"
#include "base/macro.h"
#include "json/json.h"
#include "operator/backend.h"
#include "operator/compile.h"

#define DATA "tests/unit/operator/testdata/"

static void save_text(const char *dir, const char *text) {
        sv_error err = SV_ERROR_INIT;
        if (sv_state_save(dir, text, strlen(text), &err) < 0)
                fail_msg("save: %s", err.message);
}

static void save(const char *dir, const json_t *state) {
        _cleanup_free_ char *text = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(text);
        save_text(dir, text);
}

static void round_trip(void **s) {
        json_t *doc = sv_test_load_json(DATA "render/basic.json");
        json_t *want = json_object_get(doc, "state");
        assert_int_equal(json_integer_value(json_object_get(want, "version")), SV_STATE_VERSION);
        save(*s, want);
        json_t *got = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_state_load(*s, &got, &err), 0);
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(doc);
}

/* A node upgraded while the API server is away comes back to the rules of
 * the state its previous version wrote: the same state as today's. */
static void version_1_is_upgraded(void **s) {
        json_t *v1 = sv_test_load_json(DATA "state/v1.json");
        assert_int_equal(json_integer_value(json_object_get(v1, "version")), 1);
        save(*s, v1);
        json_t *doc = sv_test_load_json(DATA "render/basic.json");
        json_t *got = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_state_load(*s, &got, &err), 0);
        if (!json_equal(got, json_object_get(doc, "state"))) {
                _cleanup_free_ char *text = json_dumps(got, JSON_SORT_KEYS);
                fail_msg("upgraded state differs: %s", text);
        }
        json_decref(got);
        json_decref(doc);
        json_decref(v1);
}

/* What is not an identity or an address in a version-1 file is left out. */
static void version_1_odd_entries(void **s) {
        save_text(*s, "{\"version\":1,\"identities\":{\"10.0.0.1\":\"a/b\",\"10.0.0.2\":7},"
                      "\"services\":[{\"endpoints\":[{\"ip\":\"10.0.0.1\",\"local\":true},"
                      "{\"local\":true},5]}]}");
        json_t *got = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_state_load(*s, &got, &err), 0);
        json_t *want = NULL;
        const char *text = "{\"version\":2,\"identities\":{\"a/b\":[\"10.0.0.1\"]},"
                           "\"services\":[{\"endpoints\":[\"10.0.0.1\"],"
                           "\"localEndpoints\":[\"10.0.0.1\"]}]}";
        assert_int_equal(sv_json_parse(text, strlen(text), 1024, &want, &err), 0);
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(want);
}

static void unknown_version_refused(void **s) {
        save_text(*s, "{\"version\":99}");
        json_t *got = (json_t *)s; /* untouched on failure */
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_state_load(*s, &got, &err), -EPROTO);
        assert_ptr_equal(got, (json_t *)s);
        assert_non_null(strstr(err.message, "unknown state version"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(round_trip, sv_test_dir_make, sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(version_1_is_upgraded, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(version_1_odd_entries, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(unknown_version_refused, sv_test_dir_make,
                                                sv_test_dir_remove),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
