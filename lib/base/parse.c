/* SPDX-License-Identifier: Apache-2.0 */
#include "base/parse.h"

#include <errno.h>

int sv_parse_uint64(const char *s, uint64_t max, uint64_t *out) {
        if (!s || !*s)
                return -EINVAL;

        uint64_t v = 0;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned digit = (unsigned)(*p - '0');
                if (v > (UINT64_MAX - digit) / 10)
                        return -ERANGE;
                v = v * 10 + digit;
        }
        /* "007" is not how anyone writes a number they mean. */
        if (s[0] == '0' && s[1] != '\0')
                return -EINVAL;
        if (v > max)
                return -ERANGE;
        *out = v;
        return 0;
}

int sv_parse_port(const char *s, uint16_t *out) {
        uint64_t v;
        int r = sv_parse_uint64(s, UINT16_MAX, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -ERANGE;
        *out = (uint16_t)v;
        return 0;
}
