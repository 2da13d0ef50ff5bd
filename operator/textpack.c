/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/textpack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* What statuses say (the leader's own words, keys sorted as the API server
 * returns them); the likeliest parts last, where matches are cheapest. */
static const char dictionary[] =
        "\"reason\":\"ProgrammingFailed\"\"reason\":\"Invalid\"\"reason\":\"Pending\","
        "\"message\":\"No node has reported yet.\"\"status\":\"Unknown\"\"NotProgrammed\""
        "\"BackendNotFound\"\"InvalidSelector\"\"BackendUnavailable\"\"Conflicted\""
        "{\"conditions\":[{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
        "\"message\":\"The spec is valid and its references resolve.\",\"observedGeneration\":1,"
        "\"reason\":\"Accepted\",\"status\":\"True\",\"type\":\"Accepted\"},"
        "{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"message\":\"Programmed on 1 of 1 "
        "nodes.\",\"observedGeneration\":1,\"reason\":\"Programmed\",\"status\":\"True\","
        "\"type\":\"Programmed\"},{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
        "\"message\":\"Ready.\",\"observedGeneration\":1,\"reason\":\"Ready\",\"status\":\"True\","
        "\"type\":\"Ready\"},{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\",\"message\":"
        "\"Rollout finished.\",\"observedGeneration\":1,\"reason\":\"Programmed\",\"status\":"
        "\"False\",\"type\":\"Reconciling\"},{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
        "\"message\":\"Not stalled.\",\"observedGeneration\":1,\"reason\":\"Accepted\","
        "\"status\":\"False\",\"type\":\"Stalled\"}],\"observedGeneration\":1}";

/* A 2 KiB window holds the dictionary and keeps deflate's state at ~10 KiB
 * (the default is ~256 KiB per stream). */
#define WINDOW_BITS 11
#define MEM_LEVEL 2

int sv_text_pack(const char *text, size_t len, sv_packed_text *out) {
        if (len > SV_TEXTPACK_MAX)
                return -EINVAL;
        z_stream z = {0};
        if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -WINDOW_BITS, MEM_LEVEL,
                         Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        uLong bound = deflateBound(&z, (uLong)len);
        _cleanup_free_ uint8_t *buf = malloc(bound);
        int r = buf ? deflateSetDictionary(&z, (const Bytef *)dictionary, sizeof(dictionary) - 1)
                    : Z_MEM_ERROR;
        if (r == Z_OK) {
                z.next_in = (Bytef *)(uintptr_t)text;
                z.avail_in = (uInt)len;
                z.next_out = buf;
                z.avail_out = (uInt)bound;
                r = deflate(&z, Z_FINISH);
        }
        uLong packed = z.total_out;
        deflateEnd(&z);
        if (r != Z_STREAM_END)
                return -ENOMEM;
        /* Trimmed to its size: it is kept for as long as the object. */
        uint8_t *fit = realloc(buf, packed ? packed : 1);
        if (fit)
                buf = fit;
        *out = (sv_packed_text){
                .data = TAKE_PTR(buf), .len = (uint32_t)packed, .text_len = (uint32_t)len};
        return 0;
}

int sv_text_unpack(const sv_packed_text *p, char **out) {
        if (!p->data || p->text_len > SV_TEXTPACK_MAX)
                return -EBADMSG;
        _cleanup_free_ char *text = malloc((size_t)p->text_len + 1);
        if (!text)
                return -ENOMEM;
        z_stream z = {0};
        if (inflateInit2(&z, -WINDOW_BITS) != Z_OK)
                return -ENOMEM;
        int r = inflateSetDictionary(&z, (const Bytef *)dictionary, sizeof(dictionary) - 1);
        if (r == Z_OK) {
                z.next_in = p->data;
                z.avail_in = p->len;
                /* One byte more than the text: a stream that would give more
                 * is caught, and an empty one still finishes. */
                z.next_out = (Bytef *)text;
                z.avail_out = p->text_len + 1;
                r = inflate(&z, Z_FINISH);
        }
        uLong got = z.total_out;
        inflateEnd(&z);
        if (r == Z_MEM_ERROR)
                return -ENOMEM;
        if (r != Z_STREAM_END || got != p->text_len)
                return -EBADMSG;
        text[got] = '\0';
        *out = TAKE_PTR(text);
        return 0;
}

void sv_packed_text_done(sv_packed_text *p) {
        if (!p)
                return;
        free(p->data);
        *p = (sv_packed_text){0};
}
