/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/addrbook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"

/* The book owns its strings: holding the state instead would keep the whole
 * applied state (policies, groups: megabytes at 10,000 pods) alive between
 * applies for the few names it needs. Each name is stored once, however many
 * addresses carry it. While the book is built an address is 16 bytes (IPv4
 * as IPv4-mapped IPv6) with a rank; once built, IPv4 and IPv6 addresses are
 * in sorted arrays of their own: 8 bytes per IPv4 address (20 per IPv6)
 * where a hash map of the address texts took ~55. */
typedef struct entry {
        uint8_t addr[16];
        uint32_t name; /* index into the book's names */
        uint32_t rank; /* of several entries for one address, the lowest wins */
} entry;

typedef struct entry4 {
        uint32_t addr; /* host order, so that numbers sort as the bytes do */
        uint32_t name;
} entry4;

typedef struct entry6 {
        uint8_t addr[16];
        uint32_t name;
} entry6;

typedef struct entries {
        entry *v; /* while the book is built */
        size_t n, cap;
        entry4 *v4; /* once built */
        size_t n4;
        entry6 *v6;
        size_t n6;
} entries;

static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

struct sv_addrbook {
        char **identities; /* "namespace/serviceaccount", each once */
        size_t n_identities;
        char **services; /* "namespace/name", in the state's order */
        size_t n_services;
        entries workloads; /* address -> identity */
        entries endpoints; /* address -> Service */
        entries local;     /* addresses of this node's pods (names unused) */
};

sv_addrbook *sv_addrbook_free(sv_addrbook *ab) {
        if (!ab)
                return NULL;
        for (size_t i = 0; i < ab->n_identities; i++)
                free(ab->identities[i]);
        for (size_t i = 0; i < ab->n_services; i++)
                free(ab->services[i]);
        free(ab->identities);
        free(ab->services);
        entries *all[] = {&ab->workloads, &ab->endpoints, &ab->local};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                entries *es = all[i];
                free(es->v);
                free(es->v4);
                free(es->v6);
        }
        free(ab);
        return NULL;
}

static bool parse_addr(const char *text, uint8_t out[16]) {
        struct in_addr v4;
        if (!text)
                return false;
        if (inet_pton(AF_INET, text, &v4) == 1) {
                memcpy(out, v4_mapped, sizeof(v4_mapped));
                memcpy(out + 12, &v4, 4);
                return true;
        }
        return inet_pton(AF_INET6, text, out) == 1;
}

static int entries_add(entries *es, const char *ip, uint32_t name, uint32_t rank) {
        uint8_t addr[16];
        if (!parse_addr(ip, addr))
                return 0; /* not an address: nothing will be looked up by it */
        if (es->n == es->cap) {
                size_t cap = es->cap ? es->cap * 2 : 64;
                entry *v = reallocarray(es->v, cap, sizeof(entry));
                if (!v)
                        return -ENOMEM;
                es->v = v;
                es->cap = cap;
        }
        entry *e = &es->v[es->n++];
        memcpy(e->addr, addr, sizeof(addr));
        e->name = name;
        e->rank = rank;
        return 0;
}

static int addr_cmp(const void *a, const void *b) {
        return memcmp(((const entry *)a)->addr, ((const entry *)b)->addr,
                      sizeof(((entry *)0)->addr));
}

/* By address, then rank, then name index (the order names were added in). */
static int entry_cmp(const void *a, const void *b) {
        const entry *x = a, *y = b;
        int c = addr_cmp(x, y);
        if (c)
                return c;
        if (x->rank != y->rank)
                return x->rank < y->rank ? -1 : 1;
        return (x->name > y->name) - (x->name < y->name);
}

static bool is_v4(const uint8_t addr[16]) {
        return memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0;
}

static uint32_t v4_of(const uint8_t addr[16]) {
        return (uint32_t)addr[12] << 24 | (uint32_t)addr[13] << 16 | (uint32_t)addr[14] << 8 |
               addr[15];
}

