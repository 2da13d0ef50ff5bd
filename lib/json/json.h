/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded JSON decoding on top of jansson, with typed field getters that fill
 * an sv_error naming the offending field. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* jansson (>= 2.9) provides json_decrefp, which accepts NULL. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Parses exactly one JSON value of at most max bytes. Duplicate object keys
 * are rejected (they are ambiguous and a classic smuggling vector). Errors are
 * SV_CODE_DECODE with jansson's line/column. */
int sv_json_parse(const char *buf, size_t len, size_t max, json_t **out, sv_error *err);

/* Getters: the member `key` of object `obj`. A missing member is -ENOENT
 * without an error recorded when !required, so optional fields read simply.
 * A present member of the wrong type or out of bounds is -EINVAL with
 * SV_CODE_INVALID_CONFIG naming `key`. Outputs are written only on success;
 * strings are borrowed from obj. */
int sv_json_get_string(json_t *obj, const char *key, bool required, size_t max_len,
                       const char **out, sv_error *err);
int sv_json_get_bool(json_t *obj, const char *key, bool required, bool *out, sv_error *err);
int sv_json_get_uint(json_t *obj, const char *key, bool required, uint64_t max, uint64_t *out,
                     sv_error *err);
int sv_json_get_object(json_t *obj, const char *key, bool required, json_t **out, sv_error *err);
int sv_json_get_array(json_t *obj, const char *key, bool required, size_t max_items, json_t **out,
                      sv_error *err);

/* Sorts the items of arr in place by their string value (an item that is not
 * a string sorts as ""): 0 or -ENOMEM (arr unchanged). */
int sv_json_array_sort_strings(json_t *arr);

/* A new array holding arr's items (shared, not copied) in a table sized to
 * them: jansson doubles an array's table as it grows and never shrinks it,
 * so an array built by appends and then kept wastes up to half its table.
 * NULL when out of memory. */
json_t *sv_json_array_compact(json_t *arr);
