/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "json/json.h"
#include "operator/compile.h"

#define STATE_FILE "state.json"
#define STATE_MAX (64u << 20)

struct sv_backend {
        char *name;
        char *record_path;
};

int sv_backend_new(const char *spec, sv_backend **out, sv_error *err) {
        _cleanup_free_ sv_backend *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        if (strcmp(spec, "none") == 0) {
                b->name = strdup("none");
        } else if (strncmp(spec, "record:", 7) == 0 && spec[7] == '/') {
                b->name = strdup("record");
                b->record_path = strdup(spec + 7);
                if (!b->record_path) {
                        free(b->name);
                        return -ENOMEM;
                }
        } else {
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "unknown backend \"%s\" (expected none or record:/abs/path)",
                                 spec);
        }
        if (!b->name) {
                free(b->record_path);
                return -ENOMEM;
        }
        *out = TAKE_PTR(b);
        return 0;
}

sv_backend *sv_backend_free(sv_backend *b) {
        if (!b)
                return NULL;
        free(b->name);
        free(b->record_path);
        free(b);
        return NULL;
}

const char *sv_backend_name(const sv_backend *b) {
        return b->name;
}

int sv_backend_apply(sv_backend *b, const json_t *state, const char *text, sv_error *err) {
        if (!b->record_path)
                return 0;
        int r = sv_write_file_atomic(b->record_path, text, strlen(text), 0644);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing %s: %s", b->record_path,
                                 strerror(-r));
        return 0;
}

static int state_path(const char *dir, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s", dir, STATE_FILE);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int sv_state_save(const char *dir, const char *text, size_t len, sv_error *err) {
        char path[4096];
        if (state_path(dir, path, sizeof(path)) < 0)
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG, "state dir too long");
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return sv_errorf(err, -errno, SV_CODE_IO, "creating %s: %m", dir);
        int r = sv_write_file_atomic(path, text, len, 0600);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing %s: %s", path, strerror(-r));
        return 0;
}

int sv_state_load(const char *dir, json_t **out, sv_error *err) {
        char path[4096];
        if (state_path(dir, path, sizeof(path)) < 0)
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG, "state dir too long");
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = sv_read_file_capped(path, STATE_MAX, &text, &len);
        if (r < 0)
                return r == -ENOENT ? r
                                    : sv_errorf(err, r, SV_CODE_IO, "reading %s: %s", path,
                                                strerror(-r));
        json_t *state = NULL;
        r = sv_json_parse(text, len, STATE_MAX, &state, err);
        if (r < 0) {
                sv_error_prefix(err, "%s: ", path);
                return r;
        }
        if (json_integer_value(json_object_get(state, "version")) != SV_STATE_VERSION) {
                json_decref(state);
                return sv_errorf(err, -EPROTO, SV_CODE_INCOMPATIBLE_VERSION,
                                 "%s: unknown state version", path);
        }
        *out = state;
        return 0;
}
