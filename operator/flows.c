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

/* Key layouts: address . address . protocol . port, each padded to 4 bytes. */
#define KEY4_LEN (4 + 4 + 4 + 4)
#define KEY6_LEN (16 + 16 + 4 + 4)

int sv_flow_decode_key(const uint8_t *key, size_t len, sv_flow *out) {
        if (!key || !out)
                return -EINVAL;
        size_t alen;
        int family;
        if (len == KEY4_LEN) {
                alen = 4;
                family = AF_INET;
        } else if (len == KEY6_LEN) {
                alen = 16;
                family = AF_INET6;
        } else {
                return -EINVAL;
        }
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
        if (!inet_ntop(family, key, src, sizeof(src)) ||
            !inet_ntop(family, key + alen, dst, sizeof(dst)))
                return -EINVAL;
        const uint8_t *p = key + 2 * alen;
        out->family = family;
        memcpy(out->src, src, sizeof(src));
        memcpy(out->dst, dst, sizeof(dst));
        out->proto = p[0];
        out->dport = (uint16_t)((p[4] << 8) | p[5]); /* network order */
        return 0;
}

struct read_walk {
        sv_flow_cb cb;
        void *userdata;
};

static int elem_to_flow(const sv_nft_elem *e, void *data) {
        struct read_walk *w = data;
        sv_flow f = {0};
        if (!e->has_counter || sv_flow_decode_key(e->key, e->key_len, &f) < 0)
                return 0;
        f.packets = e->packets;
        f.bytes = e->bytes;
        return w->cb(&f, w->userdata);
}

int sv_flows_read(sv_nft_ctx *ctx, const char *table, const char *set, sv_flow_cb cb,
                  void *userdata, sv_nft_set_id *id) {
        if (!cb)
                return -EINVAL;
        struct read_walk w = {.cb = cb, .userdata = userdata};
        return sv_nft_set_elems(ctx, NFPROTO_INET, table, set, elem_to_flow, &w, id);
}

/* ---- aggregation ------------------------------------------------------ */

/* What a set's element held at the last read. */
typedef struct last_seen {
        uint64_t packets, bytes;
} last_seen;

/* What the aggregator remembers of one set: the values of its last read. The
 * entries of `keys` point into `values`. */
typedef struct set_state {
        char *name;
        bool have_id;
        sv_nft_set_id id;
        sv_hashmap *keys;
        last_seen *values;
} set_state;

typedef struct pair {
        char *source, *destination;
        uint64_t bytes, connections;
        sv_metric *m_bytes, *m_connections;
} pair;

#define MAX_SETS 16

struct sv_flow_agg {
        sv_flow_agg_config cfg;
        set_state sets[MAX_SETS];
        size_t n_sets;
        sv_hashmap *pairs; /* pair_key(source, destination) -> pair */
};

static void set_state_clear(set_state *s) {
        s->keys = sv_hashmap_free(s->keys);
        free(s->values);
        s->values = NULL;
}

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
        int r = sv_hashmap_new(&a->pairs);
        if (r < 0)
                return r;
        *out = TAKE_PTR(a);
        return 0;
}

