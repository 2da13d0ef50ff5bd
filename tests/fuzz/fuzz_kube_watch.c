/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the watch-stream decoder the way a connection drives it: the body
 * arrives in chunks (their sizes taken from the input's last bytes) and the
 * events are drained after each chunk; on -E2BIG the stream is dropped
 * (reset) and the rest keeps coming. When no chunk was refused, the events
 * must be exactly those of the same bytes fed in one go. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
        int r; /* 1 or the error */
        enum sv_watch_type type;
        json_t *object;
};

struct results {
        struct result *v;
        size_t n, cap;
};

static void drain(sv_watch_decoder *d, struct results *out) {
        for (;;) {
                sv_watch_event ev = {.object = NULL};
                sv_error err = SV_ERROR_INIT;
                int r = sv_watch_decoder_next(d, &ev, &err);
                if (r == 0)
                        return;
                if (r < 0) {
                        /* A refused line says why, and leaves the event alone. */
                        if (!sv_error_is_set(&err) || !err.message[0] || ev.object)
                                __builtin_trap();
                } else {
                        if (r != 1 || (unsigned)ev.type >= _SV_WATCH_TYPE_MAX ||
                            !json_is_object(ev.object) ||
                            strcmp(sv_watch_type_name(ev.type), "UNKNOWN") == 0)
                                __builtin_trap();
                        if (ev.type == SV_WATCH_ERROR)
                                (void)sv_status_code(ev.object);
                }
                /* Each result is one line: never more results than bytes. */
                if (out->n >= out->cap)
                        __builtin_trap();
                out->v[out->n++] = (struct result){.r = r, .type = ev.type, .object = ev.object};
        }
}

static void results_done(struct results *rs) {
        for (size_t i = 0; i < rs->n; i++)
                json_decref(rs->v[i].object);
        free(rs->v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        /* max_line from the first byte: tiny caps exercise -E2BIG, the large
         * one lets the comparison with the one-go decoding run. */
        static const size_t caps[] = {16, 200, 4096, 1 << 20};
        size_t max_line = caps[data[0] % 4];
        const char *in = (const char *)data;

        struct results chunked = {.v = calloc(size + 1, sizeof(struct result)), .cap = size + 1};
        struct results whole = {.v = calloc(size + 1, sizeof(struct result)), .cap = size + 1};
        if (!chunked.v || !whole.v)
                __builtin_trap();

        sv_watch_decoder d = SV_WATCH_DECODER_INIT(max_line);
        bool refused = false;
        /* Chunk sizes come from the input's bytes read backwards from the end:
         * b -> 1 + b*b/16, from 1 byte to about 4 KiB. */
        size_t off = 0, tail = size;
        while (off < size) {
                size_t k = size - off;
                if (tail > off) {
                        uint8_t b = data[--tail];
                        size_t want = 1 + (size_t)b * b / 16;
                        if (want < k)
                                k = want;
                }
                size_t len_before = d.len - d.start;
                int r = sv_watch_decoder_feed(&d, in + off, k);
                if (r == -E2BIG) {
                        /* Nothing of the chunk was taken, nothing was lost. */
                        if (d.len - d.start != len_before)
                                __builtin_trap();
                        drain(&d, &chunked);
                        refused = true;
                        sv_watch_decoder_reset(&d);
                } else if (r != 0) {
                        __builtin_trap();
                } else {
                        if (d.partial > max_line || d.len > SV_WATCH_BUFFER_MAX ||
                            d.len > d.alloc || d.start > d.len)
                                __builtin_trap();
                        drain(&d, &chunked);
                }
                off += k;
        }
        drain(&d, &chunked);
        sv_watch_decoder_done(&d);
        if (d.buf || d.len || d.alloc)
                __builtin_trap();

        if (!refused) {
                sv_watch_decoder w = SV_WATCH_DECODER_INIT(max_line);
                /* The same bytes in one go: the pending tail is the same, so the
                 * one-go feed cannot be refused either. */
                if (sv_watch_decoder_feed(&w, in, size) != 0)
                        __builtin_trap();
                drain(&w, &whole);
                sv_watch_decoder_done(&w);
                if (whole.n != chunked.n)
                        __builtin_trap();
                for (size_t i = 0; i < whole.n; i++) {
                        const struct result *a = &whole.v[i], *b = &chunked.v[i];
                        if (a->r != b->r)
                                __builtin_trap();
                        if (a->r == 1 && (a->type != b->type || !json_equal(a->object, b->object)))
                                __builtin_trap();
                }
        }
        results_done(&chunked);
        results_done(&whole);
        return 0;
}
