/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the bounded JSON decoder and the typed getters on what it returns. */
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_json_ json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_json_parse((const char *)data, size, 64 * 1024, &j, &err) < 0)
                return 0;

        const char *s;
        bool b;
        uint64_t n;
        json_t *o;
        const char *key;
        json_t *value;
        json_object_foreach (j, key, value) {
                (void)value;
                (void)sv_json_get_string(j, key, false, 256, &s, &err);
                (void)sv_json_get_bool(j, key, false, &b, &err);
                (void)sv_json_get_uint(j, key, false, 65535, &n, &err);
                (void)sv_json_get_object(j, key, false, &o, &err);
                (void)sv_json_get_array(j, key, false, 8, &o, &err);
        }
        return 0;
}