sv_flow_agg *sv_flow_agg_free(sv_flow_agg *a) {
        if (!a)
                return NULL;
        for (size_t i = 0; i < a->n_sets; i++) {
                set_state_clear(&a->sets[i]);
                free(a->sets[i].name);
        }
        size_t it = 0;
        void *v;
        while (sv_hashmap_next(a->pairs, &it, NULL, &v))
                pair_free(v);
        sv_hashmap_free(a->pairs);
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

static set_state *set_for(sv_flow_agg *a, const char *name) {
        for (size_t i = 0; i < a->n_sets; i++)
                if (strcmp(a->sets[i].name, name) == 0)
                        return &a->sets[i];
        if (a->n_sets == MAX_SETS)
                return NULL;
        set_state *s = &a->sets[a->n_sets];
        *s = (set_state){.name = strdup(name)};
        if (!s->name)
                return NULL;
        a->n_sets++;
        return s;
}

static int flow_key(const sv_flow *f, char *buf, size_t size) {
        int n = snprintf(buf, size, "%d %s %s %u %u", f->family, f->src, f->dst, f->proto,
                         f->dport);
        return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

/* Counts what one flow added since the last read. */
static int count_flow(sv_flow_agg *a, enum sv_flow_kind kind, const sv_flow *f,
                      const last_seen *old, int *reg_error) {
        uint64_t dp = f->packets, db = f->bytes;
        /* A counter that went down belongs to a new element: count it whole. */
        if (old && f->packets >= old->packets && f->bytes >= old->bytes) {
                dp -= old->packets;
                db -= old->bytes;
        }
        uint64_t delta = kind == SV_FLOW_BYTES ? db : dp;
        if (delta == 0)
                return 0;

        char source[SV_FLOW_NAME_MAX] = "", destination[SV_FLOW_NAME_MAX] = "";
        if (a->cfg.lookup(f, source, destination, a->cfg.userdata) < 0)
                return 0;
        source[sizeof(source) - 1] = '\0';
        destination[sizeof(destination) - 1] = '\0';

        pair *p = NULL;
        int r = pair_for(a, source, destination, &p, reg_error);
        if (r < 0)
                return r;
        if (kind == SV_FLOW_BYTES) {
                p->bytes += delta;
                if (p->m_bytes)
                        (void)sv_metric_add(p->m_bytes, (double)delta);
        } else {
                p->connections += delta;
                if (p->m_connections)
                        (void)sv_metric_add(p->m_connections, (double)delta);
        }
        return 0;
}

int sv_flow_agg_feed(sv_flow_agg *a, const char *set, enum sv_flow_kind kind,
                     const sv_nft_set_id *id, const sv_flow *flows, size_t n) {
        if (!a || !set || (n && !flows) || (kind != SV_FLOW_BYTES && kind != SV_FLOW_CONNECTIONS))
                return -EINVAL;
        set_state *s = set_for(a, set);
        if (!s)
                return -ENOMEM;
        /* Another instance of the set: nothing of what we saw is in it. */
        bool same = s->keys && (id ? s->have_id && s->id.table_handle == id->table_handle &&
                                                s->id.set_handle == id->set_handle
                                   : !s->have_id);
        if (!same)
                set_state_clear(s);

        if (n > SV_FLOW_KEYS_MAX)
                n = SV_FLOW_KEYS_MAX; /* the rest is not counted */
        _cleanup_(sv_hashmap_freep) sv_hashmap *keys = NULL;
        _cleanup_free_ last_seen *values = calloc(n ? n : 1, sizeof(*values));
        int r = values ? sv_hashmap_new(&keys) : -ENOMEM;
        int error = 0, reg_error = 0;
        size_t kept = 0;

        for (size_t i = 0; i < n; i++) {
                const sv_flow *f = &flows[i];
                char key[128];
                if (flow_key(f, key, sizeof(key)) < 0)
                        continue;
                /* A key twice in one read (not from a kernel set) counts once. */
                if (keys && sv_hashmap_get(keys, key))
                        continue;
                const last_seen *old = s->keys ? sv_hashmap_get(s->keys, key) : NULL;
                int q = count_flow(a, kind, f, old, &reg_error);
                if (q < 0 && error == 0)
                        error = q;
                if (r < 0)
                        continue; /* not remembered: counted whole next time */
                values[kept] = (last_seen){.packets = f->packets, .bytes = f->bytes};
                q = sv_hashmap_put(keys, key, &values[kept], NULL);
                if (q < 0) {
                        if (error == 0)
                                error = q;
                        continue;
                }
                kept++;
        }

        set_state_clear(s);
        if (r >= 0) {
                s->keys = TAKE_PTR(keys);
                s->values = TAKE_PTR(values);
        } else if (error == 0) {
                error = r;
        }
        s->have_id = id != NULL;
        if (id)
                s->id = *id;
        return error ? error : reg_error;
}

/* ---- reading the kernel's sets ---------------------------------------- */

typedef struct flow_vec {
        sv_flow *v;
        size_t n, alloc;
} flow_vec;

static int collect(const sv_flow *f, void *data) {
        flow_vec *fv = data;
        if (fv->n == SV_FLOW_KEYS_MAX)
                return 0;
        if (fv->n == fv->alloc) {
                size_t a = fv->alloc ? 2 * fv->alloc : 64;
                sv_flow *p = reallocarray(fv->v, a, sizeof(*p));
                if (!p)
                        return -ENOMEM;
                fv->v = p;
                fv->alloc = a;
        }
        fv->v[fv->n++] = *f;
        return 0;
}

static int read_one(sv_flow_agg *a, sv_nft_ctx *ctx, const char *table, const char *set,
                    enum sv_flow_kind kind) {
        flow_vec fv = {0};
        sv_nft_set_id id;
        int r = -EAGAIN;
        for (int attempt = 0; attempt < 2 && r == -EAGAIN; attempt++) {
                fv.n = 0;
                r = sv_flows_read(ctx, table, set, collect, &fv, &id);
        }
        if (r == -ENOENT) /* no such set: it holds nothing */
                r = sv_flow_agg_feed(a, set, kind, NULL, NULL, 0);
        else if (r >= 0)
                r = sv_flow_agg_feed(a, set, kind, &id, fv.v, fv.n);
        free(fv.v);
        return r;
}

int sv_flow_agg_read(sv_flow_agg *a, sv_nft_ctx *ctx, const char *table) {
        static const struct {
                const char *set;
                enum sv_flow_kind kind;
        } sets[] = {
                {"flows4", SV_FLOW_BYTES},
                {"flows6", SV_FLOW_BYTES},
                {"conns4", SV_FLOW_CONNECTIONS},
                {"conns6", SV_FLOW_CONNECTIONS},
        };
        if (!a || !ctx || !table)
                return -EINVAL;
        int error = 0;
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                int r = read_one(a, ctx, table, sets[i].set, sets[i].kind);
                if (r < 0 && error == 0)
                        error = r;
        }
        return error;
}
