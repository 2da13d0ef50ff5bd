/* SPDX-License-Identifier: Apache-2.0 */
/* Texts kept for a long time and read rarely, kept compressed: raw deflate
 * with a preset dictionary of what they usually say. A ServicePolicy's
 * status (five conditions, ~830 bytes, read by the leader once after each
 * change of the object) packs into ~60 bytes; 1,000 of them were ~0.9 MB. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"

/* Longest text packed: as long as an object a watch line may carry
 * (lib/kube/informer.c), so no status is ever refused for its length. */
#define SV_TEXTPACK_MAX (8u << 20)

typedef struct sv_packed_text {
        uint8_t *data;
        uint32_t len;      /* of data */
        uint32_t text_len; /* of the text it unpacks to */
} sv_packed_text;

/* 0, -EINVAL (longer than SV_TEXTPACK_MAX) or -ENOMEM; *out is written only
 * on success. */
int sv_text_pack(const char *text, size_t len, sv_packed_text *out);
/* The text (malloc'd, NUL-terminated): 0, -ENOMEM, or -EBADMSG when data is
 * not what sv_text_pack made. */
int sv_text_unpack(const sv_packed_text *p, char **out);
void sv_packed_text_done(sv_packed_text *p);
