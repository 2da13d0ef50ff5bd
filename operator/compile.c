/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/compile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/siphash.h"
#include "base/strbuf.h"
#include "json/json.h"
#include "operator/agent.h"
#include "operator/labels.h"
#include "operator/memory.h"
#include "operator/objects.h"
#include "operator/textpack.h"

#define KEY_MAX 320

typedef struct pod_list {
        const sv_pod **pods;
        size_t n, cap;
} pod_list;

typedef struct slice_list {
        const sv_slice **slices;
        size_t n, cap;
} slice_list;

/* What a peer or a target resolved to, and what was wrong with it. */
typedef struct resolution {
        uint32_t *ids; /* addresses (indexes into the cache's ips), sorted, unique */
        uint32_t n;
        char *reason, *message;
} resolution;

/* Addresses as they are gathered: indexes into the cache's ips. */
typedef struct id_list {
        uint32_t *ids;
        size_t n, cap;
        bool failed; /* memory ran out: the list is short */
} id_list;

/* Everything derived from pods, namespaces, Services, EndpointSlices and
 * attachments: kept between compiles until one of those changes, so a change
 * of a policy or split re-resolves only what it names. */
struct sv_compile_cache {
        bool built;
        sv_hashmap *pods_by_ns;        /* namespace -> pod_list */
        sv_hashmap *slices_by_service; /* "ns/name" -> slice_list */
        sv_hashmap *attached;          /* "ns/name" -> sv_attachment (borrowed) */
        sv_pod **synth;                /* local pods given an attachment's IPs */
        size_t n_synth, cap_synth;
        /* Every address the world names (pods, EndpointSlices, cluster IPs),
         * sorted and unique: an address is its index here, and a kept peer
         * set is an array of indexes, 4 bytes an address where a jansson
         * string in an array was ~50. Borrowed from the informers' objects,
         * as the indexes above. */
        const char **ips;
        const sv_pod **pod_of; /* by address: the pod that has it (the last indexed), or NULL */
        uint32_t n_ips;
        sv_hashmap *resolved; /* "P|ns|peer" or "T|ns|target" -> resolution */
        /* The identities and Services parts of the state, built once per
         * cache: a change of a policy or split alone does not rebuild them
         * (~30 ms at 10,000 pods and 1,000 Services). Kept as their compact
         * JSON packed (textpack.h), and parsed again by the compiles that
         * reuse them: as jansson trees they were ~1.3 MB. */
        sv_packed_text identities, services;
        sv_hashmap *memos; /* ServicePolicy uid -> policy_memo */
        uint8_t memo_key[SV_SIPHASH_KEY_LEN];
};

static void policy_memo_free(void *p);

typedef struct ctx {
        const sv_caches *c;
        sv_compile_cache *w;
        sv_hashmap *specs;  /* object address -> its spec, parsed for this compile */
        sv_hashmap *groups; /* canonical peer -> group index + 1 (as pointer) */
        json_t *group_list; /* array of IP arrays */
        json_t *verdicts;
        sv_hashmap *memos_used; /* the memos of this compile's policies (uid -> memo) */
        /* text -> JSON string (a reference), for this compile: each IP,
         * identity and namespace is one jansson string shared by every array
         * and object of the state that holds it. An IP is in the identities,
         * the endpoints and any number of peer sets (a namespaceSelector peer
         * of 10 namespaces' policies: 10 copies of 5,000 IPs), at ~70 bytes
         * a copy. Nothing of it outlives the compile (peer sets are kept as
         * address indexes). */
        sv_hashmap *strings;
        json_t **ip_strings;    /* by address: its JSON string, made at its first use */
        const sv_pod **indexed; /* the pods indexed, in order (while the world is built) */
        size_t n_indexed, cap_indexed;
} ctx;

static int list_push(void ***items, size_t *n, size_t *cap, const void *item) {
        if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 8;
                void **g = realloc(*items, nc * sizeof(void *));
                if (!g)
                        return -ENOMEM;
                *items = g;
                *cap = nc;
        }
        (*items)[(*n)++] = (void *)item;
        return 0;
}

/* The lists are kept until the world changes: no room to grow (most
 * Services have one EndpointSlice, in a table of 8). */
static void trim_lists(sv_hashmap *m) {
        size_t it = 0;
        void *v;
        while (sv_hashmap_next(m, &it, NULL, &v)) {
                pod_list *l = v; /* pod_list and slice_list share a layout */
                const sv_pod **fit = l->n ? realloc(l->pods, l->n * sizeof(*fit)) : NULL;
                if (fit) {
                        l->pods = fit;
                        l->cap = l->n;
                }
        }
}

static void free_lists(sv_hashmap *m) {
        size_t it = 0;
        const char *k;
        void *v;
        while (m && sv_hashmap_next(m, &it, &k, &v)) {
                pod_list *l = v; /* pod_list and slice_list share a layout */
                free(l->pods);
                free(l);
        }
        sv_hashmap_free(m);
}

void sv_compile_cache_invalidate(sv_compile_cache *w) {
        if (!w)
                return;
        for (size_t i = 0; i < w->n_synth; i++)
                free(w->synth[i]); /* sv_pod_with_ips copies */
        free(w->synth);
        sv_hashmap_free(w->attached);
        free_lists(w->pods_by_ns);
        free_lists(w->slices_by_service);
        free(w->ips);
        free(w->pod_of);
        size_t it = 0;
        const char *k;
        void *v;
        while (w->resolved && sv_hashmap_next(w->resolved, &it, &k, &v)) {
                resolution *res = v;
                free(res->ids);
                free(res->reason);
                free(res->message);
                free(res);
        }
        sv_hashmap_free(w->resolved);
        sv_packed_text_done(&w->identities);
        sv_packed_text_done(&w->services);
        sv_hashmap_free_with(w->memos, policy_memo_free);
        uint8_t key[SV_SIPHASH_KEY_LEN];
        memcpy(key, w->memo_key, sizeof(key));
        *w = (sv_compile_cache){0};
        memcpy(w->memo_key, key, sizeof(key));
}

int sv_compile_cache_new(sv_compile_cache **out) {
        sv_compile_cache *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        sv_siphash_random_key(w->memo_key);
        *out = w;
        return 0;
}

sv_compile_cache *sv_compile_cache_free(sv_compile_cache *w) {
        sv_compile_cache_invalidate(w);
        free(w);
        return NULL;
}

/* The shared JSON string of text (borrowed from this compile's map), or NULL
 * when memory ran out (appending NULL fails, as appending a failed
 * json_string did). */
