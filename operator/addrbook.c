/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/addrbook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"

/* The book owns its strings: holding the state instead would keep the whole
 * applied state (policies, groups: megabytes at 10,000 pods) alive between
 * applies for the few names it needs. Each name is stored once, however many
 * addresses carry it. */
typedef struct svc_ref {
        struct svc_ref *next; /* the book's list of them, for freeing */
        size_t endpoints;     /* of the Service: fewer is more specific */
        char name[];
} svc_ref;

struct sv_addrbook {
        sv_hashmap *identities; /* "namespace/serviceaccount" -> its copy */
        sv_hashmap *workloads;  /* ip -> identity (in identities) */
        sv_hashmap *services;   /* ip -> svc_ref */
        svc_ref *refs;
};

sv_addrbook *sv_addrbook_free(sv_addrbook *ab) {
        if (!ab)
                return NULL;
        if (ab->identities) {
                size_t it = 0;
                void *v;
                while (sv_hashmap_next(ab->identities, &it, NULL, &v))
                        free(v);
        }
        while (ab->refs) {
                svc_ref *next = ab->refs->next;
                free(ab->refs);
                ab->refs = next;
        }
        sv_hashmap_free(ab->identities);
        sv_hashmap_free(ab->workloads);
        sv_hashmap_free(ab->services);
        free(ab);
        return NULL;
}

static int add_identity(sv_addrbook *ab, const char *ip, const char *id) {
        char *name = sv_hashmap_get(ab->identities, id);
        if (!name) {
                if (!(name = strdup(id)))
                        return -ENOMEM;
                int r = sv_hashmap_put(ab->identities, id, name, NULL);
                if (r < 0) {
                        free(name);
                        return r == -EINVAL ? 0 : r;
                }
        }
        int r = sv_hashmap_put(ab->workloads, ip, name, NULL);
        return r == -EINVAL ? 0 : r;
}

static svc_ref *new_ref(sv_addrbook *ab, const char *ns, const char *name, size_t endpoints) {
        size_t n = strlen(ns ? ns : "") + strlen(name ? name : "") + 2;
        svc_ref *v = malloc(sizeof(*v) + n);
        if (!v)
                return NULL;
        v->endpoints = endpoints;
        snprintf(v->name, n, "%s/%s", ns ? ns : "", name ? name : "");
        v->next = ab->refs;
        ab->refs = v;
        return v;
}

/* An address served by several Services (a pod in `web` and in `web-v1`) is
 * named after the most specific one, the one with the fewest endpoints (then
 * the first in name order): that is the one a split sends to. */
static int add_service(sv_hashmap *m, const char *ip, svc_ref *ref) {
        if (!ip)
                return 0;
        svc_ref *old = sv_hashmap_get(m, ip);
        if (old && old->endpoints <= ref->endpoints)
                return 0;
        int r = sv_hashmap_put(m, ip, ref, NULL);
        return r == -EINVAL ? 0 : r;
}

int sv_addrbook_build(const json_t *state, sv_addrbook **out) {
        _cleanup_(sv_addrbook_freep) sv_addrbook *ab = calloc(1, sizeof(*ab));
        if (!ab || sv_hashmap_new(&ab->identities) < 0 || sv_hashmap_new(&ab->workloads) < 0 ||
            sv_hashmap_new(&ab->services) < 0)
                return -ENOMEM;
        const char *ip;
        json_t *v;
        int r = 0;
        json_object_foreach ((json_t *)json_object_get(state, "identities"), ip, v) {
                if (json_is_string(v) && (r = add_identity(ab, ip, json_string_value(v))) < 0)
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
                /* a cluster IP is its Service's alone */
                svc_ref *own = new_ref(ab, ns, name, 0), *ep = new_ref(ab, ns, name, n);
                if (!own || !ep)
                        return -ENOMEM;
                json_array_foreach (json_object_get(s, "clusterIPs"), j, x) {
                        if ((r = add_service(ab->services, json_string_value(x), own)) < 0)
                                return r;
                }
                json_array_foreach (json_object_get(s, "endpoints"), j, x) {
                        if ((r = add_service(ab->services,
                                             json_string_value(json_object_get(x, "ip")), ep)) < 0)
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
