/* SPDX-License-Identifier: Apache-2.0 */
/* What several unit tests need: a temporary directory per test (cmocka
 * setup/teardown, *state is its path) and a JSON file read whole. Include
 * after cmocka-prelude.h. */
#pragma once

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "json/json.h"

static inline int sv_test_dir_make(void **state) {
        char *dir = strdup("/tmp/sv-test-XXXXXX");
        if (!dir || !mkdtemp(dir)) {
                free(dir);
                return -1;
        }
        *state = dir;
        return 0;
}

static inline int sv_test_dir_remove(void **state) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
        int r = system(cmd);
        free(*state);
        return r == 0 ? 0 : -1;
}

/* The JSON document in path (a failed test when it is not one). */
static inline json_t *sv_test_load_json(const char *path) {
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(sv_read_file_capped(path, 1 << 20, &text, &len), 0);
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_json_parse(text, len, 1 << 20, &j, &err) < 0)
                fail_msg("%s: %s", path, err.message);
        free(text);
        return j;
}
