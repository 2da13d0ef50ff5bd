/* SPDX-License-Identifier: Apache-2.0 */
/* A growable string with a hard size cap, for generated text (rulesets,
 * configuration files, JSON output). Appends past the cap fail with -ENOBUFS
 * and leave the buffer as it was. */
#pragma once

#include <stddef.h>

#include "base/macro.h"

typedef struct sv_strbuf {
        char *data; /* always NUL-terminated once anything was appended */
        size_t len;
        size_t alloc;
        size_t max; /* cap on len, excluding the NUL */
} sv_strbuf;

#define SV_STRBUF_INIT(cap)                                                                        \
        { .data = NULL, .len = 0, .alloc = 0, .max = (cap) }

int sv_strbuf_append(sv_strbuf *sb, const char *s, size_t n);
int sv_strbuf_appends(sv_strbuf *sb, const char *s);
int sv_strbuf_appendf(sv_strbuf *sb, const char *fmt, ...) _printf_(2, 3);

/* The contents as a C string ("" when empty); valid until the next append. */
const char *sv_strbuf_str(const sv_strbuf *sb);

/* Hands the buffer to the caller (who frees it) and resets sb. */
char *sv_strbuf_steal(sv_strbuf *sb);

void sv_strbuf_done(sv_strbuf *sb);
