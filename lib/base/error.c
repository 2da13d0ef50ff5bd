/* SPDX-License-Identifier: Apache-2.0 */
#include "base/error.h"

#include <stdarg.h>
#include <string.h>

int sv_errorf(sv_error *err, int ret, enum sv_code code, const char *fmt, ...) {
        if (!err || err->code != SV_CODE_NONE)
                return ret;

        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        err->code = code == SV_CODE_NONE ? SV_CODE_INTERNAL : code;
        err->errnum = ret < 0 ? -ret : 0;
        return ret;
}

void sv_error_prefix(sv_error *err, const char *fmt, ...) {
        if (!sv_error_is_set(err))
                return;

        char prefix[SV_ERROR_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        if (n <= 0)
                return;

        /* Truncation is intended: the prefix matters most, the tail least. */
        size_t plen = (size_t)n < sizeof(err->message) - 1 ? (size_t)n : sizeof(err->message) - 1;
        size_t mlen = strnlen(err->message, sizeof(err->message) - 1);
        if (mlen > sizeof(err->message) - 1 - plen)
                mlen = sizeof(err->message) - 1 - plen;
        memmove(err->message + plen, err->message, mlen);
        memcpy(err->message, prefix, plen);
        err->message[plen + mlen] = '\0';
}

void sv_error_clear(sv_error *err) {
        if (!err)
                return;
        err->code = SV_CODE_NONE;
        err->errnum = 0;
        err->message[0] = '\0';
}
