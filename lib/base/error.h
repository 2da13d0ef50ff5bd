/* SPDX-License-Identifier: Apache-2.0 */
/* A context-carrying error for user-facing paths (CNI results, CR status,
 * logs): a code from a small shared vocabulary plus a human message. Functions
 * still return 0 or -errno; the object says what the user should read. */
#pragma once

#include "base/macro.h"

/* The numeric values match the CNI specification's well-known error codes, so
 * the CNI plugin can report them as they are. */
enum sv_code {
        SV_CODE_NONE = 0,
        SV_CODE_INCOMPATIBLE_VERSION = 1,
        SV_CODE_UNSUPPORTED_FIELD = 2,
        SV_CODE_UNKNOWN_CONTAINER = 3,
        SV_CODE_INVALID_ENV = 4,
        SV_CODE_IO = 5,
        SV_CODE_DECODE = 6,
        SV_CODE_INVALID_CONFIG = 7,
        SV_CODE_TRY_AGAIN = 11,
        SV_CODE_NOT_AVAILABLE = 50,
        SV_CODE_LIMITED_CONNECTIVITY = 51,
        SV_CODE_INTERNAL = 100,
};

#define SV_ERROR_MESSAGE_MAX 512

typedef struct sv_error {
        enum sv_code code;
        int errnum; /* positive errno of the failure, 0 if none */
        char message[SV_ERROR_MESSAGE_MAX];
} sv_error;

#define SV_ERROR_INIT                                                                              \
        { .code = SV_CODE_NONE }

/* Records the first error (later calls keep it) and returns ret, which must be
 * a negative errno, so callers can write `return sv_errorf(err, -EINVAL, ...)`.
 * err may be NULL. The message is truncated to SV_ERROR_MESSAGE_MAX. */
int sv_errorf(sv_error *err, int ret, enum sv_code code, const char *fmt, ...) _printf_(4, 5);

/* Prepends context ("while reading prevResult: ") to a recorded message. */
void sv_error_prefix(sv_error *err, const char *fmt, ...) _printf_(2, 3);

static inline int sv_error_is_set(const sv_error *err) {
        return err && err->code != SV_CODE_NONE;
}

void sv_error_clear(sv_error *err);
