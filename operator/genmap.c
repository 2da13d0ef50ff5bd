/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/genmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool counts(const char *uid, const json_t *v) {
        return json_is_integer(v) && strlen(uid) <= SV_GENMAP_UID_MAX;
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const sv_genmap_entry *)a)->uid, ((const sv_genmap_entry *)b)->uid);
}

int sv_genmap_from_json(const json_t *obj, sv_genmap *out) {
        size_t n = 0;
        const char *uid;
        json_t *v;
        json_object_foreach ((json_t *)obj, uid, v)
                n += counts(uid, v);
        sv_genmap_entry *e = calloc(n ? n : 1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        size_t i = 0;
        json_object_foreach ((json_t *)obj, uid, v) {
                if (!counts(uid, v))
                        continue;
                memcpy(e[i].uid, uid, strlen(uid) + 1);
                e[i++].generation = (int64_t)json_integer_value(v);
        }
        /* JSON object keys are unique: no two entries share a uid. */
        qsort(e, n, sizeof(*e), entry_cmp);
        *out = (sv_genmap){.v = e, .n = n};
        return 0;
}

void sv_genmap_done(sv_genmap *m) {
        free(m->v);
        *m = (sv_genmap){0};
}

bool sv_genmap_get(const sv_genmap *m, const char *uid, int64_t *generation) {
        sv_genmap_entry key = {0};
        if (!m->n || !uid || strlen(uid) > SV_GENMAP_UID_MAX)
                return false;
        memcpy(key.uid, uid, strlen(uid) + 1);
        const sv_genmap_entry *e = bsearch(&key, m->v, m->n, sizeof(key), entry_cmp);
        if (!e)
                return false;
        *generation = e->generation;
        return true;
}

bool sv_genmap_equals_json(const sv_genmap *m, const json_t *obj) {
        size_t n = 0;
        const char *uid;
        json_t *v;
        json_object_foreach ((json_t *)obj, uid, v) {
                if (!counts(uid, v))
                        continue;
                int64_t g;
                if (!sv_genmap_get(m, uid, &g) || g != (int64_t)json_integer_value(v))
                        return false;
                n++;
        }
        return n == m->n;
}
