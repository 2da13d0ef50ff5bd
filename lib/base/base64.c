/* SPDX-License-Identifier: Apache-2.0 */
#include "base/base64.h"

#include <stdbool.h>
#include <stdint.h>

#include "base/macro.h"

/* The 6-bit value of c, or -1 for anything outside the standard alphabet. */
static int sextet(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int sv_base64_decode(const char *in, size_t len, size_t max_out, char **out, size_t *out_len) {
        if (!in && len > 0)
                return -EINVAL;
        if (len > 0 && in[len - 1] == '\n')
                len--;
        if (len % 4 != 0)
                return -EINVAL;

        size_t pad = 0;
        if (len > 0 && in[len - 1] == '=')
                pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
        size_t n = len / 4 * 3 - pad;
        if (n > max_out)
                return -E2BIG;

        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf)
                return -ENOMEM;

        size_t o = 0;
        for (size_t i = 0; i < len; i += 4) {
                bool last = i + 4 == len;
                uint32_t v = 0;
                for (size_t j = 0; j < 4; j++) {
                        int s;
                        /* '=' only as the padding of the last quantum. */
                        if (last && j >= 4 - pad)
                                s = 0;
                        else if ((s = sextet((unsigned char)in[i + j])) < 0)
                                return -EINVAL;
                        v = v << 6 | (uint32_t)s;
                }
                size_t take = last ? 3 - pad : 3;
                for (size_t j = 0; j < take; j++)
                        buf[o++] = (char)(v >> (16 - 8 * j));
        }
        buf[o] = '\0';
        *out = TAKE_PTR(buf);
        *out_len = o;
        return 0;
}
