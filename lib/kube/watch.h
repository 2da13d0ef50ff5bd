/* SPDX-License-Identifier: Apache-2.0 */
/* The watch stream decoder: a watch response body is newline-delimited JSON,
 * one {"type": ..., "object": ...} per line. Bytes arrive in arbitrary chunks;
 * the decoder keeps the partial line and hands out whole events. Every line is
 * capped so a broken or hostile server cannot make us buffer without bound. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

enum sv_watch_type {
        SV_WATCH_ADDED,
        SV_WATCH_MODIFIED,
        SV_WATCH_DELETED,
        SV_WATCH_BOOKMARK,
        SV_WATCH_ERROR,
        _SV_WATCH_TYPE_MAX,
};

typedef struct sv_watch_event {
        enum sv_watch_type type;
        json_t *object; /* owned by the event: sv_watch_event_done releases it */
} sv_watch_event;

typedef struct sv_watch_decoder {
        char *buf;
        size_t len;   /* bytes held */
        size_t start; /* first byte not yet consumed */
        size_t alloc;
        size_t partial;  /* length of the trailing, unfinished line */
        size_t max_line; /* cap on one line */
} sv_watch_decoder;

/* Cap on all buffered bytes: events pile up while the owner is busy (a
 * synchronous request drives the connection meanwhile). */
#define SV_WATCH_BUFFER_MAX (64u << 20)

#define SV_WATCH_DECODER_INIT(max)                                                                 \
        { .max_line = (max) }

/* Appends a chunk of the body. -E2BIG when the pending line would exceed
 * max_line or the buffer SV_WATCH_BUFFER_MAX (the stream must then be
 * dropped and resumed from the last resourceVersion). */
int sv_watch_decoder_feed(sv_watch_decoder *d, const char *data, size_t len);

/* Takes the next whole event: 1 and *out filled, 0 when more bytes are needed,
 * -EINVAL for a malformed line (the line is consumed; err says why). Blank
 * lines are skipped. */
int sv_watch_decoder_next(sv_watch_decoder *d, sv_watch_event *out, sv_error *err);

/* Forgets all buffered bytes (a new stream starts). */
void sv_watch_decoder_reset(sv_watch_decoder *d);
void sv_watch_decoder_done(sv_watch_decoder *d);

/* Decodes one line. The object must be a JSON object; ERROR events carry a
 * Status object. */
int sv_watch_event_parse(const char *line, size_t len, sv_watch_event *out, sv_error *err);
void sv_watch_event_done(sv_watch_event *ev);

const char *sv_watch_type_name(enum sv_watch_type t);

/* The HTTP-like code of a Status object (410 for an expired resourceVersion),
 * 0 when absent. */
long sv_status_code(const json_t *status);