/* Sorted; of the entries of one address, the first is kept; then moved into
 * the compact arrays. */
static int entries_finish(entries *es) {
        if (es->n == 0)
                return 0;
        qsort(es->v, es->n, sizeof(entry), entry_cmp);
        size_t w = 1, n4 = 0;
        for (size_t i = 1; i < es->n; i++)
                if (addr_cmp(&es->v[i], &es->v[w - 1]) != 0)
                        es->v[w++] = es->v[i];
        for (size_t i = 0; i < w; i++)
                n4 += is_v4(es->v[i].addr);
        entry4 *v4 = calloc(n4 ? n4 : 1, sizeof(*v4));
        entry6 *v6 = calloc(w - n4 ? w - n4 : 1, sizeof(*v6));
        if (!v4 || !v6) {
                free(v4);
                free(v6);
                return -ENOMEM;
        }
        /* IPv4-mapped addresses sort together, so each array stays sorted. */
        size_t a = 0, b = 0;
        for (size_t i = 0; i < w; i++) {
                const entry *e = &es->v[i];
                if (is_v4(e->addr)) {
                        v4[a++] = (entry4){.addr = v4_of(e->addr), .name = e->name};
                } else {
                        memcpy(v6[b].addr, e->addr, sizeof(v6[b].addr));
                        v6[b++].name = e->name;
                }
        }
        free(es->v);
        *es = (entries){.v4 = v4, .n4 = a, .v6 = v6, .n6 = b};
        return 0;
}

static int entry4_cmp(const void *a, const void *b) {
        uint32_t x = ((const entry4 *)a)->addr, y = ((const entry4 *)b)->addr;
        return (x > y) - (x < y);
}

static int entry6_cmp(const void *a, const void *b) {
        return memcmp(((const entry6 *)a)->addr, ((const entry6 *)b)->addr,
                      sizeof(((entry6 *)0)->addr));
}

/* The name index of ip, or -ENOENT. */
static int entries_find(const entries *es, const char *ip, uint32_t *name) {
        uint8_t addr[16];
        if (!parse_addr(ip, addr))
                return -ENOENT;
        if (is_v4(addr)) {
                entry4 key = {.addr = v4_of(addr)};
                const entry4 *e =
                        es->n4 ? bsearch(&key, es->v4, es->n4, sizeof(key), entry4_cmp) : NULL;
                if (!e)
                        return -ENOENT;
                *name = e->name;
                return 0;
        }
        entry6 key = {0};
        memcpy(key.addr, addr, sizeof(key.addr));
        const entry6 *e = es->n6 ? bsearch(&key, es->v6, es->n6, sizeof(key), entry6_cmp) : NULL;
        if (!e)
                return -ENOENT;
        *name = e->name;
        return 0;
}

/* Appends name (owned from here on, freed on failure; NULL is -ENOMEM) to a
 * list of names; *at is its index. */
static int names_push(char ***names, size_t *n, size_t *cap, char *name, uint32_t *at) {
        _cleanup_free_ char *owned = name;
        if (!owned)
                return -ENOMEM;
        if (*n >= UINT32_MAX)
                return -ENOSPC;
        if (*n == *cap) {
                size_t grown = *cap ? *cap * 2 : 16;
                char **v = reallocarray(*names, grown, sizeof(char *));
                if (!v)
                        return -ENOMEM;
                *names = v;
                *cap = grown;
        }
        *at = (uint32_t)*n;
        (*names)[(*n)++] = TAKE_PTR(owned);
        return 0;
}

static int add_identity(sv_addrbook *ab, sv_hashmap *seen, size_t *cap, const char *ip,
                        const char *id) {
        /* index + 1, so that 0 (absent) differs from the first */
        uintptr_t idx = (uintptr_t)sv_hashmap_get(seen, id);
        if (!idx) {
                uint32_t at;
                int r = names_push(&ab->identities, &ab->n_identities, cap, strdup(id), &at);
                if (r < 0)
                        return r;
                r = sv_hashmap_put(seen, id, (void *)((uintptr_t)at + 1), NULL);
                if (r < 0)
                        return r == -EINVAL ? 0 : r; /* too long to be a name: left unused */
                idx = (uintptr_t)at + 1;
        }
        return entries_add(&ab->workloads, ip, (uint32_t)(idx - 1), 0);
}

