/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/watch.h"

#include <stdlib.h>
#include <string.h>

#include "json/json.h"

static const char *const type_names[_SV_WATCH_TYPE_MAX] = {
        [SV_WATCH_ADDED] = "ADDED",     [SV_WATCH_MODIFIED] = "MODIFIED",
        [SV_WATCH_DELETED] = "DELETED", [SV_WATCH_BOOKMARK] = "BOOKMARK",
        [SV_WATCH_ERROR] = "ERROR",
};

const char *sv_watch_type_name(enum sv_watch_type t) {
        return t < _SV_WATCH_TYPE_MAX ? type_names[t] : "UNKNOWN";
}

int sv_watch_decoder_feed(sv_watch_decoder *d, const char *data, size_t len) {
        if (len == 0)
                return 0;
        /* Compact first: consumed bytes are never needed again. */
        if (d->start > 0) {
                memmove(d->buf, d->buf + d->start, d->len - d->start);
                d->len -= d->start;
                d->start = 0;
        }
        const char *nl = memrchr(data, '\n', len);
        size_t partial = nl ? (size_t)(data + len - nl - 1) : d->partial + len;
        if (partial > d->max_line || d->len + len > SV_WATCH_BUFFER_MAX)
                return -E2BIG;
        if (d->len + len > d->alloc) {
                size_t want = d->alloc ? d->alloc : 4096;
                while (want < d->len + len)
                        want *= 2;
                char *n = realloc(d->buf, want);
                if (!n)
                        return -ENOMEM;
                d->buf = n;
                d->alloc = want;
        }
        memcpy(d->buf + d->len, data, len);
        d->len += len;
        d->partial = partial;
        return 0;
}

/* Everything whole is consumed: a buffer grown by a burst (a thousand events
 * that came in while the owner was busy) shrinks back to what the pending
 * partial line needs, instead of staying megabytes until the stream ends. */
static void shrink(sv_watch_decoder *d) {
        size_t keep = d->len - d->start;
        if (d->alloc <= 65536 || keep * 4 > d->alloc)
                return;
        if (keep == 0) {
                free(d->buf);
                d->buf = NULL;
                d->alloc = d->len = d->start = 0;
                return;
        }
        memmove(d->buf, d->buf + d->start, keep);
        d->len = keep;
        d->start = 0;
        size_t want = 4096;
        while (want < keep)
                want *= 2;
        char *n = realloc(d->buf, want);
        if (n) {
                d->buf = n;
                d->alloc = want;
        }
}

int sv_watch_decoder_next(sv_watch_decoder *d, sv_watch_event *out, sv_error *err) {
        for (;;) {
                char *nl = d->start < d->len ? memchr(d->buf + d->start, '\n', d->len - d->start)
                                             : NULL;
                if (!nl) {
                        shrink(d);
                        return 0;
                }
                char *line = d->buf + d->start;
                size_t n = (size_t)(nl - line);
                d->start += n + 1;
                if (n > d->max_line)
                        return sv_errorf(err, -EINVAL, SV_CODE_DECODE,
                                         "watch event of %zu bytes exceeds the limit", n);
                while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                        n--;
                if (n == 0)
                        continue;
                int r = sv_watch_event_parse(line, n, out, err);
                return r < 0 ? r : 1;
        }
}

void sv_watch_decoder_reset(sv_watch_decoder *d) {
        d->len = d->start = d->partial = 0;
        /* A large buffer left by one big event is given back. */
        if (d->alloc > 65536) {
                free(d->buf);
                d->buf = NULL;
                d->alloc = 0;
        }
}

void sv_watch_decoder_done(sv_watch_decoder *d) {
        free(d->buf);
        *d = (sv_watch_decoder)SV_WATCH_DECODER_INIT(d->max_line);
}

int sv_watch_event_parse(const char *line, size_t len, sv_watch_event *out, sv_error *err) {
        _cleanup_json_ json_t *root = NULL;
        int r = sv_json_parse(line, len, len, &root, err);
        if (r < 0)
                return r;
        const char *type = NULL;
        json_t *object = NULL;
        /* Whatever is wrong with the line, it is malformed: -EINVAL. */
        if (sv_json_get_string(root, "type", true, 16, &type, err) < 0 ||
            sv_json_get_object(root, "object", true, &object, err) < 0)
                return -EINVAL;
        for (int t = 0; t < _SV_WATCH_TYPE_MAX; t++)
                if (strcmp(type, type_names[t]) == 0) {
                        out->type = (enum sv_watch_type)t;
                        out->object = json_incref(object);
                        return 0;
                }
        return sv_errorf(err, -EINVAL, SV_CODE_DECODE, "unknown watch event type \"%s\"", type);
}

void sv_watch_event_done(sv_watch_event *ev) {
        json_decref(ev->object);
        ev->object = NULL;
}

long sv_status_code(const json_t *status) {
        json_t *code = json_object_get(status, "code");
        return json_is_integer(code) ? (long)json_integer_value(code) : 0;
}