static json_t *str(ctx *x, const char *text) {
        json_t *j = sv_hashmap_get(x->strings, text);
        if (j)
                return j;
        if (!(j = json_string(text)))
                return NULL;
        if (sv_hashmap_put(x->strings, text, j, NULL) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

/* The spec of o (borrowed; parsed once per compile), or NULL when memory ran
 * out: lookups in NULL find nothing. */
static json_t *spec_of(ctx *x, const sv_mesh_object *o) {
        char key[32];
        snprintf(key, sizeof(key), "%p", (const void *)o);
        json_t *j = sv_hashmap_get(x->specs, key);
        if (j || !(j = sv_mesh_object_spec(o)))
                return j;
        if (sv_hashmap_put(x->specs, key, j, NULL) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

/* A policy's spec is read only while the policy compiles: dropped after, so
 * 1,000 parsed specs (2.6 MB) do not all wait for the end of the compile. */
static void forget_spec(ctx *x, const sv_mesh_object *o) {
        char key[32];
        snprintf(key, sizeof(key), "%p", (const void *)o);
        void *j;
        if (sv_hashmap_remove(x->specs, key, &j) == 0)
                json_decref(j);
}

static void ctx_done(ctx *x) {
        size_t it = 0;
        void *v;
        while (x->specs && sv_hashmap_next(x->specs, &it, NULL, &v))
                json_decref(v);
        sv_hashmap_free(x->specs);
        sv_hashmap_free(x->groups);
        sv_hashmap_free(x->memos_used);
        it = 0;
        while (x->strings && sv_hashmap_next(x->strings, &it, NULL, &v))
                json_decref(v);
        sv_hashmap_free(x->strings);
        for (uint32_t i = 0; x->ip_strings && i < x->w->n_ips; i++)
                json_decref(x->ip_strings[i]);
        free(x->ip_strings);
        free(x->indexed);
        json_decref(x->group_list);
        json_decref(x->verdicts);
}

/* A local pod whose status has no IP yet but that the CNI plugin attached
 * takes the attachment's IPs (a copy; the cache is not touched). */
static const sv_pod *effective(ctx *x, const sv_pod *p) {
        if (p->n_ips > 0 || !x->w->attached)
                return p;
        char key[KEY_MAX];
        snprintf(key, sizeof(key), "%s/%s", sv_pod_namespace(p), sv_pod_name(p));
        const sv_attachment *a = sv_hashmap_get(x->w->attached, key);
        if (!a || a->n_ips == 0)
                return p;
        const char *ips[SV_POD_IPS];
        unsigned n = a->n_ips < SV_POD_IPS ? a->n_ips : SV_POD_IPS;
        for (unsigned k = 0; k < n; k++)
                ips[k] = a->ips[k];
        sv_pod *copy = NULL;
        if (sv_pod_with_ips(p, ips, n, &copy) < 0 ||
            list_push((void ***)&x->w->synth, &x->w->n_synth, &x->w->cap_synth, copy) < 0) {
                free(copy);
                return p;
        }
        return copy;
}

static int index_attachments(ctx *x) {
        if (!x->c->attachments)
                return 0;
        int r = sv_hashmap_new(&x->w->attached);
        size_t it = 0;
        const char *chain;
        void *v;
        while (r >= 0 && sv_hashmap_next(x->c->attachments, &it, &chain, &v)) {
                const sv_attachment *a = v;
                char key[KEY_MAX];
                snprintf(key, sizeof(key), "%s/%s", a->namespace, a->name);
                r = sv_hashmap_put(x->w->attached, key, v, NULL);
        }
        return r < 0 ? r : 0;
}

static int index_pods(ctx *x, sv_informer *inf) {
        size_t it = 0;
        const char *key;
        void *item;
        while (sv_informer_next(inf, &it, &key, &item)) {
                const sv_pod *p = effective(x, item);
                if (p->n_ips == 0)
                        continue;
                pod_list *l = sv_hashmap_get(x->w->pods_by_ns, sv_pod_namespace(p));
                if (!l) {
                        if (!(l = calloc(1, sizeof(*l))))
                                return -ENOMEM;
                        int r = sv_hashmap_put(x->w->pods_by_ns, sv_pod_namespace(p), l, NULL);
                        if (r < 0) {
                                free(l);
                                return r;
                        }
                }
                int r = list_push((void ***)&l->pods, &l->n, &l->cap, p);
                if (r >= 0)
                        r = list_push((void ***)&x->indexed, &x->n_indexed, &x->cap_indexed, p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int index_slices(ctx *x) {
        size_t it = 0;
        const char *key;
        void *item;
        while (sv_informer_next(x->c->slices, &it, &key, &item)) {
                const sv_slice *s = item;
                if (!*s->service)
                        continue;
                char skey[KEY_MAX];
                snprintf(skey, sizeof(skey), "%s/%s", s->namespace, s->service);
                slice_list *l = sv_hashmap_get(x->w->slices_by_service, skey);
                if (!l) {
                        if (!(l = calloc(1, sizeof(*l))))
                                return -ENOMEM;
                        int r = sv_hashmap_put(x->w->slices_by_service, skey, l, NULL);
                        if (r < 0) {
                                free(l);
                                return r;
                        }
                }
                int r = list_push((void ***)&l->slices, &l->n, &l->cap, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_text(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_id(const void *a, const void *b) {
        uint32_t l = *(const uint32_t *)a, r = *(const uint32_t *)b;
        return (l > r) - (l < r);
}

/* The address table: every address of the pods indexed, the EndpointSlices
 * and the Services' cluster IPs, sorted (as texts) and unique, and the pod
 * of each (the last indexed that has it, as a map of IP to pod would). */
static int index_addresses(ctx *x) {
        sv_compile_cache *w = x->w;
        _cleanup_free_ const char **all = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        for (size_t i = 0; r >= 0 && i < x->n_indexed; i++)
                for (unsigned k = 0; r >= 0 && k < x->indexed[i]->n_ips; k++)
                        r = list_push((void ***)&all, &n, &cap, sv_pod_ip(x->indexed[i], k));
        size_t it = 0;
        const char *key;
        void *item;
        while (r >= 0 && sv_informer_next(x->c->slices, &it, &key, &item)) {
                const sv_slice *sl = item;
                for (unsigned k = 0; r >= 0 && k < sl->n_ips; k++)
                        r = list_push((void ***)&all, &n, &cap, sl->ips[k]);
        }
        it = 0;
        while (r >= 0 && sv_informer_next(x->c->services, &it, &key, &item)) {
                const sv_service *sv = item;
                for (unsigned k = 0; r >= 0 && k < sv->n_cluster_ips; k++)
                        r = list_push((void ***)&all, &n, &cap, sv->cluster_ips[k]);
        }
        if (r < 0)
                return r;
        if (n >= UINT32_MAX)
                return -E2BIG;
        qsort(all, n, sizeof(*all), cmp_text);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
                if (u == 0 || strcmp(all[i], all[u - 1]) != 0)
                        all[u++] = all[i];
        const sv_pod **pod_of = calloc(u ? u : 1, sizeof(*pod_of));
        if (!pod_of)
                return -ENOMEM;
        /* Trimmed: kept until the world changes. */
        const char **fit = realloc(all, (u ? u : 1) * sizeof(*all));
        w->ips = fit ? fit : TAKE_PTR(all);
        all = NULL;
        w->n_ips = (uint32_t)u;
        w->pod_of = pod_of;
        for (size_t i = 0; i < x->n_indexed; i++)
                for (unsigned k = 0; k < x->indexed[i]->n_ips; k++) {
                        const char *ip = sv_pod_ip(x->indexed[i], k);
                        const char **hit = bsearch(&ip, w->ips, u, sizeof(*w->ips), cmp_text);
                        if (hit)
                                pod_of[hit - w->ips] = x->indexed[i];
                }
        return 0;
}

/* The index of address text, or -ENOENT when the world does not name it. */
static int address_id(const sv_compile_cache *w, const char *text, uint32_t *out) {
        const char **hit =
                w->ips ? bsearch(&text, w->ips, w->n_ips, sizeof(*w->ips), cmp_text) : NULL;
        if (!hit)
                return -ENOENT;
        *out = (uint32_t)(hit - w->ips);
        return 0;
}

static void id_push(id_list *l, uint32_t id) {
        if (l->failed)
                return;
        if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 16;
                uint32_t *g = realloc(l->ids, nc * sizeof(*g));
                if (!g) {
                        l->failed = true;
                        return;
                }
                l->ids = g;
                l->cap = nc;
        }
        l->ids[l->n++] = id;
}

static void push_address(ctx *x, id_list *l, const char *text) {
        uint32_t id;
        if (address_id(x->w, text, &id) == 0)
                id_push(l, id);
}

static void id_list_done(id_list *l) {
        free(l->ids);
}

/* Sorts and de-duplicates l, its table trimmed to its items (peer sets are
 * kept). */
static int id_list_finish(id_list *l) {
        if (l->failed)
                return -ENOMEM;
        if (l->n == 0)
                return 0;
        qsort(l->ids, l->n, sizeof(*l->ids), cmp_id);
        size_t u = 0;
        for (size_t i = 0; i < l->n; i++)
                if (u == 0 || l->ids[i] != l->ids[u - 1])
                        l->ids[u++] = l->ids[i];
        l->n = l->cap = u;
        uint32_t *fit = realloc(l->ids, u * sizeof(*fit));
        if (fit)
                l->ids = fit;
        return 0;
}

/* The JSON string of an address, shared within this compile (borrowed). */
static json_t *address_json(ctx *x, uint32_t id) {
        if (!x->ip_strings[id])
                x->ip_strings[id] = json_string(x->w->ips[id]);
        return x->ip_strings[id];
}

/* A new JSON array of the addresses, or NULL when memory ran out. */
static json_t *addresses_json(ctx *x, const uint32_t *ids, size_t n) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                if (json_array_append(arr, address_json(x, ids[i])) < 0)
                        json_decref(TAKE_PTR(arr));
        return arr;
}

static void set_verdict(ctx *x, const sv_mesh_object *o, const char *reason, const char *fmt, ...)
        _printf_(4, 5);
static void set_verdict(ctx *x, const sv_mesh_object *o, const char *reason, const char *fmt, ...) {
        json_t *v = json_object_get(x->verdicts, o->uid);
        /* The first problem found is the one reported. */
        if (!v || json_is_false(json_object_get(v, "accepted")))
                return;
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object_set_new(v, "accepted", json_false());
        json_object_set_new(v, "reason", json_string(reason));
        json_object_set_new(v, "message", json_string(msg));
}

/* Accepted and programmed, but not everything works as asked (a backend with
 * no ready endpoint): Ready turns False with this reason. The first one found
 * is reported. */
static void set_degraded(ctx *x, const sv_mesh_object *o, const char *reason, const char *fmt, ...)
        _printf_(4, 5);
static void set_degraded(ctx *x, const sv_mesh_object *o, const char *reason, const char *fmt,
                         ...) {
        json_t *v = json_object_get(x->verdicts, o->uid);
        if (!v || json_object_get(v, "degradedReason"))
                return;
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object_set_new(v, "degradedReason", json_string(reason));
        json_object_set_new(v, "degradedMessage", json_string(msg));
}

/* IPs of a Service's ready endpoints (and optionally its cluster IPs). With
 * whole_pods, an endpoint that is a known pod stands for all of the pod's
 * addresses, each pod once: a policy that names a single-stack Service
 * targets or admits its pods over both families, not only over the one the
 * Service lists (else a dual-stack pod would be unprotected, or refused, over
 * the other). -ENOENT when the Service does not exist. */
static int service_ips(ctx *x, const char *ns, const char *name, bool with_vips, bool whole_pods,
                       id_list *out) {
        char key[KEY_MAX];
        snprintf(key, sizeof(key), "%s/%s", ns, name);
        const sv_service *svc = sv_informer_get(x->c->services, key);
        if (!svc)
                return -ENOENT;
        for (unsigned i = 0; with_vips && i < svc->n_cluster_ips; i++)
                push_address(x, out, svc->cluster_ips[i]);
        _cleanup_(sv_hashmap_freep) sv_hashmap *seen = NULL;
        if (whole_pods && sv_hashmap_new(&seen) < 0)
                return -ENOMEM;
        slice_list *l = sv_hashmap_get(x->w->slices_by_service, key);
        for (size_t s = 0; l && s < l->n; s++)
                for (unsigned i = 0; i < l->slices[s]->n_ips; i++) {
                        uint32_t id;
                        if (address_id(x->w, l->slices[s]->ips[i], &id) < 0)
                                continue;
                        const sv_pod *p = seen ? x->w->pod_of[id] : NULL;
                        if (!p) {
                                id_push(out, id);
                                continue;
                        }
                        char pk[32];
                        snprintf(pk, sizeof(pk), "%p", (const void *)p);
                        if (sv_hashmap_get(seen, pk) ||
                            sv_hashmap_put(seen, pk, (void *)p, NULL) < 0)
                                continue;
                        for (unsigned k = 0; k < p->n_ips; k++)
                                push_address(x, out, sv_pod_ip(p, k));
                }
        return 0;
}

/* Pods of namespace ns matching sel (NULL: all), appended as IPs; with
 * local_only, only pods on this node. */
static void pods_matching(ctx *x, const char *ns, const sv_selector *sel, const char *sa,
                          bool local_only, id_list *out) {
        pod_list *l = sv_hashmap_get(x->w->pods_by_ns, ns);
        for (size_t i = 0; l && i < l->n; i++) {
                const sv_pod *p = l->pods[i];
                if (local_only && strcmp(sv_pod_node(p), x->c->node) != 0)
                        continue;
                if (sa && strcmp(sv_pod_service_account(p), sa) != 0)
                        continue;
                sv_labels labels = sv_pod_labels(p);
                if (sel && !sv_selector_matches(sel, &labels))
                        continue;
                for (unsigned k = 0; k < p->n_ips; k++)
                        push_address(x, out, sv_pod_ip(p, k));
        }
}

static void set_problem(resolution *res, const char *reason, const char *fmt, ...) _printf_(3, 4);
static void set_problem(resolution *res, const char *reason, const char *fmt, ...) {
        if (res->reason)
                return;
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        res->reason = strdup(reason);
        res->message = strdup(msg);
}

/* A peer of a rule of o: the IPs it stands for. */
static void resolve_peer_ips(ctx *x, const sv_mesh_object *o, json_t *peer, id_list *ips,
                             resolution *res) {
        json_t *sa = json_object_get(peer, "serviceAccount");
        json_t *svc = json_object_get(peer, "service");
        if (sa || svc) {
                json_t *ref = sa ? sa : svc;
                const char *name = json_string_value(json_object_get(ref, "name"));
                const char *ns = json_string_value(json_object_get(ref, "namespace"));
                if (!ns)
                        ns = o->namespace;
                if (!name)
                        name = "";
                if (sa)
                        pods_matching(x, ns, NULL, name, false, ips);
                else if (service_ips(x, ns, name, true, true, ips) == -ENOENT)
                        set_problem(res, "BackendNotFound", "Service %s/%s (a peer) not found", ns,
                                    name);
                return;
        }
        sv_error err = SV_ERROR_INIT;
        _cleanup_(sv_selector_freep) sv_selector *pod_sel = NULL;
        _cleanup_(sv_selector_freep) sv_selector *ns_sel = NULL;
        json_t *ps = json_object_get(peer, "podSelector");
        json_t *nss = json_object_get(peer, "namespaceSelector");
        if ((ps && sv_selector_compile(ps, &pod_sel, &err) < 0) ||
            (nss && sv_selector_compile(nss, &ns_sel, &err) < 0)) {
                set_problem(res, "InvalidSelector", "%s", err.message);
        } else if (ns_sel) {
                size_t it = 0;
                const char *k;
                void *item;
                while (sv_informer_next(x->c->namespaces, &it, &k, &item)) {
                        const sv_namespace *n = item;
                        if (sv_selector_matches(ns_sel, &n->labels))
                                pods_matching(x, n->name, pod_sel, NULL, false, ips);
                }
        } else {
                pods_matching(x, o->namespace, pod_sel, NULL, false, ips);
        }
}

/* The workloads on this node that o applies to. */
static void resolve_target_ips(ctx *x, const sv_mesh_object *o, id_list *ips, resolution *res) {
        json_t *spec = spec_of(x, o);
        json_t *ref = json_object_get(spec, "targetRef");
        if (!ref) {
                sv_error err = SV_ERROR_INIT;
                _cleanup_(sv_selector_freep) sv_selector *sel = NULL;
                if (sv_selector_compile(json_object_get(spec, "podSelector"), &sel, &err) < 0)
                        set_problem(res, "InvalidSelector", "podSelector: %s", err.message);
                else
                        pods_matching(x, o->namespace, sel, NULL, true, ips);
                return;
        }
        const char *name = json_string_value(json_object_get(ref, "name"));
        _cleanup_(id_list_done) id_list all = {0};
        if (service_ips(x, o->namespace, name ? name : "", false, true, &all) == -ENOENT)
                set_problem(res, "BackendNotFound", "Service %s/%s (targetRef) not found",
                            o->namespace, name ? name : "");
        ips->failed |= all.failed;
        for (size_t i = 0; i < all.n; i++) {
                const sv_pod *p = x->w->pod_of[all.ids[i]];
                if (p && strcmp(sv_pod_node(p), x->c->node) == 0)
                        id_push(ips, all.ids[i]);
        }
}

/* A peer (peer != NULL) or o's targets, from the cache when the world has not
 * changed since they were resolved. The problem found, if any, goes into o's
 * verdict either way. */
static const resolution *resolve(ctx *x, const sv_mesh_object *o, json_t *peer) {
        _cleanup_free_ char *canon = NULL;
        if (peer) {
                canon = json_dumps(peer, JSON_COMPACT | JSON_SORT_KEYS);
        } else {
                json_t *spec = spec_of(x, o);
                _cleanup_json_ json_t *t =
                        json_pack("{s:O?,s:O?}", "targetRef", json_object_get(spec, "targetRef"),
                                  "podSelector", json_object_get(spec, "podSelector"));
                canon = t ? json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        }
        if (!canon)
                return NULL;
        _cleanup_(sv_strbuf_done) sv_strbuf key = SV_STRBUF_INIT(65536);
        /* Selectors without a namespaceSelector are relative to the policy. */
        if (sv_strbuf_appendf(&key, "%c|%s|%s", peer ? 'P' : 'T', o->namespace, canon) < 0)
                return NULL;
        resolution *res = sv_hashmap_get(x->w->resolved, sv_strbuf_str(&key));
        if (!res) {
                _cleanup_(id_list_done) id_list ips = {0};
                if (!(res = calloc(1, sizeof(*res))))
                        return NULL;
                if (peer)
                        resolve_peer_ips(x, o, peer, &ips, res);
                else
                        resolve_target_ips(x, o, &ips, res);
                int r = id_list_finish(&ips);
                if (r >= 0) {
                        res->ids = TAKE_PTR(ips.ids);
                        res->n = (uint32_t)ips.n;
                }
                if (r < 0 || sv_hashmap_put(x->w->resolved, sv_strbuf_str(&key), res, NULL) < 0) {
                        free(res->ids);
                        free(res->reason);
                        free(res->message);
                        free(res);
                        return NULL;
                }
        }
        if (res->reason)
                set_verdict(x, o, res->reason, "%s", res->message ? res->message : "");
        return res;
}

/* The index of res's group of IPs in the state, sharing groups between
 * identical peers. */
static int group_of(ctx *x, const resolution *res, json_int_t *out) {
        char key[32];
        snprintf(key, sizeof(key), "%p", (const void *)res);
        void *found = sv_hashmap_get(x->groups, key);
        if (found) {
                *out = (json_int_t)(uintptr_t)found - 1;
                return 0;
        }
        json_int_t idx = (json_int_t)json_array_size(x->group_list);
        if (json_array_append_new(x->group_list, addresses_json(x, res->ids, res->n)) < 0)
                return -ENOMEM;
        int r = sv_hashmap_put(x->groups, key, (void *)(uintptr_t)(idx + 1), NULL);
        if (r < 0)
                return r;
        *out = idx;
        return 0;
}

/* A policy rule as the compile needs it again: its peers resolved, its ports
 * as the state has them. */
typedef struct memo_rule {
        bool has_peers; /* a rule without "from"/"to" covers every peer */
        size_t n_peers;
        const resolution **peers; /* the cache's */
        json_t *ports;            /* a reference (shared by rules with the same ports), or NULL */
        json_t *http;             /* own copy, or NULL */
} memo_rule;

/* What a ServicePolicy compiled to, kept while neither its spec nor the
 * world (the cache it points into) changes: a change of one policy then
 * neither parses nor resolves the thousand others (~15 ms at 1,000), and it
 * costs ~100 bytes a policy, not the ~2 KB of its part of the state. */
typedef struct policy_memo {
        uint64_t spec_digest;
        int64_t generation;
        bool deny;
        const resolution *targets;
        size_t n_rules[2]; /* ingress, egress */
        memo_rule *rules[2];
        bool has_rules[2];
} policy_memo;

static void policy_memo_free(void *p) {
        policy_memo *m = p;
        if (!m)
                return;
        for (int d = 0; d < 2; d++) {
                for (size_t i = 0; i < m->n_rules[d]; i++) {
                        free(m->rules[d][i].peers);
                        json_decref(m->rules[d][i].ports);
                        json_decref(m->rules[d][i].http);
                }
                free(m->rules[d]);
        }
        free(m);
}

static uint64_t spec_digest(const sv_compile_cache *w, const sv_mesh_object *o) {
        sv_siphash h;
        sv_siphash_init(&h, w->memo_key);
        if (o->spec)
                sv_siphash_update(&h, o->spec, strlen(o->spec));
        return sv_siphash_final(&h);
}

/* A rule's ports as the state has them (protocol defaulted to TCP), shared
 * by every rule with the same ports. */
static json_t *ports_of(ctx *x, const json_t *ports) {
        _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(true);
        _cleanup_json_ json_t *pl = json_array();
        size_t j;
        json_t *p;
        json_array_foreach (ports, j, p) {
                json_t *c = json_deep_copy(p);
                if (c && !json_object_get(c, "protocol"))
                        json_object_set_new(c, "protocol", json_string("TCP"));
                if (json_array_append_new(pl, c) < 0)
                        return NULL;
        }
        _cleanup_free_ char *text = json_dumps(pl, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_(sv_strbuf_done) sv_strbuf key = SV_STRBUF_INIT(65536);
        /* \x02 keeps these keys apart from the texts and ports interned. */
        if (!text || sv_strbuf_appendf(&key, "\x02%s", text) < 0)
                return NULL;
        json_t *shared = sv_hashmap_get(x->strings, sv_strbuf_str(&key));
        if (shared)
                return shared;
        if (sv_hashmap_put(x->strings, sv_strbuf_str(&key), pl, NULL) < 0)
                return NULL;
        return TAKE_PTR(pl);
}

static int memo_rules(ctx *x, const sv_mesh_object *o, json_t *rules, const char *peers_key,
                      size_t *n_out, memo_rule **out) {
        size_t n = json_array_size(rules);
        memo_rule *v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        *out = v; /* freed with the memo, even when incomplete */
        *n_out = n;
        size_t i;
        json_t *rule;
        json_array_foreach (rules, i, rule) {
                json_t *peers = json_object_get(rule, peers_key);
                if (peers) {
                        v[i].has_peers = true;
                        size_t np = json_array_size(peers);
                        if (!(v[i].peers = calloc(np ? np : 1, sizeof(*v[i].peers))))
                                return -ENOMEM;
                        size_t j;
                        json_t *peer;
                        json_array_foreach (peers, j, peer) {
                                const resolution *res = resolve(x, o, peer);
                                if (!res)
                                        return -ENOMEM;
                                v[i].peers[v[i].n_peers++] = res;
                        }
                }
                json_t *ports = json_object_get(rule, "ports");
                if (ports && !(v[i].ports = json_incref(ports_of(x, ports))))
                        return -ENOMEM;
                json_t *http = json_object_get(rule, "http");
                if (http) {
                        _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(true);
                        if (!(v[i].http = json_deep_copy(http)))
                                return -ENOMEM;
                }
        }
        return 0;
}

static policy_memo *policy_memo_build(ctx *x, const sv_mesh_object *o, uint64_t digest) {
        json_t *spec = spec_of(x, o);
        policy_memo *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->spec_digest = digest;
        m->generation = o->generation;
        const char *action = json_string_value(json_object_get(spec, "action"));
        m->deny = action && strcmp(action, "Deny") == 0;
        const char *dir_keys[2] = {"ingress", "egress"}, *peer_keys[2] = {"from", "to"};
        if (!(m->targets = resolve(x, o, NULL))) {
                policy_memo_free(m);
                return NULL;
        }
        for (int d = 0; d < 2; d++) {
                json_t *rules = json_object_get(spec, dir_keys[d]);
                if (!rules)
                        continue;
                m->has_rules[d] = true;
                if (memo_rules(x, o, rules, peer_keys[d], &m->n_rules[d], &m->rules[d]) < 0) {
                        policy_memo_free(m);
                        return NULL;
                }
        }
        return m;
}

/* The memo of o, reused when its spec and generation are the ones it was
 * made from (the cache's memos are dropped with the world). */
static policy_memo *policy_memo_get(ctx *x, const sv_mesh_object *o) {
        uint64_t digest = spec_digest(x->w, o);
        policy_memo *m = sv_hashmap_get(x->w->memos, o->uid);
        if (m && m->spec_digest == digest && m->generation == o->generation) {
                /* Its problems count again, as resolving them again would. */
                if (m->targets->reason)
                        set_verdict(x, o, m->targets->reason, "%s", m->targets->message ?: "");
                for (int d = 0; d < 2; d++)
                        for (size_t i = 0; i < m->n_rules[d]; i++)
                                for (size_t j = 0; j < m->rules[d][i].n_peers; j++) {
                                        const resolution *res = m->rules[d][i].peers[j];
                                        if (res->reason)
                                                set_verdict(x, o, res->reason, "%s",
                                                            res->message ?: "");
                                }
        } else {
                if (!(m = policy_memo_build(x, o, digest)))
                        return NULL;
                void *old = NULL;
                if (sv_hashmap_put(x->w->memos, o->uid, m, &old) < 0) {
                        policy_memo_free(m);
                        return NULL;
                }
                policy_memo_free(old);
        }
        if (sv_hashmap_put(x->memos_used, o->uid, m, NULL) < 0)
                return NULL;
        return m;
}

static json_t *compile_rules(ctx *x, const memo_rule *rules, size_t n) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < n; i++) {
                const memo_rule *mr = &rules[i];
                json_t *r = json_object();
                if (!r || json_array_append_new(out, r) < 0) {
                        json_decref(out);
                        return NULL;
                }
                /* A peer or port left out would change what the rule
                 * means: the whole compile fails instead. */
                bool failed = false;
                if (mr->has_peers) {
                        json_t *ids = json_array();
                        for (size_t j = 0; j < mr->n_peers && !failed; j++) {
                                json_int_t id;
                                failed = group_of(x, mr->peers[j], &id) < 0 ||
                                         json_array_append_new(ids, json_integer(id)) < 0;
                        }
                        failed = json_object_set_new(r, "peers", ids) < 0 || failed;
                }
                if (mr->ports && !failed)
                        failed = json_object_set(r, "ports", mr->ports) < 0;
                if (mr->http && !failed)
                        failed = json_object_set(r, "http", mr->http) < 0;
                if (failed) {
                        json_decref(out);
                        return NULL;
                }
        }
        return out;
}

static json_t *compile_policy(ctx *x, const sv_mesh_object *o) {
        const policy_memo *m = policy_memo_get(x, o);
        if (!m)
                return NULL;
        json_t *p = json_pack("{s:s,s:s,s:s,s:I,s:s,s:o}", "namespace", o->namespace, "name",
                              o->name, "uid", o->uid, "generation", (json_int_t)o->generation,
                              "action", m->deny ? "Deny" : "Allow", "targets",
                              addresses_json(x, m->targets->ids, m->targets->n));
        const char *dir_keys[2] = {"ingress", "egress"};
        for (int d = 0; d < 2 && p; d++)
                if (m->has_rules[d] &&
                    json_object_set_new(p, dir_keys[d],
                                        compile_rules(x, m->rules[d], m->n_rules[d])) < 0)
                        json_decref(TAKE_PTR(p));
        return p;
}

static bool service_exists(ctx *x, const char *ns, const char *name) {
        char key[KEY_MAX];
        snprintf(key, sizeof(key), "%s/%s", ns, name ? name : "");
        return sv_informer_get(x->c->services, key) != NULL;
}

static json_t *compile_split(ctx *x, const sv_mesh_object *o) {
        json_t *spec = spec_of(x, o);
        const char *root = json_string_value(json_object_get(spec, "service"));
        if (!service_exists(x, o->namespace, root)) {
                set_verdict(x, o, "BackendNotFound", "Service %s/%s (the root) not found",
                            o->namespace, root ? root : "");
                return NULL;
        }
        json_t *backends = json_array();
        size_t i;
        json_t *b;
        json_array_foreach (json_object_get(spec, "backends"), i, b) {
                const char *name = json_string_value(json_object_get(b, "service"));
                if (!service_exists(x, o->namespace, name)) {
                        set_verdict(x, o, "BackendNotFound", "Service %s/%s (a backend) not found",
                                    o->namespace, name ? name : "");
                        continue;
                }
                json_array_append(backends, b);
                /* Kept (endpoints may come back), but it gets no traffic now:
                 * the others share its weight, and Ready says so. */
                _cleanup_(id_list_done) id_list ips = {0};
                json_int_t w = json_integer_value(json_object_get(b, "weight"));
                if (w > 0 && service_ips(x, o->namespace, name, false, false, &ips) == 0 &&
                    ips.n == 0 && !ips.failed)
                        set_degraded(x, o, "BackendUnavailable",
                                     "Service %s/%s (a backend) has no ready endpoint: its weight "
                                     "goes to the other backends",
                                     o->namespace, name);
        }
        json_t *matches = json_object_get(spec, "matches");
        const char *mode = json_string_value(json_object_get(spec, "mode"));
        if (!mode || strcmp(mode, "Auto") == 0)
                mode = json_array_size(matches) > 0 ? "Request" : "Connection";
        json_t *s = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:o}", "namespace", o->namespace, "name",
                              o->name, "uid", o->uid, "generation", (json_int_t)o->generation,
                              "service", root, "mode", mode, "backends", backends);
        if (matches)
                json_object_set(s, "matches", matches);
        return s;
}

/* Objects of an informer, sorted by key (namespace/name), for a stable output. */

static int sorted_keys(sv_informer *inf, const char ***out, size_t *n_out) {
        size_t n = sv_informer_size(inf), i = 0, it = 0;
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        const char *k;
        void *item;
        while (i < n && sv_informer_next(inf, &it, &k, &item))
                keys[i++] = k;
        qsort(keys, i, sizeof(*keys), cmp_text);
        *out = keys;
        *n_out = i;
        return 0;
}

/* The oldest TrafficSplit of a root Service owns it (creation time, then name). */
static bool split_conflicts(ctx *x, const sv_mesh_object *o, const sv_mesh_object **owner) {
        const char *root = json_string_value(json_object_get(spec_of(x, o), "service"));
        size_t it = 0;
        const char *k;
        void *item;
        while (sv_informer_next(x->c->splits, &it, &k, &item)) {
                const sv_mesh_object *other = item;
                if (other == o || strcmp(other->namespace, o->namespace) != 0)
                        continue;
                const char *oroot =
                        json_string_value(json_object_get(spec_of(x, other), "service"));
                if (!root || !oroot || strcmp(root, oroot) != 0)
                        continue;
                int c = strcmp(other->creation, o->creation);
                if (c < 0 || (c == 0 && strcmp(other->name, o->name) < 0)) {
                        *owner = other;
                        return true;
                }
        }
        return false;
}

/* A Service port as JSON, shared (borrowed from this compile's map) by every
 * Service with the same port: most have one of a few shapes
 * (http/TCP/80->8080). Not kept past the compile (the Services part is kept
 * packed), so made in the JSON arena. */
static json_t *port_of(ctx *x, const sv_service_port *p) {
        char key[KEY_MAX];
        /* \x01 keeps these keys apart from the interned texts (IPs, names). */
        snprintf(key, sizeof(key), "\x01%s|%s|%u|%u|%s", p->name, p->protocol, p->port,
                 p->target_port, p->target_port_name ? p->target_port_name : "");
        json_t *j = sv_hashmap_get(x->strings, key);
        if (j)
                return j;
        j = p->target_port_name
                    ? json_pack("{s:s,s:s,s:i,s:s}", "name", p->name, "protocol", p->protocol,
                                "port", p->port, "targetPort", p->target_port_name)
                    : json_pack("{s:s,s:s,s:i,s:i}", "name", p->name, "protocol", p->protocol,
                                "port", p->port, "targetPort", p->target_port);
        if (!j)
                return NULL;
        if (sv_hashmap_put(x->strings, key, j, NULL) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

static json_t *compile_services(ctx *x) {
        json_t *out = json_array();
        const char **keys = NULL;
        size_t n = 0;
        if (sorted_keys(x->c->services, &keys, &n) < 0) {
                json_decref(out);
                return NULL;
        }
        bool failed = !out;
        for (size_t i = 0; i < n && !failed; i++) {
                const sv_service *s = sv_informer_get(x->c->services, keys[i]);
                json_t *vips = json_array(), *ports = json_array(), *local = json_array();
                for (unsigned k = 0; k < s->n_cluster_ips; k++)
                        json_array_append(vips, str(x, s->cluster_ips[k]));
                for (unsigned k = 0; k < s->n_ports; k++)
                        json_array_append(ports, port_of(x, &s->ports[k]));
                _cleanup_(id_list_done) id_list ids = {0};
                service_ips(x, s->namespace, s->name, false, false, &ids);
                json_t *eps = id_list_finish(&ids) < 0 ? NULL : addresses_json(x, ids.ids, ids.n);
                for (size_t j = 0; j < ids.n; j++) {
                        const sv_pod *p = x->w->pod_of[ids.ids[j]];
                        if (p && strcmp(sv_pod_node(p), x->c->node) == 0)
                                json_array_append(local, address_json(x, ids.ids[j]));
                }
                json_t *svc = json_pack("{s:O,s:s,s:o,s:o,s:o,s:o}", "namespace",
                                        str(x, s->namespace), "name", s->name, "clusterIPs", vips,
                                        "ports", ports, "endpoints", eps, "localEndpoints", local);
                failed = json_array_append_new(out, svc) < 0;
        }
        free(keys);
        if (failed) {
                json_decref(out);
                return NULL;
        }
        return out;
}

/* identities: {"<namespace>/<serviceaccount>": [IP, ...]}, each IP once,
 * under the identity of the last pod (local ones first, then the others,
 * each by namespace/name) that has it; the IPs sorted. Grouped by identity,
 * 10,000 pods are a few hundred keys instead of 10,000. */
static json_t *group_identities(ctx *x, sv_hashmap *id_of) {
        json_t *ids = json_object();
        size_t it = 0;
        const char *ip;
        void *v;
        while (ids && sv_hashmap_next(id_of, &it, &ip, &v)) {
                const char *id = json_string_value(v);
                json_t *arr = json_object_get(ids, id);
                if (!arr && json_object_set_new(ids, id, arr = json_array()) < 0)
                        arr = NULL;
                if (!arr || json_array_append(arr, str(x, ip)) < 0)
                        json_decref(TAKE_PTR(ids));
        }
        const char *id;
        json_t *arr;
        json_object_foreach (ids, id, arr) {
                /* Replacing a key's value keeps the object's iteration valid. */
                if (sv_json_array_sort_strings(arr) < 0 ||
                    json_object_set_new(ids, id, sv_json_array_compact(arr)) < 0) {
                        json_decref(ids);
                        return NULL;
                }
        }
        return ids;
}

/* The pod's identity, "<namespace>/<serviceaccount>" (borrowed). */
static json_t *identity_of(ctx *x, const sv_pod *p) {
        char id[KEY_MAX];
        snprintf(id, sizeof(id), "%s/%s", sv_pod_namespace(p), sv_pod_service_account(p));
        return str(x, id);
}

static json_t *compile_identities(ctx *x) {
        _cleanup_(sv_hashmap_freep) sv_hashmap *id_of = NULL; /* ip -> identity (borrowed) */
        if (sv_hashmap_new(&id_of) < 0)
                return NULL;
        for (int which = 0; which < 2; which++) {
                sv_informer *inf = which == 0 ? x->c->local_pods : x->c->remote_pods;
                _cleanup_free_ const char **keys = NULL;
                size_t n = 0;
                if (sorted_keys(inf, &keys, &n) < 0)
                        return NULL;
                for (size_t i = 0; i < n; i++) {
                        const sv_pod *p = effective(x, sv_informer_get(inf, keys[i]));
                        json_t *id = p->n_ips ? identity_of(x, p) : NULL;
                        for (unsigned k = 0; k < p->n_ips; k++)
                                if (!id ||
                                    sv_hashmap_put(id_of, sv_pod_ip(p, k), id, NULL) == -ENOMEM)
                                        return NULL;
                }
        }
        return group_identities(x, id_of);
}

/* Built in each compile: kept, the 2,500 local pods of a node of a 10,000
 * pod cluster cost ~1.6 MB as jansson objects. */
static json_t *compile_local_pods(ctx *x) {
        json_t *local = json_array();
        _cleanup_free_ const char **keys = NULL;
        size_t n = 0;
        if (!local || sorted_keys(x->c->local_pods, &keys, &n) < 0) {
                json_decref(local);
                return NULL;
        }
        for (size_t i = 0; i < n; i++) {
                const sv_pod *p = effective(x, sv_informer_get(x->c->local_pods, keys[i]));
                if (p->n_ips == 0)
                        continue;
                json_t *ips = json_array();
                for (unsigned k = 0; k < p->n_ips; k++)
                        json_array_append(ips, str(x, sv_pod_ip(p, k)));
                if (json_array_append_new(local, json_pack("{s:O,s:s,s:O,s:o}", "namespace",
                                                           str(x, sv_pod_namespace(p)), "name",
                                                           sv_pod_name(p), "identity",
                                                           identity_of(x, p), "ips", ips)) < 0) {
                        json_decref(local);
                        return NULL;
                }
        }
        return local;
}

/* Memos of policies this compile did not see (deleted) are freed; the
 * cache keeps those it did. */
static void drop_unused_memos(ctx *x) {
        size_t it = 0;
        const char *uid;
        void *m;
        while (sv_hashmap_next(x->w->memos, &it, &uid, &m))
                if (sv_hashmap_get(x->memos_used, uid) != m)
                        policy_memo_free(m);
        sv_hashmap_free(x->w->memos);
        x->w->memos = TAKE_PTR(x->memos_used);
}

static json_t *unpack_part(const sv_packed_text *p) {
        _cleanup_free_ char *text = NULL;
        if (sv_text_unpack(p, &text) < 0)
                return NULL;
        return json_loadb(text, p->text_len, 0, NULL);
}

static int pack_part(const json_t *part, sv_packed_text *out) {
        _cleanup_free_ char *text = json_dumps(part, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        return sv_text_pack(text, strlen(text), out);
}

/* Best effort: a part not kept is built again by the next compile. */
static void keep_parts(sv_compile_cache *w, const json_t *identities, const json_t *services) {
        sv_packed_text i = {0}, s = {0};
        if (pack_part(identities, &i) < 0 || pack_part(services, &s) < 0) {
                sv_packed_text_done(&i);
                sv_packed_text_done(&s);
                return;
        }
        w->identities = i;
        w->services = s;
}

/* Indexes from the informers, from which the pods and Services parts of the
 * state are built. */
static int build_world(ctx *x) {
        sv_compile_cache *w = x->w;
        int r;
        if ((r = sv_hashmap_new(&w->pods_by_ns)) < 0 ||
            (r = sv_hashmap_new(&w->slices_by_service)) < 0 ||
            (r = sv_hashmap_new(&w->resolved)) < 0 || (r = sv_hashmap_new(&w->memos)) < 0)
                return r;
        if ((r = index_attachments(x)) < 0 || (r = index_pods(x, x->c->local_pods)) < 0 ||
            (r = index_pods(x, x->c->remote_pods)) < 0 || (r = index_slices(x)) < 0 ||
            (r = index_addresses(x)) < 0)
                return r;
        free(TAKE_PTR(x->indexed));
        x->n_indexed = x->cap_indexed = 0;
        trim_lists(w->pods_by_ns);
        trim_lists(w->slices_by_service);
        w->built = true;
        return 0;
}

int sv_compile(const sv_caches *caches, sv_compile_cache *cache, json_t **state_out,
               json_t **verdicts_out, sv_error *err) {
        _cleanup_(sv_compile_cache_freep) sv_compile_cache *own = NULL;
        if (!cache && sv_compile_cache_new(&own) < 0)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");
        _cleanup_(ctx_done) ctx x = {.c = caches, .w = cache ? cache : own};
        int r;
        if ((r = sv_hashmap_new(&x.groups)) < 0 || (r = sv_hashmap_new(&x.specs)) < 0 ||
            (r = sv_hashmap_new(&x.strings)) < 0 || (r = sv_hashmap_new(&x.memos_used)) < 0)
                return sv_errorf(err, r, SV_CODE_INTERNAL, "out of memory");
        x.group_list = json_array();
        x.verdicts = json_object();
        if (!x.group_list || !x.verdicts)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");
        if (!x.w->built && (r = build_world(&x)) < 0) {
                sv_compile_cache_invalidate(x.w);
                return sv_errorf(err, r, SV_CODE_INTERNAL, "indexing the caches failed");
        }
        if (!(x.ip_strings = calloc(x.w->n_ips ? x.w->n_ips : 1, sizeof(*x.ip_strings))))
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");

        json_t *identities = NULL, *services = NULL;
        if (x.w->services.data) {
                identities = unpack_part(&x.w->identities);
                services = unpack_part(&x.w->services);
        }
        if (!identities || !services) {
                json_decref(identities);
                json_decref(services);
                identities = compile_identities(&x);
                services = compile_services(&x);
                if (identities && services && !x.w->services.data)
                        keep_parts(x.w, identities, services);
        }
        json_t *local_pods = compile_local_pods(&x);
        json_t *policies = json_array(), *splits = json_array(), *objects = json_array();
        json_t *state = json_object();
        if (!local_pods || !identities || !services)
                r = -ENOMEM;
        for (int which = 0; which < 2; which++) {
                sv_informer *inf = which == 0 ? caches->policies : caches->splits;
                const char **keys = NULL;
                size_t n = 0;
                if (r < 0 || (r = sorted_keys(inf, &keys, &n)) < 0)
                        break;
                for (size_t i = 0; i < n; i++) {
                        const sv_mesh_object *o = sv_informer_get(inf, keys[i]);
                        json_object_set_new(x.verdicts, o->uid,
                                            json_pack("{s:b,s:s,s:s,s:I}", "accepted", 1, "reason",
                                                      "Accepted", "message", "", "generation",
                                                      (json_int_t)o->generation));
                        const sv_mesh_object *owner = NULL;
                        json_t *entry = NULL;
                        if (which == 0) {
                                /* A policy left out would be a half state. */
                                entry = compile_policy(&x, o);
                                forget_spec(&x, o);
                                if (json_array_append_new(policies, entry) < 0) {
                                        r = -ENOMEM;
                                        break;
                                }
                        } else if (split_conflicts(&x, o, &owner)) {
                                set_verdict(&x, o, "Conflicted",
                                            "TrafficSplit %s is older and owns Service %s/%s",
                                            owner->name, o->namespace,
                                            json_string_value(
                                                    json_object_get(spec_of(&x, o), "service")));
                        } else if ((entry = compile_split(&x, o))) {
                                json_array_append_new(splits, entry);
                        }
                        if (entry)
                                json_array_append_new(
                                        objects,
                                        json_pack("{s:s,s:s,s:s,s:s,s:I}", "kind",
                                                  sv_mesh_kind_name(o->kind), "namespace",
                                                  o->namespace, "name", o->name, "uid", o->uid,
                                                  "generation", (json_int_t)o->generation));
                }
                free(keys);
        }
        if (r >= 0)
                drop_unused_memos(&x);
        json_object_set_new(state, "version", json_integer(SV_STATE_VERSION));
        json_object_set_new(state, "node", json_string(caches->node));
        json_object_set_new(state, "localPods", local_pods);
        json_object_set_new(state, "identities", identities);
        json_object_set_new(state, "services", services);
        json_object_set(state, "peerGroups", x.group_list);
        json_object_set_new(state, "policies", policies);
        json_object_set_new(state, "splits", splits);
        json_object_set_new(state, "objects", objects);
        if (r < 0) {
                json_decref(state);
                return sv_errorf(err, r < 0 ? r : -ENOMEM, SV_CODE_INTERNAL, "compile failed");
        }
        *state_out = state;
        *verdicts_out = TAKE_PTR(x.verdicts);
        return 0;
}
