/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/flows.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/hashmap.h"

int sv_flow_from_ct(const sv_ct_entry *e, sv_flow *out) {
        if (!e || !out || (e->family != AF_INET && e->family != AF_INET6))
                return -EINVAL;
        sv_flow f = {.family = e->family, .proto = e->proto, .dport = e->reply.sport};
        if (!inet_ntop(e->family, e->orig.src, f.src, sizeof(f.src)) ||
            !inet_ntop(e->family, e->reply.src, f.dst, sizeof(f.dst)))
                return -EINVAL;
        *out = f;
        return 0;
}

/* ---- aggregation ------------------------------------------------------ */

typedef struct pair {
        char *source, *destination;
        uint64_t bytes, connections;
        sv_metric *m_bytes, *m_connections;
} pair;

/* A live connection we counted: its pair and the bytes counted so far. */
typedef struct tracked {
        pair *pair;
        uint64_t bytes;
        uint32_t dump; /* the last dump that showed it */
} tracked;

struct sv_flow_agg {
        sv_flow_agg_config cfg;
        sv_hashmap *pairs;   /* pair_key(source, destination) -> pair */
        sv_hashmap *tracked; /* conn_key -> tracked */
        uint32_t dump;       /* the dump under way (sweeps count them) */
        uint64_t vanished, untracked;
};

