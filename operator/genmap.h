/* SPDX-License-Identifier: Apache-2.0 */
/* What a node reports it has programmed, {"uid": generation}, as a sorted
 * table: 48 bytes an object where a jansson object took ~130. The leader
 * keeps one per node (1,000 policies on 4 nodes: 0.2 MB instead of 0.5). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A Kubernetes uid is 36 characters; a longer key is no object's. */
#define SV_GENMAP_UID_MAX 39

typedef struct sv_genmap_entry {
        char uid[SV_GENMAP_UID_MAX + 1];
        int64_t generation;
} sv_genmap_entry;

typedef struct sv_genmap {
        sv_genmap_entry *v;
        size_t n;
} sv_genmap;

/* The integer members of obj (others, and keys longer than a uid, are no
 * object's report): 0 or -ENOMEM; *out only on success. */
int sv_genmap_from_json(const json_t *obj, sv_genmap *out);
void sv_genmap_done(sv_genmap *m);
/* Whether uid is in m; its generation in *generation. */
bool sv_genmap_get(const sv_genmap *m, const char *uid, int64_t *generation);
/* Whether m holds exactly what sv_genmap_from_json(obj) would. */
bool sv_genmap_equals_json(const sv_genmap *m, const json_t *obj);