static int add_service(sv_addrbook *ab, const json_t *s, size_t *cap, uint32_t *at) {
        const char *ns = json_string_value(json_object_get(s, "namespace")),
                   *name = json_string_value(json_object_get(s, "name"));
        size_t len = strlen(ns ? ns : "") + strlen(name ? name : "") + 2;
        char *text = malloc(len);
        if (text)
                snprintf(text, len, "%s/%s", ns ? ns : "", name ? name : "");
        return names_push(&ab->services, &ab->n_services, cap, text, at);
}

/* An address served by several Services (a pod in `web` and in `web-v1`) is
 * named after the most specific one, the one with the fewest endpoints (then
 * the first in the state's order): that is the one a split sends to. A
 * cluster IP is its Service's alone (rank 0). */
static int add_services(sv_addrbook *ab, const json_t *services) {
        size_t cap = 0, i;
        json_t *s;
        json_array_foreach (services, i, s) {
                uint32_t idx = 0;
                int r = add_service(ab, s, &cap, &idx);
                size_t j, n = json_array_size(json_object_get(s, "endpoints"));
                uint32_t rank = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
                json_t *x;
                json_array_foreach (json_object_get(s, "clusterIPs"), j, x) {
                        if (r == 0)
                                r = entries_add(&ab->endpoints, json_string_value(x), idx, 0);
                }
                json_array_foreach (json_object_get(s, "endpoints"), j, x) {
                        if (r == 0)
                                r = entries_add(&ab->endpoints, json_string_value(x), idx, rank);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int sv_addrbook_build(const json_t *state, sv_addrbook **out) {
        _cleanup_(sv_addrbook_freep) sv_addrbook *ab = calloc(1, sizeof(*ab));
        _cleanup_(sv_hashmap_freep) sv_hashmap *seen = NULL;
        if (!ab || sv_hashmap_new(&seen) < 0)
                return -ENOMEM;
        const char *id;
        json_t *ips, *ip;
        size_t cap = 0, i;
        json_object_foreach ((json_t *)json_object_get(state, "identities"), id, ips) {
                json_array_foreach (ips, i, ip) {
                        int r = json_is_string(ip)
                                        ? add_identity(ab, seen, &cap, json_string_value(ip), id)
                                        : 0;
                        if (r < 0)
                                return r;
                }
        }
        int r = entries_finish(&ab->workloads);
        if (r < 0)
                return r;
        r = add_services(ab, json_object_get(state, "services"));
        if (r < 0)
                return r;
        r = entries_finish(&ab->endpoints);
        if (r < 0)
                return r;
        json_t *lp;
        json_array_foreach (json_object_get(state, "localPods"), i, lp) {
                size_t j;
                json_array_foreach (json_object_get(lp, "ips"), j, ip) {
                        if (json_is_string(ip) &&
                            (r = entries_add(&ab->local, json_string_value(ip), 0, 0)) < 0)
                                return r;
                }
        }
        r = entries_finish(&ab->local);
        if (r < 0)
                return r;
        *out = TAKE_PTR(ab);
        return 0;
}

const char *sv_addrbook_workload(const sv_addrbook *ab, const char *ip) {
        uint32_t name;
        return ab && entries_find(&ab->workloads, ip, &name) == 0 ? ab->identities[name]
                                                                  : "unknown";
}

const char *sv_addrbook_service(const sv_addrbook *ab, const char *ip) {
        uint32_t name;
        return ab && entries_find(&ab->endpoints, ip, &name) == 0 ? ab->services[name] : "none";
}

bool sv_addrbook_is_local(const sv_addrbook *ab, const char *ip) {
        uint32_t name;
        return ab && entries_find(&ab->local, ip, &name) == 0;
}
