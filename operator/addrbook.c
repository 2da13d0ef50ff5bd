/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/addrbook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"

struct sv_addrbook {
        json_t *state; /* owns the strings the maps point into */
        sv_hashmap *workloads, *services;
};

sv_addrbook *sv_addrbook_free(sv_addrbook *ab) {
        if (!ab)
                return NULL;
        if (ab->services) {
                size_t it = 0;
                void *v;
                while (sv_hashmap_next(ab->services, &it, NULL, &v))
                        free(v);
        }
        sv_hashmap_free(ab->workloads);
        sv_hashmap_free(ab->services);
        json_decref(ab->state);
        free(ab);
        return NULL;
}

typedef struct svc_ref {
        size_t endpoints; /* of the Service: fewer is more specific */
        char name[];
} svc_ref;

/* An address served by several Services (a pod in `web` and in `web-v1`) is
 * named after the most specific one, the one with the fewest endpoints (then
 * the first in name order): that is the one a split sends to. */
static int add_service(sv_hashmap *m, const char *ip, const char *ns, const char *name,
                       size_t endpoints) {
        if (!ip)
                return 0;
        svc_ref *old = sv_hashmap_get(m, ip);
        if (old && old->endpoints <= endpoints)
                return 0;
        size_t n = strlen(ns ? ns : "") + strlen(name ? name : "") + 2;
        svc_ref *v = malloc(sizeof(*v) + n);
        if (!v)
                return -ENOMEM;
        v->endpoints = endpoints;
        snprintf(v->name, n, "%s/%s", ns ? ns : "", name ? name : "");
        void *prev = NULL;
        int r = sv_hashmap_put(m, ip, v, &prev);
        if (r < 0) {
                free(v);
                return r == -EINVAL ? 0 : r;
        }
        free(prev);
        return 0;
}

int sv_addrbook_build(const json_t *state, sv_addrbook **out) {
        _cleanup_(sv_addrbook_freep) sv_addrbook *ab = calloc(1, sizeof(*ab));
        if (!ab || sv_hashmap_new(&ab->workloads) < 0 || sv_hashmap_new(&ab->services) < 0)
                return -ENOMEM;
        ab->state = json_incref((json_t *)state);
        const char *ip;
        json_t *v;
        int r = 0;
        json_object_foreach ((json_t *)json_object_get(state, "identities"), ip, v) {
                if (json_is_string(v) &&
                    (r = sv_hashmap_put(ab->workloads, ip, (void *)json_string_value(v), NULL)) <
                            0 &&
                    r != -EINVAL)
                        return r;
        }
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get(state, "services"), i, s) {
                const char *ns = json_string_value(json_object_get(s, "namespace")),
                           *name = json_string_value(json_object_get(s, "name"));
                size_t j;
                json_t *x;
                size_t n = json_array_size(json_object_get(s, "endpoints"));
                json_array_foreach (json_object_get(s, "clusterIPs"), j, x) {
                        /* a cluster IP is its Service's alone */
                        if ((r = add_service(ab->services, json_string_value(x), ns, name, 0)) < 0)
                                return r;
                }
                json_array_foreach (json_object_get(s, "endpoints"), j, x) {
                        if ((r = add_service(ab->services,
                                             json_string_value(json_object_get(x, "ip")), ns, name,
                                             n)) < 0)
                                return r;
                }
        }
        *out = TAKE_PTR(ab);
        return 0;
}

const char *sv_addrbook_workload(const sv_addrbook *ab, const char *ip) {
        const char *w = ab && ip ? sv_hashmap_get(ab->workloads, ip) : NULL;
        return w ? w : "unknown";
}

const char *sv_addrbook_service(const sv_addrbook *ab, const char *ip) {
        const svc_ref *s = ab && ip ? sv_hashmap_get(ab->services, ip) : NULL;
        return s ? s->name : "none";
}
