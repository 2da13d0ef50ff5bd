/* SPDX-License-Identifier: Apache-2.0 */
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int reserve(sv_strbuf *sb, size_t extra) {
        if (extra > sb->max || sb->len > sb->max - extra)
                return -ENOBUFS;
        size_t need = sb->len + extra + 1;
        if (need <= sb->alloc)
                return 0;

        size_t alloc = sb->alloc ? sb->alloc : 64;
        while (alloc < need)
                alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
        if (alloc > sb->max + 1)
                alloc = sb->max + 1;

        char *p = realloc(sb->data, alloc);
        if (!p)
                return -ENOMEM;
        sb->data = p;
        sb->alloc = alloc;
        return 0;
}

int sv_strbuf_append(sv_strbuf *sb, const char *s, size_t n) {
        int r = reserve(sb, n);
        if (r < 0)
                return r;
        memcpy(sb->data + sb->len, s, n);
        sb->len += n;
        sb->data[sb->len] = '\0';
        return 0;
}

int sv_strbuf_appends(sv_strbuf *sb, const char *s) {
        return sv_strbuf_append(sb, s, strlen(s));
}

int sv_strbuf_appendf(sv_strbuf *sb, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;

        int r = reserve(sb, (size_t)n);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        (void)vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        sb->len += (size_t)n;
        return 0;
}

const char *sv_strbuf_str(const sv_strbuf *sb) {
        return sb->data ? sb->data : "";
}

char *sv_strbuf_steal(sv_strbuf *sb) {
        char *p = sb->data ? sb->data : strdup("");
        sb->data = NULL;
        sb->len = sb->alloc = 0;
        return p;
}

void sv_strbuf_done(sv_strbuf *sb) {
        if (!sb)
                return;
        free(sb->data);
        sb->data = NULL;
        sb->len = sb->alloc = 0;
}