static pair *pair_free(pair *p) {
        if (!p)
                return NULL;
        free(p->source);
        free(p->destination);
        free(p);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(pair *, pair_free);

int sv_flow_agg_new(const sv_flow_agg_config *cfg, sv_flow_agg **out) {
        if (!cfg || !cfg->lookup || !out || cfg->max_series == 1)
                return -EINVAL;
        _cleanup_(sv_flow_agg_freep) sv_flow_agg *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->cfg = *cfg;
        if (!a->cfg.max_series)
                a->cfg.max_series = SV_FLOW_SERIES_MAX;
        if (!a->cfg.max_tracked)
                a->cfg.max_tracked = SV_FLOW_TRACKED_MAX;
        int r = sv_hashmap_new(&a->pairs);
        if (r < 0 || (r = sv_hashmap_new(&a->tracked)) < 0)
                return r;
        *out = TAKE_PTR(a);
        return 0;
}

sv_flow_agg *sv_flow_agg_free(sv_flow_agg *a) {
        if (!a)
                return NULL;
        size_t it = 0;
        void *v;
        while (sv_hashmap_next(a->pairs, &it, NULL, &v))
                pair_free(v);
        sv_hashmap_free(a->pairs);
        it = 0;
        while (sv_hashmap_next(a->tracked, &it, NULL, &v))
                free(v);
        sv_hashmap_free(a->tracked);
        free(a);
        return NULL;
}

size_t sv_flow_agg_pairs(const sv_flow_agg *a) {
        return a ? sv_hashmap_size(a->pairs) : 0;
}

int sv_flow_agg_foreach(const sv_flow_agg *a, int (*fn)(const sv_flow_total *t, void *userdata),
                        void *userdata) {
        if (!a || !fn)
                return -EINVAL;
        size_t it = 0;
        void *v;
        while (sv_hashmap_next(a->pairs, &it, NULL, &v)) {
                const pair *p = v;
                sv_flow_total t = {.source = p->source,
                                   .destination = p->destination,
                                   .bytes = p->bytes,
                                   .connections = p->connections};
                int r = fn(&t, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* An unambiguous map key for a pair: the source's length, then both names. */
static int pair_key(const char *source, const char *destination, char *buf, size_t size) {
        int n = snprintf(buf, size, "%zu:%s%s", strlen(source), source, destination);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

#define PAIR_KEY_MAX (2 * SV_FLOW_NAME_MAX + 24)

static pair *find_pair(const sv_flow_agg *a, const char *source, const char *destination) {
        char key[PAIR_KEY_MAX];
        if (pair_key(source, destination, key, sizeof(key)) < 0)
                return NULL;
        return sv_hashmap_get(a->pairs, key);
}

static const char *const labels_help[] = {
        "Bytes of L4 flows (both directions), by source workload and destination service.",
        "L4 connections opened, by source workload and destination service.",
};

/* Creates a pair and registers its counters. The pair is kept even when a
 * registration fails (it then exports less); that error is returned in
 * *reg_error. */
static int new_pair(sv_flow_agg *a, const char *source, const char *destination, pair **out,
                    int *reg_error) {
        char key[PAIR_KEY_MAX];
        int r = pair_key(source, destination, key, sizeof(key));
        if (r < 0)
                return r;
        _cleanup_(pair_freep) pair *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->source = strdup(source);
        p->destination = strdup(destination);
        if (!p->source || !p->destination)
                return -ENOMEM;
        if (a->cfg.metrics) {
                const char *const *labels = SV_LABELS("source", source, "destination", destination);
                r = sv_metrics_counter(a->cfg.metrics, "selvedge_l4_bytes_total", labels_help[0],
                                       labels, &p->m_bytes);
                if (r >= 0)
                        r = sv_metrics_counter(a->cfg.metrics, "selvedge_l4_connections_total",
                                               labels_help[1], labels, &p->m_connections);
                if (r < 0 && *reg_error == 0)
                        *reg_error = r;
        }
        r = sv_hashmap_put(a->pairs, key, p, NULL);
        if (r < 0)
                return r;
        *out = TAKE_PTR(p);
        return 0;
}

/* The pair a flow named (source, destination) counts in, created if there is
 * room (see sv_flow_agg_config.max_series). */
static int pair_for(sv_flow_agg *a, const char *source, const char *destination, pair **out,
                    int *reg_error) {
        pair *p = find_pair(a, source, destination);
        if (p) {
                *out = p;
                return 0;
        }
        size_t n = sv_hashmap_size(a->pairs);
        /* One place stays free for (other, other). */
        if (n + 1 < a->cfg.max_series) {
                int r = new_pair(a, source, destination, out, reg_error);
                if (r != -ENAMETOOLONG)
                        return r;
        }
        p = find_pair(a, SV_FLOW_OTHER, destination);
        if (!p)
                p = find_pair(a, SV_FLOW_OTHER, SV_FLOW_OTHER);
        if (p) {
                *out = p;
                return 0;
        }
        return new_pair(a, SV_FLOW_OTHER, SV_FLOW_OTHER, out, reg_error);
}

/* The kernel's id of an entry, with what of its tuple makes a reused id
 * (same memory, same addresses) tell itself apart. */
static int conn_key(const sv_ct_entry *e, char *buf, size_t size) {
        int n = snprintf(buf, size, "%x/%d/%u/%u/%u", e->id, e->family, e->proto, e->orig.sport,
                         e->orig.dport);
        return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

static void count(pair *p, uint64_t bytes, uint64_t connections) {
        p->bytes += bytes;
        p->connections += connections;
        if (bytes && p->m_bytes)
                (void)sv_metric_add(p->m_bytes, (double)bytes);
        if (connections && p->m_connections)
                (void)sv_metric_add(p->m_connections, (double)connections);
}

/* The pair of a connection seen for the first time; NULL when the lookup says
 * it is not ours. */
static int pair_of(sv_flow_agg *a, const sv_ct_entry *e, pair **out, int *reg_error) {
        sv_flow f;
        char source[SV_FLOW_NAME_MAX] = "", destination[SV_FLOW_NAME_MAX] = "";
        if (sv_flow_from_ct(e, &f) < 0 ||
            a->cfg.lookup(&f, source, destination, a->cfg.userdata) < 0) {
                *out = NULL;
                return 0;
        }
        source[sizeof(source) - 1] = '\0';
        destination[sizeof(destination) - 1] = '\0';
        return pair_for(a, source, destination, out, reg_error);
}

int sv_flow_agg_observe(sv_flow_agg *a, const sv_ct_entry *e) {
        if (!a || !e)
                return -EINVAL;
        char key[64];
        int r = conn_key(e, key, sizeof(key));
        if (r < 0)
                return r;
        uint64_t bytes = e->has_counters ? e->bytes[0] + e->bytes[1] : 0;
        tracked *t = sv_hashmap_get(a->tracked, key);
        if (t && !e->has_counters && !e->destroyed) {
                /* A sighting without counters (a NEW event, which may come
                 * after a dump already showed the entry): nothing to add. */
                t->dump = a->dump;
                return 0;
        }
        if (t && bytes < t->bytes) {
                /* Counters that went down: another entry under a reused id. */
                (void)sv_hashmap_remove(a->tracked, key, NULL);
                free(t);
                t = NULL;
        }
        if (t) {
                count(t->pair, bytes - t->bytes, 0);
                if (e->destroyed) {
                        (void)sv_hashmap_remove(a->tracked, key, NULL);
                        free(t);
                } else {
                        t->bytes = bytes;
                        t->dump = a->dump;
                }
                return 0;
        }

        /* First sight. Over the cap, a live entry waits for its destroy
         * event to be counted whole: counting it now without remembering it
         * would count it again at the next dump. */
        if (!e->destroyed && sv_hashmap_size(a->tracked) >= a->cfg.max_tracked) {
                a->untracked++;
                return 0;
        }
        int reg_error = 0;
        pair *p;
        if ((r = pair_of(a, e, &p, &reg_error)) < 0)
                return r;
        if (!p)
                return 0;
        count(p, bytes, 1);
        if (e->destroyed)
                return reg_error;
        _cleanup_free_ tracked *n = malloc(sizeof(*n));
        if (!n)
                return -ENOMEM;
        *n = (tracked){.pair = p, .bytes = bytes, .dump = a->dump};
        if ((r = sv_hashmap_put(a->tracked, key, n, NULL)) < 0)
                return r;
        TAKE_PTR(n);
        return reg_error;
}

size_t sv_flow_agg_sweep(sv_flow_agg *a) {
        if (!a)
                return 0;
        size_t it = 0, n = 0, gone = 0;
        const char *k;
        void *v;
        /* A removal shifts entries (see sv_hashmap_next): collect, then remove. */
        _cleanup_free_ char **keys = NULL;
        while (sv_hashmap_next(a->tracked, &it, &k, &v)) {
                if (((tracked *)v)->dump == a->dump)
                        continue;
                char **nk = reallocarray(keys, n + 1, sizeof(*keys));
                if (!nk)
                        break; /* the rest waits for the next sweep */
                keys = nk;
                if (!(keys[n] = strdup(k)))
                        break;
                n++;
        }
        for (size_t i = 0; i < n; i++) {
                if (sv_hashmap_remove(a->tracked, keys[i], &v) == 0) {
                        free(v);
                        gone++;
                }
                free(keys[i]);
        }
        a->vanished += gone;
        a->dump++;
        return gone;
}

void sv_flow_agg_get_stats(const sv_flow_agg *a, sv_flow_agg_stats *out) {
        if (!out)
                return;
        *out = a ? (sv_flow_agg_stats){.tracked = sv_hashmap_size(a->tracked),
                                       .vanished = a->vanished,
                                       .untracked = a->untracked}
                 : (sv_flow_agg_stats){0};
}
