/* SPDX-License-Identifier: Apache-2.0 */
#include "json/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sv_json_parse(const char *buf, size_t len, size_t max, json_t **out, sv_error *err) {
        if (len > max)
                return sv_errorf(err, -EFBIG, SV_CODE_DECODE,
                                 "JSON input of %zu bytes exceeds the limit of %zu", len, max);

        json_error_t jerr;
        json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!j)
                return sv_errorf(err, -EINVAL, SV_CODE_DECODE,
                                 "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                                 jerr.text);
        *out = j;
        return 0;
}

/* Looks up key; returns 1 when present, 0 when absent-and-optional, or an error. */
static int member(json_t *obj, const char *key, bool required, json_t **out, sv_error *err) {
        json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
        if (!v || json_is_null(v)) {
                if (required)
                        return sv_errorf(err, -ENOENT, SV_CODE_INVALID_CONFIG,
                                         "required field \"%s\" is missing", key);
                return -ENOENT;
        }
        *out = v;
        return 0;
}

int sv_json_get_string(json_t *obj, const char *key, bool required, size_t max_len,
                       const char **out, sv_error *err) {
        json_t *v = NULL;
        int r = member(obj, key, required, &v, err);
        if (r < 0)
                return r;
        if (!json_is_string(v))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" must be a string", key);
        size_t n = json_string_length(v);
        if (n > max_len)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" is longer than %zu bytes", key, max_len);
        const char *s = json_string_value(v);
        if (strlen(s) != n)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" contains a NUL character", key);
        *out = s;
        return 0;
}

int sv_json_get_bool(json_t *obj, const char *key, bool required, bool *out, sv_error *err) {
        json_t *v = NULL;
        int r = member(obj, key, required, &v, err);
        if (r < 0)
                return r;
        if (!json_is_boolean(v))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" must be true or false", key);
        *out = json_is_true(v);
        return 0;
}

int sv_json_get_uint(json_t *obj, const char *key, bool required, uint64_t max, uint64_t *out,
                     sv_error *err) {
        json_t *v = NULL;
        int r = member(obj, key, required, &v, err);
        if (r < 0)
                return r;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > max)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" must be an integer from 0 to %llu", key,
                                 (unsigned long long)max);
        *out = (uint64_t)json_integer_value(v);
        return 0;
}

int sv_json_get_object(json_t *obj, const char *key, bool required, json_t **out, sv_error *err) {
        json_t *v = NULL;
        int r = member(obj, key, required, &v, err);
        if (r < 0)
                return r;
        if (!json_is_object(v))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" must be an object", key);
        *out = v;
        return 0;
}

int sv_json_get_array(json_t *obj, const char *key, bool required, size_t max_items, json_t **out,
                      sv_error *err) {
        json_t *v = NULL;
        int r = member(obj, key, required, &v, err);
        if (r < 0)
                return r;
        if (!json_is_array(v))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" must be a list", key);
        if (json_array_size(v) > max_items)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"%s\" has more than %zu items", key, max_items);
        *out = v;
        return 0;
}

static int cmp_string_items(const void *a, const void *b) {
        const char *x = json_string_value(*(json_t *const *)a),
                   *y = json_string_value(*(json_t *const *)b);
        return strcmp(x ? x : "", y ? y : "");
}

int sv_json_array_sort_strings(json_t *arr) {
        size_t n = json_array_size(arr);
        if (n < 2)
                return 0;
        json_t **items = calloc(n, sizeof(*items));
        if (!items)
                return -ENOMEM;
        /* References of their own: setting an item drops the array's. */
        for (size_t i = 0; i < n; i++)
                items[i] = json_incref(json_array_get(arr, i));
        qsort(items, n, sizeof(*items), cmp_string_items);
        for (size_t i = 0; i < n; i++)
                json_array_set_new(arr, i, items[i]);
        free(items);
        return 0;
}

json_t *sv_json_array_compact(json_t *arr) {
        json_t *out = json_array();
        /* Extending an empty array grows its table once, by the items added. */
        if (!out || json_array_extend(out, arr) < 0) {
                json_decref(out);
                return NULL;
        }
        return out;
}
