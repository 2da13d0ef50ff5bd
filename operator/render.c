/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/render.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/strbuf.h"
#include "nft/rule.h"
#include "nft/set.h"

#define NAME_MAX_LEN 64
/* The longest set key: an IPv6 address, protocol and port (key_addr_proto_port). */
#define KEY_MAX 24
#define TEXT_MAX (256u << 20)
#define SPLIT_SCALE 10000u /* weights are exact to 1/10,000 */
#define LOG_RATE 20        /* denials logged per second, node-wide, per direction */
#define LOG_BURST 40

/* ---- the model ---------------------------------------------------------- */

typedef enum { KEY_ADDR, KEY_ADDR_PROTO_PORT } key_kind;

/* 40 bytes: a node's sets hold tens of thousands of elements (every peer
 * address of every policy), kept between applies to diff against. */
typedef struct elem {
        uint8_t key[KEY_MAX];
        uint8_t key_len;
        const char *chain; /* verdict maps: the chain jumped to, interned in the ruleset */
} elem;

typedef struct mset {
        char name[NAME_MAX_LEN];
        int fam; /* 4 or 6 */
        key_kind kind;
        bool vmap;
        elem *elems; /* while built (40 bytes an element) */
        size_t n, cap;
        /* Once finished, as the applied model keeps it until the next apply:
         * the n keys, all of one length, end to end (4 bytes an IPv4
         * element), and the verdict maps' chains. NULL: still in elems. */
        uint8_t *keys;
        const char **chains;
        uint8_t key_len;
} mset;

typedef enum {
        RK_CT_ESTABLISHED,
        RK_ADDR_VMAP,
        RK_MATCH,
        RK_DNS,
        RK_VERDICT,
        RK_LOG,
        RK_COUNTER_DROP,
        RK_SPLIT_DISPATCH,
        RK_WEIGHTED,
        RK_DNAT,
} rule_kind;

typedef struct port_match {
        uint8_t proto;
        uint16_t lo, hi;
} port_match;

typedef struct arm {
        uint32_t lo, hi;
        char chain[NAME_MAX_LEN];
} arm;

typedef struct rule {
        rule_kind kind;
        int fam;  /* 4, 6, or 0 for rules that match no address */
        bool dst; /* the address matched is the destination */
        char set[NAME_MAX_LEN];
        port_match *ports;
        size_t n_ports;
        int verdict; /* NF_ACCEPT, NF_DROP, NFT_RETURN, NFT_JUMP */
        char chain[NAME_MAX_LEN];
        arm *arms;
        size_t n_arms;
        uint8_t (*addrs)[16];
        size_t n_addrs;
        uint8_t proto;
        uint16_t port;
        char *text;
} rule;

typedef struct chain {
        char name[NAME_MAX_LEN];
        const char *type; /* base chains: "filter" or "nat" */
        uint32_t hook;
        int prio;
        rule *rules;
        size_t n, cap;
        char *text; /* all rules, one per line: the chain's identity */
} chain;

struct sv_ruleset {
        sv_hashmap *targets; /* verdict map targets: name -> its one copy */
        mset *sets;
        size_t n_sets, cap_sets;
        chain *chains;
        size_t n_chains, cap_chains;
        bool dual; /* any IPv6 address: IPv6 rules are rendered */
};

static void rule_done(rule *r) {
        free(r->ports);
        free(r->arms);
        free(r->addrs);
        free(r->text);
}

sv_ruleset *sv_ruleset_free(sv_ruleset *rs) {
        if (!rs)
                return NULL;
        for (size_t i = 0; i < rs->n_sets; i++) {
                free(rs->sets[i].elems);
                free(rs->sets[i].keys);
                free(rs->sets[i].chains);
        }
        for (size_t i = 0; i < rs->n_chains; i++) {
                for (size_t j = 0; j < rs->chains[i].n; j++)
                        rule_done(&rs->chains[i].rules[j]);
                free(rs->chains[i].rules);
                free(rs->chains[i].text);
        }
        free(rs->sets);
        free(rs->chains);
        size_t it = 0;
        void *name;
        while (sv_hashmap_next(rs->targets, &it, NULL, &name))
                free(name);
        sv_hashmap_free(rs->targets);
        free(rs);
        return NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap * 2 : 8;
        while (n < need)
                n *= 2;
        void *q = reallocarray(*p, n, size);
        if (!q)
                return -ENOMEM;
        memset((char *)q + *cap * size, 0, (n - *cap) * size);
        *p = q;
        *cap = n;
        return 0;
}

static int set_add(sv_ruleset *rs, const char *name, int fam, key_kind kind, bool vmap,
                   mset **out) {
        int r = grow((void **)&rs->sets, &rs->cap_sets, rs->n_sets + 1, sizeof(mset));
        if (r < 0)
                return r;
        mset *s = &rs->sets[rs->n_sets++];
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->fam = fam;
        s->kind = kind;
        s->vmap = vmap;
        *out = s;
        return 0;
}

static mset *set_find(const sv_ruleset *rs, const char *name) {
        for (size_t i = 0; i < rs->n_sets; i++)
                if (strcmp(rs->sets[i].name, name) == 0)
                        return &rs->sets[i];
        return NULL;
}

/* One copy of each verdict map target: thousands of elements jump to a few
 * chains. */
static int intern_target(sv_ruleset *rs, const char *name, const char **out) {
        char *copy = sv_hashmap_get(rs->targets, name);
        if (!copy) {
                if (!(copy = strdup(name)))
                        return -ENOMEM;
                int r = sv_hashmap_put(rs->targets, name, copy, NULL);
                if (r < 0) {
                        free(copy);
                        return r;
                }
        }
        *out = copy;
        return 0;
}

static int elem_add(sv_ruleset *rs, mset *s, const void *key, uint32_t len, const char *target) {
        if (!s || len > KEY_MAX || s->keys) /* a finished set takes no more */
                return -EINVAL;
        const char *jump = NULL;
        int r = target ? intern_target(rs, target, &jump) : 0;
        if (r == 0)
                r = grow((void **)&s->elems, &s->cap, s->n + 1, sizeof(elem));
        if (r < 0)
                return r;
        elem *e = &s->elems[s->n++];
        memcpy(e->key, key, len);
        e->key_len = (uint8_t)len;
        e->chain = jump;
        return 0;
}

static int elem_cmp(const void *a, const void *b) {
        const elem *x = a, *y = b;
        if (x->key_len != y->key_len)
                return x->key_len < y->key_len ? -1 : 1;
        int c = memcmp(x->key, y->key, x->key_len);
        if (c || x->chain == y->chain)
                return c;
        return strcmp(x->chain ? x->chain : "", y->chain ? y->chain : "");
}

/* Sorted, without duplicates (a pod listed twice, an endpoint in two slices). */
static void set_finish(mset *s) {
        if (s->n == 0 || s->keys)
                return;
        qsort(s->elems, s->n, sizeof(elem), elem_cmp);
        size_t w = 1;
        for (size_t i = 1; i < s->n; i++)
                if (memcmp(s->elems[i].key, s->elems[w - 1].key, s->elems[i].key_len) != 0 ||
                    s->elems[i].key_len != s->elems[w - 1].key_len)
                        s->elems[w++] = s->elems[i];
        s->n = w;
        uint8_t len = s->elems[0].key_len;
        for (size_t i = 1; i < s->n; i++)
                if (s->elems[i].key_len != len)
                        return; /* not one kind of key: left as it is */
        uint8_t *keys = malloc(s->n * len);
        const char **chains = s->vmap ? calloc(s->n, sizeof(*chains)) : NULL;
        if (!keys || (s->vmap && !chains)) {
                free(keys);
                free(chains);
                return; /* left as it is */
        }
        for (size_t i = 0; i < s->n; i++) {
                memcpy(keys + i * len, s->elems[i].key, len);
                if (chains)
                        chains[i] = s->elems[i].chain;
        }
        free(s->elems);
        s->elems = NULL;
        s->cap = 0;
        s->keys = keys;
        s->chains = chains;
        s->key_len = len;
}

/* Element i of a finished set (in buf when the set is compact). */
static const elem *set_elem(const mset *s, size_t i, elem *buf) {
        if (!s->keys)
                return &s->elems[i];
        buf->key_len = s->key_len;
        memcpy(buf->key, s->keys + i * s->key_len, s->key_len);
        buf->chain = s->chains ? s->chains[i] : NULL;
        return buf;
}

static int chain_add(sv_ruleset *rs, const char *name, chain **out) {
        int r = grow((void **)&rs->chains, &rs->cap_chains, rs->n_chains + 1, sizeof(chain));
        if (r < 0)
                return r;
        chain *c = &rs->chains[rs->n_chains++];
        snprintf(c->name, sizeof(c->name), "%s", name);
        *out = c;
        return 0;
}

static chain *chain_find(const sv_ruleset *rs, const char *name) {
        for (size_t i = 0; i < rs->n_chains; i++)
                if (strcmp(rs->chains[i].name, name) == 0)
                        return &rs->chains[i];
        return NULL;
}

/* ---- text --------------------------------------------------------------- */

static const char *proto_name(uint8_t p) {
        switch (p) {
        case IPPROTO_TCP:
                return "tcp";
        case IPPROTO_UDP:
                return "udp";
        case IPPROTO_SCTP:
                return "sctp";
        default:
                return "?";
        }
}

static const char *fam_kw(int fam) {
        return fam == 6 ? "ip6" : "ip";
}

static void addr_text(int fam, const uint8_t *a, char *out, size_t n) {
        if (!inet_ntop(fam == 6 ? AF_INET6 : AF_INET, a, out, (socklen_t)n))
                snprintf(out, n, "?");
}

static int verdict_text(sv_strbuf *sb, int verdict, const char *target) {
        switch (verdict) {
        case NF_ACCEPT:
                return sv_strbuf_appends(sb, "accept");
        case NF_DROP:
                return sv_strbuf_appends(sb, "drop");
        case NFT_RETURN:
                return sv_strbuf_appends(sb, "return");
        default:
                return sv_strbuf_appendf(sb, "jump %s", target);
        }
}

static int ports_text(sv_strbuf *sb, const rule *r) {
        if (r->n_ports == 0)
                return 0;
        if (r->n_ports == 1 && r->ports[0].lo != r->ports[0].hi)
                return sv_strbuf_appendf(sb, "meta l4proto %s th dport %u-%u ",
                                         proto_name(r->ports[0].proto), r->ports[0].lo,
                                         r->ports[0].hi);
        int e = sv_strbuf_appends(sb, "meta l4proto . th dport { ");
        for (size_t i = 0; e == 0 && i < r->n_ports; i++)
                e = sv_strbuf_appendf(sb, "%s%s . %u", i ? ", " : "", proto_name(r->ports[i].proto),
                                      r->ports[i].lo);
        return e ? e : sv_strbuf_appends(sb, " } ");
}

static int rule_text(rule *r) {
        sv_strbuf sb = SV_STRBUF_INIT(1u << 20);
        int e = 0;
        const char *kw = fam_kw(r->fam), *dir = r->dst ? "daddr" : "saddr";
        switch (r->kind) {
        case RK_CT_ESTABLISHED:
                e = sv_strbuf_appends(&sb, "ct state established,related accept");
                break;
        case RK_ADDR_VMAP:
                e = sv_strbuf_appendf(&sb, "%s %s vmap @%s", kw, dir, r->set);
                break;
        case RK_MATCH:
                if (r->set[0])
                        e = sv_strbuf_appendf(&sb, "%s %s @%s ", kw, dir, r->set);
                if (e == 0)
                        e = ports_text(&sb, r);
                if (e == 0)
                        e = verdict_text(&sb, r->verdict, r->chain);
                break;
        case RK_DNS:
                e = sv_strbuf_appendf(&sb, "%s daddr . meta l4proto . th dport @%s ", kw, r->set);
                if (e == 0)
                        e = verdict_text(&sb, r->verdict, r->chain);
                break;
        case RK_VERDICT:
                e = verdict_text(&sb, r->verdict, r->chain);
                break;
        case RK_LOG:
                e = sv_strbuf_appendf(&sb,
                                      "limit rate %u/second burst %u packets log prefix \"%s\" "
                                      "group %u",
                                      LOG_RATE, LOG_BURST, r->set, r->port);
                break;
        case RK_COUNTER_DROP:
                e = sv_strbuf_appends(&sb, "counter drop");
                break;
        case RK_SPLIT_DISPATCH:
                e = sv_strbuf_appendf(&sb,
                                      "%s saddr @local%d %s daddr . meta l4proto . th dport vmap "
                                      "@%s",
                                      kw, r->fam, kw, r->set);
                break;
        case RK_WEIGHTED:
                e = sv_strbuf_appendf(&sb, "numgen random mod %u vmap { ", SPLIT_SCALE);
                for (size_t i = 0; e == 0 && i < r->n_arms; i++)
                        e = sv_strbuf_appendf(&sb, "%s%u-%u : jump %s", i ? ", " : "",
                                              r->arms[i].lo, r->arms[i].hi, r->arms[i].chain);
                if (e == 0)
                        e = sv_strbuf_appends(&sb, " }");
                break;
        case RK_DNAT:
                e = sv_strbuf_appendf(&sb,
                                      "meta nfproto %s meta l4proto %s dnat %s to numgen random "
                                      "mod %zu map { ",
                                      r->fam == 6 ? "ipv6" : "ipv4", proto_name(r->proto), kw,
                                      r->n_addrs);
                for (size_t i = 0; e == 0 && i < r->n_addrs; i++) {
                        char a[INET6_ADDRSTRLEN];
                        addr_text(r->fam, r->addrs[i], a, sizeof(a));
                        e = sv_strbuf_appendf(&sb, "%s%zu : %s", i ? ", " : "", i, a);
                }
                if (e == 0)
                        e = sv_strbuf_appendf(&sb, " } : %u", r->port);
                break;
        }
        if (e < 0) {
                sv_strbuf_done(&sb);
                return e;
        }
        r->text = sv_strbuf_steal(&sb);
        return r->text ? 0 : -ENOMEM;
}

/* Appends a copy of r (its arrays are taken over) and its text. */
static int chain_rule(chain *c, rule *r) {
        int e = rule_text(r);
        if (e == 0)
                e = grow((void **)&c->rules, &c->cap, c->n + 1, sizeof(rule));
        if (e < 0) {
                rule_done(r);
                return e;
        }
        c->rules[c->n++] = *r;
        *r = (rule){0};
        return 0;
}

static int chain_finish(chain *c) {
        sv_strbuf sb = SV_STRBUF_INIT(TEXT_MAX);
        int e = 0;
        for (size_t i = 0; e == 0 && i < c->n; i++)
                e = sv_strbuf_appendf(&sb, "%s\n", c->rules[i].text);
        if (e < 0) {
                sv_strbuf_done(&sb);
                return e;
        }
        free(c->text);
        c->text = sv_strbuf_steal(&sb);
        if (!c->text)
                c->text = strdup("");
        /* Kept until the next apply (as the sets are): no room to grow. */
        if (c->n > 0 && c->n < c->cap) {
                rule *fit = reallocarray(c->rules, c->n, sizeof(rule));
                if (fit) {
                        c->rules = fit;
                        c->cap = c->n;
                }
        }
        return c->text ? 0 : -ENOMEM;
}

/* ---- from the state ----------------------------------------------------- */

typedef struct addr {
        int fam;
        uint8_t a[16];
} addr;

static int parse_addr(const char *s, addr *out) {
        memset(out, 0, sizeof(*out));
        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, out->a) == 1) {
                out->fam = 4;
                return 0;
        }
        if (inet_pton(AF_INET6, s, out->a) == 1) {
                out->fam = 6;
                return 0;
        }
        return -EINVAL;
}

static uint32_t addr_len(int fam) {
        return fam == 6 ? 16 : 4;
}

static int parse_proto(const char *s, uint8_t *out) {
        if (!s || strcmp(s, "TCP") == 0)
                *out = IPPROTO_TCP;
        else if (strcmp(s, "UDP") == 0)
                *out = IPPROTO_UDP;
        else if (strcmp(s, "SCTP") == 0)
                *out = IPPROTO_SCTP;
        else
                return -EINVAL;
        return 0;
}

/* addr . proto . port as the kernel keeps it: each field in its own 32-bit
 * register, the port in network order. */
static uint32_t key_addr_proto_port(const addr *a, uint8_t proto, uint16_t port, uint8_t *key) {
        uint32_t n = addr_len(a->fam);
        memset(key, 0, n + 8);
        memcpy(key, a->a, n);
        key[n] = proto;
        uint16_t be = htons(port);
        memcpy(key + n + 4, &be, 2);
        return n + 8;
}

static uint64_t fnv64(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
        return h;
}

typedef struct build {
        const sv_render_config *cfg;
        sv_ruleset *rs;
        const json_t *state;
        sv_hashmap *services; /* "ns/name" -> json service */
        sv_hashmap *profiles; /* "in:<policy list>" -> chain name (malloc'd) */
        bool *group_used;
        size_t n_groups;
        sv_error *err;
} build;

static bool has_v6(const json_t *state) {
        const char *id;
        json_t *ips;
        size_t i;
        json_t *p;
        json_object_foreach ((json_t *)json_object_get(state, "identities"), id, ips) {
                json_array_foreach (ips, i, p) {
                        if (strchr(json_string_value(p) ? json_string_value(p) : "", ':'))
                                return true;
                }
        }
        json_array_foreach (json_object_get(state, "localPods"), i, p) {
                size_t j;
                json_t *s;
                json_array_foreach (json_object_get(p, "ips"), j, s) {
                        if (strchr(json_string_value(s) ? json_string_value(s) : "", ':'))
                                return true;
                }
        }
        return false;
}

static int add_addr_elem(sv_ruleset *rs, const char *base, const char *ipstr, const char *target) {
        addr a;
        if (parse_addr(ipstr, &a) < 0)
                return 0; /* not an address: nothing to match */
        char name[NAME_MAX_LEN];
        snprintf(name, sizeof(name), "%s%d", base, a.fam);
        mset *s = set_find(rs, name);
        return s ? elem_add(rs, s, a.a, addr_len(a.fam), target) : -ENOENT;
}

/* Ports of one policy rule: exact ports share one rule (an anonymous set),
 * each range gets its own. Returns the number of port groups written to out
 * (at most 1 + number of ranges), or -errno. */
typedef struct port_groups {
        port_match *exact;
        size_t n_exact;
        port_match *ranges;
        size_t n_ranges;
        bool all; /* no ports listed: every port */
} port_groups;

static void port_groups_done(port_groups *g) {
        free(g->exact);
        free(g->ranges);
}

static int parse_ports(const json_t *ports, port_groups *g) {
        *g = (port_groups){0};
        if (!ports) {
                g->all = true;
                return 0;
        }
        size_t n = json_array_size(ports);
        g->exact = calloc(n ? n : 1, sizeof(port_match));
        g->ranges = calloc(n ? n : 1, sizeof(port_match));
        if (!g->exact || !g->ranges) {
                port_groups_done(g);
                return -ENOMEM;
        }
        size_t i;
        json_t *p;
        json_array_foreach (ports, i, p) {
                port_match m;
                json_int_t lo = json_integer_value(json_object_get(p, "port"));
                json_int_t hi = json_is_integer(json_object_get(p, "endPort"))
                                        ? json_integer_value(json_object_get(p, "endPort"))
                                        : lo;
                if (lo < 1 || lo > 65535 || hi < lo || hi > 65535 ||
                    parse_proto(json_string_value(json_object_get(p, "protocol")), &m.proto) < 0)
                        continue; /* the schema refuses these; named ports never match */
                m.lo = (uint16_t)lo;
                m.hi = (uint16_t)hi;
                if (lo == hi)
                        g->exact[g->n_exact++] = m;
                else
                        g->ranges[g->n_ranges++] = m;
        }
        return 0;
}

/* One policy rule -> rules of a profile chain, for one family. peers: the
 * peer group indexes (NULL: every peer). */
static int emit_policy_rule(build *b, chain *c, int fam, bool dst, const json_t *peers,
                            const port_groups *pg, int verdict, const char *target) {
        if (!peers && fam != 4)
                return 0; /* no address matched: one rule covers both families */
        size_t n_peers = peers ? json_array_size(peers) : 1;
        for (size_t i = 0; i < n_peers; i++) {
                char set[NAME_MAX_LEN] = "";
                if (peers) {
                        json_int_t g = json_integer_value(json_array_get(peers, i));
                        if (g < 0 || (size_t)g >= b->n_groups)
                                continue;
                        b->group_used[g] = true;
                        snprintf(set, sizeof(set), "pg%" PRId64 "_%d", (int64_t)g, fam);
                }
                size_t n_variants = pg->all ? 1 : (pg->n_exact ? 1 : 0) + pg->n_ranges;
                for (size_t v = 0; v < n_variants; v++) {
                        rule r = {.kind = RK_MATCH,
                                  .fam = set[0] ? fam : 0,
                                  .dst = dst,
                                  .verdict = verdict};
                        snprintf(r.set, sizeof(r.set), "%s", set);
                        snprintf(r.chain, sizeof(r.chain), "%s", target ? target : "");
                        if (!pg->all) {
                                bool exact = pg->n_exact && v == 0;
                                const port_match *src =
                                        exact ? pg->exact : &pg->ranges[v - (pg->n_exact ? 1 : 0)];
                                r.n_ports = exact ? pg->n_exact : 1;
                                r.ports = calloc(r.n_ports, sizeof(port_match));
                                if (!r.ports)
                                        return -ENOMEM;
                                memcpy(r.ports, src, r.n_ports * sizeof(port_match));
                        }
                        int e = chain_rule(c, &r);
                        if (e < 0)
                                return e;
                }
        }
        return 0;
}

/* The rules of a profile: the policies (indexes into state.policies) that
 * select a pod in one direction. */
static int emit_profile(build *b, chain *c, const size_t *pols, size_t n, bool ingress) {
        const json_t *policies = json_object_get(b->state, "policies");
        const char *dirkey = ingress ? "ingress" : "egress";
        const char *deny_chain = ingress ? "deny_in" : "deny_out";
        int allowed = ingress ? NF_ACCEPT : NFT_RETURN;
        int fams[2] = {4, 6};
        size_t n_fams = b->rs->dual ? 2 : 1;
        bool isolated = ingress && b->cfg->default_deny;
        int e = 0;
        /* Deny first: it wins. */
        for (int pass = 0; pass < 2 && e == 0; pass++) {
                if (pass == 1) {
                        if (!isolated) {
                                for (size_t k = 0; k < n; k++) {
                                        const json_t *p = json_array_get(policies, pols[k]);
                                        const char *a =
                                                json_string_value(json_object_get(p, "action"));
                                        if (!a || strcmp(a, "Deny") != 0)
                                                isolated = true;
                                }
                        }
                        if (!isolated)
                                break;
                        for (size_t f = 0; f < n_fams && e == 0; f++) {
                                rule r = {.kind = RK_DNS, .fam = fams[f], .verdict = allowed};
                                snprintf(r.set, sizeof(r.set), "dns%d", fams[f]);
                                e = chain_rule(c, &r);
                        }
                }
                for (size_t k = 0; k < n && e == 0; k++) {
                        const json_t *p = json_array_get(policies, pols[k]);
                        const char *a = json_string_value(json_object_get(p, "action"));
                        bool deny = a && strcmp(a, "Deny") == 0;
                        if (deny != (pass == 0))
                                continue;
                        size_t i;
                        json_t *rj;
                        json_array_foreach (json_object_get(p, dirkey), i, rj) {
                                /* HTTP conditions need the L7 proxy: at L4 an Allow
                                 * with them grants nothing (fail closed) and a Deny
                                 * with them refuses nothing. */
                                if (json_object_get(rj, "http"))
                                        continue;
                                port_groups pg;
                                e = parse_ports(json_object_get(rj, "ports"), &pg);
                                if (e < 0)
                                        break;
                                if (pg.all || pg.n_exact || pg.n_ranges) {
                                        const json_t *peers = json_object_get(rj, "peers");
                                        for (size_t f = 0; f < n_fams && e == 0; f++)
                                                e = emit_policy_rule(b, c, fams[f], !ingress, peers,
                                                                     &pg, deny ? NFT_JUMP : allowed,
                                                                     deny ? deny_chain : NULL);
                                }
                                port_groups_done(&pg);
                                if (e < 0)
                                        break;
                        }
                }
        }
        if (e == 0 && isolated) {
                rule r = {.kind = RK_VERDICT, .verdict = NFT_JUMP};
                snprintf(r.chain, sizeof(r.chain), "%s", deny_chain);
                e = chain_rule(c, &r);
        }
        return e;
}

typedef struct pod_pols {
        size_t *in, *out;
        size_t n_in, n_out, cap_in, cap_out;
} pod_pols;

static void pod_pols_free(void *p) {
        pod_pols *x = p;
        if (!x)
                return;
        free(x->in);
        free(x->out);
        free(x);
}

/* The chain for a list of policies in one direction, shared by every pod the
 * same policies select. */
static int profile_chain(build *b, const size_t *pols, size_t n, bool ingress, char *name,
                         size_t name_len) {
        sv_strbuf key = SV_STRBUF_INIT(1u << 20);
        int e = sv_strbuf_appends(&key, ingress ? "in:" : "out:");
        for (size_t i = 0; e == 0 && i < n; i++)
                e = sv_strbuf_appendf(&key, "%zu,", pols[i]);
        if (e < 0) {
                sv_strbuf_done(&key);
                return e;
        }
        const char *known = sv_hashmap_get(b->profiles, sv_strbuf_str(&key));
        if (known) {
                snprintf(name, name_len, "%s", known);
                sv_strbuf_done(&key);
                return 0;
        }
        /* Built under a temporary name, then named after its rules, so that the
         * name does not change when unrelated policies come and go. */
        chain tmp = {0};
        e = emit_profile(b, &tmp, pols, n, ingress);
        if (e == 0)
                e = chain_finish(&tmp);
        char cname[NAME_MAX_LEN];
        if (e == 0) {
                snprintf(cname, sizeof(cname), "%s_%016" PRIx64, ingress ? "in" : "out",
                         fnv64(tmp.text));
                if (!chain_find(b->rs, cname)) {
                        chain *c;
                        e = chain_add(b->rs, cname, &c);
                        if (e == 0) {
                                snprintf(tmp.name, sizeof(tmp.name), "%s", cname);
                                *c = tmp;
                                tmp = (chain){0};
                        }
                }
        }
        for (size_t i = 0; i < tmp.n; i++)
                rule_done(&tmp.rules[i]);
        free(tmp.rules);
        free(tmp.text);
        if (e == 0) {
                char *dup = strdup(cname);
                e = dup ? sv_hashmap_put(b->profiles, sv_strbuf_str(&key), dup, NULL) : -ENOMEM;
                if (e < 0)
                        free(dup);
                else
                        snprintf(name, name_len, "%s", cname);
        }
        sv_strbuf_done(&key);
        return e;
}

static int push_pol(size_t **arr, size_t *n, size_t *cap, size_t v) {
        int e = grow((void **)arr, cap, *n + 1, sizeof(size_t));
        if (e == 0)
                (*arr)[(*n)++] = v;
        return e;
}

static int render_policies(build *b) {
        _cleanup_(sv_hashmap_freep) sv_hashmap *by_ip = NULL;
        int e = sv_hashmap_new(&by_ip);
        if (e < 0)
                return e;
        const json_t *policies = json_object_get(b->state, "policies");
        size_t i;
        json_t *p;
        json_array_foreach (policies, i, p) {
                bool in = json_object_get(p, "ingress") != NULL,
                     out = json_object_get(p, "egress") != NULL;
                size_t j;
                json_t *t;
                json_array_foreach (json_object_get(p, "targets"), j, t) {
                        const char *ip = json_string_value(t);
                        if (!ip)
                                continue;
                        pod_pols *x = sv_hashmap_get(by_ip, ip);
                        if (!x) {
                                x = calloc(1, sizeof(*x));
                                if (!x)
                                        return -ENOMEM;
                                e = sv_hashmap_put(by_ip, ip, x, NULL);
                                if (e < 0) {
                                        free(x);
                                        return e;
                                }
                        }
                        if (in)
                                e = push_pol(&x->in, &x->n_in, &x->cap_in, i);
                        if (e == 0 && out)
                                e = push_pol(&x->out, &x->n_out, &x->cap_out, i);
                        if (e < 0)
                                goto out;
                }
        }
        /* Under default deny every pod of the node is isolated for ingress. */
        if (b->cfg->default_deny) {
                json_t *lp;
                json_array_foreach (json_object_get(b->state, "localPods"), i, lp) {
                        size_t j;
                        json_t *ipj;
                        json_array_foreach (json_object_get(lp, "ips"), j, ipj) {
                                const char *ip = json_string_value(ipj);
                                if (!ip || sv_hashmap_get(by_ip, ip))
                                        continue;
                                pod_pols *x = calloc(1, sizeof(*x));
                                if (!x) {
                                        e = -ENOMEM;
                                        goto out;
                                }
                                e = sv_hashmap_put(by_ip, ip, x, NULL);
                                if (e < 0) {
                                        free(x);
                                        goto out;
                                }
                        }
                }
        }
        size_t it = 0;
        const char *ip;
        void *v;
        while (e == 0 && sv_hashmap_next(by_ip, &it, &ip, &v)) {
                pod_pols *x = v;
                char name[NAME_MAX_LEN];
                if (x->n_in || b->cfg->default_deny) {
                        e = profile_chain(b, x->in, x->n_in, true, name, sizeof(name));
                        if (e == 0)
                                e = add_addr_elem(b->rs, "in", ip, name);
                }
                if (e == 0 && x->n_out) {
                        e = profile_chain(b, x->out, x->n_out, false, name, sizeof(name));
                        if (e == 0)
                                e = add_addr_elem(b->rs, "out", ip, name);
                }
        }
out:
        it = 0;
        while (sv_hashmap_next(by_ip, &it, NULL, &v))
                pod_pols_free(v);
        return e;
}

static int render_groups(build *b) {
        const json_t *groups = json_object_get(b->state, "peerGroups");
        size_t i;
        json_t *g;
        json_array_foreach (groups, i, g) {
                if (!b->group_used[i])
                        continue;
                for (int fam = 4; fam <= 6; fam += 2) {
                        if (fam == 6 && !b->rs->dual)
                                break;
                        char name[NAME_MAX_LEN];
                        snprintf(name, sizeof(name), "pg%zu_%d", i, fam);
                        mset *s;
                        int e = set_add(b->rs, name, fam, KEY_ADDR, false, &s);
                        if (e < 0)
                                return e;
                        size_t j;
                        json_t *ipj;
                        json_array_foreach (g, j, ipj) {
                                addr a;
                                if (parse_addr(json_string_value(ipj), &a) < 0 || a.fam != fam)
                                        continue;
                                e = elem_add(b->rs, s, a.a, addr_len(fam), NULL);
                                if (e < 0)
                                        return e;
                        }
                }
        }
        return 0;
}

static const json_t *service_port(const json_t *svc, json_int_t port, const char *name) {
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(svc, "ports"), i, p) {
                if (json_integer_value(json_object_get(p, "port")) == port)
                        return p;
        }
        json_array_foreach (json_object_get(svc, "ports"), i, p) {
                const char *n = json_string_value(json_object_get(p, "name"));
                if (name && n && *n && strcmp(n, name) == 0)
                        return p;
        }
        return NULL;
}

static int render_dns(build *b) {
        const json_t *svc = sv_hashmap_get(b->services, b->cfg->dns_service);
        if (!svc)
                return 0;
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(svc, "ports"), i, p) {
                uint8_t proto;
                if (parse_proto(json_string_value(json_object_get(p, "protocol")), &proto) < 0)
                        continue;
                json_int_t port = json_integer_value(json_object_get(p, "port"));
                const json_t *tp = json_object_get(p, "targetPort");
                json_int_t target = json_is_integer(tp) ? json_integer_value(tp) : port;
                /* The cluster IP (before any DNAT) and each endpoint (after). */
                const char *which[2] = {"clusterIPs", "endpoints"};
                for (int w = 0; w < 2; w++) {
                        size_t j;
                        json_t *x;
                        json_array_foreach (json_object_get(svc, which[w]), j, x) {
                                const char *ip = json_string_value(x);
                                addr a;
                                if (parse_addr(ip, &a) < 0)
                                        continue;
                                uint8_t key[KEY_MAX];
                                uint32_t n = key_addr_proto_port(
                                        &a, proto, (uint16_t)(w == 0 ? port : target), key);
                                char name[NAME_MAX_LEN];
                                snprintf(name, sizeof(name), "dns%d", a.fam);
                                int e = elem_add(b->rs, set_find(b->rs, name), key, n, NULL);
                                if (e < 0)
                                        return e;
                        }
                }
        }
        return 0;
}

static int addr_cmp(const void *a, const void *b) {
        return memcmp(((const addr *)a)->a, ((const addr *)b)->a, 16);
}

typedef struct split_arm {
        const json_t *svc;
        json_int_t weight;
        uint16_t port;
        addr *eps;
        size_t n_eps;
} split_arm;

/* One root Service port of a split, one family: a weighted choice among the
 * backends that have ready endpoints of that family. */
static int render_split_port(build *b, const json_t *split, const json_t *root, const json_t *rp,
                             int fam) {
        uint8_t proto;
        if (parse_proto(json_string_value(json_object_get(rp, "protocol")), &proto) < 0)
                return 0;
        json_int_t port = json_integer_value(json_object_get(rp, "port"));
        const char *pname = json_string_value(json_object_get(rp, "name"));
        const char *ns = json_string_value(json_object_get(split, "namespace"));
        const json_t *backends = json_object_get(split, "backends");
        size_t nb = json_array_size(backends);
        if (nb == 0)
                return 0;
        split_arm *arms = calloc(nb, sizeof(*arms));
        if (!arms)
                return -ENOMEM;
        int e = 0;
        json_int_t total = 0;
        size_t i;
        json_t *bj;
        json_array_foreach (backends, i, bj) {
                char key[512];
                snprintf(key, sizeof(key), "%s/%s", ns ? ns : "",
                         json_string_value(json_object_get(bj, "service")) ?: "");
                const json_t *svc = sv_hashmap_get(b->services, key);
                json_int_t w = json_integer_value(json_object_get(bj, "weight"));
                const json_t *sp = svc ? service_port(svc, port, pname) : NULL;
                const json_t *tp = sp ? json_object_get(sp, "targetPort") : NULL;
                if (w <= 0 || !sp || !json_is_integer(tp))
                        continue; /* no traffic: weight 0, no such port, or a named port */
                size_t n = json_array_size(json_object_get(svc, "endpoints"));
                arms[i].eps = calloc(n ? n : 1, sizeof(addr));
                if (!arms[i].eps) {
                        e = -ENOMEM;
                        goto out;
                }
                size_t j;
                json_t *ep;
                json_array_foreach (json_object_get(svc, "endpoints"), j, ep) {
                        addr a;
                        if (parse_addr(json_string_value(ep), &a) == 0 && a.fam == fam)
                                arms[i].eps[arms[i].n_eps++] = a;
                }
                if (arms[i].n_eps == 0)
                        continue; /* no ready endpoint: the others share its weight */
                arms[i].svc = svc;
                arms[i].weight = w;
                arms[i].port = (uint16_t)json_integer_value(tp);
                total += w;
        }
        if (total == 0)
                goto out; /* nothing to split to: kube-proxy handles the Service */

        char base[32];
        char id[512];
        snprintf(id, sizeof(id), "%s/%s/%" PRId64 "/%s/%d", ns ? ns : "",
                 json_string_value(json_object_get(split, "name")) ?: "", (int64_t)port,
                 proto_name(proto), fam);
        snprintf(base, sizeof(base), "split_%016" PRIx64, fnv64(id));

        /* Shares of SPLIT_SCALE by largest remainder, so they add up exactly. */
        uint32_t share[64] = {0};
        if (nb > 64)
                nb = 64;
        uint32_t given = 0;
        for (i = 0; i < nb; i++) {
                if (!arms[i].svc)
                        continue;
                share[i] = (uint32_t)((uint64_t)arms[i].weight * SPLIT_SCALE / (uint64_t)total);
                given += share[i];
        }
        while (given < SPLIT_SCALE) {
                size_t best = nb;
                uint64_t best_rem = 0;
                for (i = 0; i < nb; i++) {
                        if (!arms[i].svc)
                                continue;
                        uint64_t rem = (uint64_t)arms[i].weight * SPLIT_SCALE % (uint64_t)total;
                        if (best == nb || rem > best_rem) {
                                best = i;
                                best_rem = rem;
                        }
                }
                share[best]++;
                arms[best].weight = 0; /* one extra unit at most per arm */
                given++;
        }

        chain *dispatch;
        e = chain_add(b->rs, base, &dispatch);
        if (e < 0)
                goto out;
        rule w = {.kind = RK_WEIGHTED};
        w.arms = calloc(nb, sizeof(arm));
        if (!w.arms) {
                e = -ENOMEM;
                goto out;
        }
        uint32_t at = 0;
        for (i = 0; i < nb && e == 0; i++) {
                if (!arms[i].svc || share[i] == 0)
                        continue;
                arm *a = &w.arms[w.n_arms++];
                a->lo = at;
                a->hi = at + share[i] - 1;
                at += share[i];
                snprintf(a->chain, sizeof(a->chain), "%s_%zu", base, i);
                chain *c;
                e = chain_add(b->rs, a->chain, &c);
                if (e < 0)
                        break;
                rule d = {.kind = RK_DNAT, .fam = fam, .proto = proto, .port = arms[i].port};
                d.addrs = calloc(arms[i].n_eps, 16);
                if (!d.addrs) {
                        e = -ENOMEM;
                        break;
                }
                /* Endpoints in a stable order: an unchanged backend renders the same. */
                qsort(arms[i].eps, arms[i].n_eps, sizeof(addr), addr_cmp);
                for (size_t k = 0; k < arms[i].n_eps; k++)
                        memcpy(d.addrs[k], arms[i].eps[k].a, 16);
                d.n_addrs = arms[i].n_eps;
                e = chain_rule(c, &d);
                if (e == 0)
                        e = chain_finish(c);
        }
        dispatch = chain_find(b->rs, base); /* the array may have moved */
        if (e == 0)
                e = chain_rule(dispatch, &w);
        else
                rule_done(&w);
        if (e == 0)
                e = chain_finish(dispatch);
        /* Connections to the root's cluster IPs of this family jump here. */
        size_t j;
        json_t *vip;
        json_array_foreach (json_object_get(root, "clusterIPs"), j, vip) {
                addr a;
                if (e < 0)
                        break;
                if (parse_addr(json_string_value(vip), &a) < 0 || a.fam != fam)
                        continue;
                uint8_t key[KEY_MAX];
                uint32_t n = key_addr_proto_port(&a, proto, (uint16_t)port, key);
                char name[NAME_MAX_LEN];
                snprintf(name, sizeof(name), "splits%d", fam);
                e = elem_add(b->rs, set_find(b->rs, name), key, n, base);
        }
out:
        for (i = 0; i < json_array_size(backends); i++)
                free(arms[i].eps);
        free(arms);
        return e;
}

static int render_splits(build *b) {
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get(b->state, "splits"), i, s) {
                const char *mode = json_string_value(json_object_get(s, "mode"));
                if (!mode || strcmp(mode, "Connection") != 0)
                        continue; /* Request mode belongs to the HTTP proxy */
                char key[512];
                snprintf(key, sizeof(key), "%s/%s",
                         json_string_value(json_object_get(s, "namespace")) ?: "",
                         json_string_value(json_object_get(s, "service")) ?: "");
                const json_t *root = sv_hashmap_get(b->services, key);
                if (!root)
                        continue;
                size_t j;
                json_t *rp;
                json_array_foreach (json_object_get(root, "ports"), j, rp) {
                        for (int fam = 4; fam <= 6; fam += 2) {
                                int e = render_split_port(b, s, root, rp, fam);
                                if (e < 0)
                                        return e;
                        }
                }
        }
        return 0;
}

static int base_chains(build *b) {
        sv_ruleset *rs = b->rs;
        int fams[2] = {4, 6};
        size_t n_fams = rs->dual ? 2 : 1;
        chain *c;
        int e;

        /* Denials: logged (rate-limited) for the agent, counted, dropped. */
        for (int d = 0; d < 2; d++) {
                e = chain_add(rs, d == 0 ? "deny_in" : "deny_out", &c);
                if (e < 0)
                        return e;
                rule l = {.kind = RK_LOG, .port = b->cfg->nflog_group};
                snprintf(l.set, sizeof(l.set), "%s", d == 0 ? "selvedge-in" : "selvedge-out");
                rule k = {.kind = RK_COUNTER_DROP};
                if ((e = chain_rule(c, &l)) < 0 || (e = chain_rule(c, &k)) < 0 ||
                    (e = chain_finish(c)) < 0)
                        return e;
        }

        e = chain_add(rs, "forward", &c);
        if (e < 0)
                return e;
        c->type = "filter";
        c->hook = NF_INET_FORWARD;
        c->prio = 0;
        rule est = {.kind = RK_CT_ESTABLISHED};
        if ((e = chain_rule(c, &est)) < 0)
                return e;
        for (int dst = 0; dst < 2; dst++) {
                for (size_t f = 0; f < n_fams; f++) {
                        rule r = {.kind = RK_ADDR_VMAP, .fam = fams[f], .dst = dst};
                        snprintf(r.set, sizeof(r.set), "%s%d", dst ? "in" : "out", fams[f]);
                        if ((e = chain_rule(c, &r)) < 0)
                                return e;
                }
        }
        if ((e = chain_finish(c)) < 0)
                return e;

        e = chain_add(rs, "split", &c);
        if (e < 0)
                return e;
        c->type = "nat";
        c->hook = NF_INET_PRE_ROUTING;
        c->prio = -120; /* before kube-proxy: its filter at -110, its DNAT at -100 */
        for (size_t f = 0; f < n_fams; f++) {
                rule r = {.kind = RK_SPLIT_DISPATCH, .fam = fams[f]};
                snprintf(r.set, sizeof(r.set), "splits%d", fams[f]);
                if ((e = chain_rule(c, &r)) < 0)
                        return e;
        }
        return chain_finish(c);
}

static int declare_sets(build *b) {
        static const struct {
                const char *base;
                key_kind kind;
                bool vmap;
        } fixed[] = {
                {"local", KEY_ADDR, false},
                {"in", KEY_ADDR, true},
                {"out", KEY_ADDR, true},
                {"dns", KEY_ADDR_PROTO_PORT, false},
                {"splits", KEY_ADDR_PROTO_PORT, true},
        };
        for (int fam = 4; fam <= 6; fam += 2) {
                for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
                        char name[NAME_MAX_LEN];
                        mset *s;
                        snprintf(name, sizeof(name), "%s%d", fixed[i].base, fam);
                        int e = set_add(b->rs, name, fam, fixed[i].kind, fixed[i].vmap, &s);
                        if (e < 0)
                                return e;
                }
        }
        return 0;
}

static int render_local(build *b) {
        size_t i;
        json_t *lp;
        json_array_foreach (json_object_get(b->state, "localPods"), i, lp) {
                size_t j;
                json_t *ipj;
                json_array_foreach (json_object_get(lp, "ips"), j, ipj) {
                        int e = add_addr_elem(b->rs, "local", json_string_value(ipj), NULL);
                        if (e < 0)
                                return e;
                }
        }
        return 0;
}

static int chain_cmp(const void *a, const void *b) {
        return strcmp(((const chain *)a)->name, ((const chain *)b)->name);
}

int sv_render(const json_t *state, const sv_render_config *cfg, sv_ruleset **out, sv_error *err) {
        _cleanup_ruleset_ sv_ruleset *rs = calloc(1, sizeof(*rs));
        _cleanup_(sv_hashmap_freep) sv_hashmap *services = NULL, *profiles = NULL;
        if (!rs || sv_hashmap_new(&services) < 0 || sv_hashmap_new(&profiles) < 0 ||
            sv_hashmap_new(&rs->targets) < 0)
                return -ENOMEM;
        if (!json_is_object(state))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG, "state is not an object");
        rs->dual = has_v6(state);
        size_t n_groups = json_array_size(json_object_get(state, "peerGroups"));
        _cleanup_free_ bool *used = calloc(n_groups ? n_groups : 1, sizeof(bool));
        if (!used)
                return -ENOMEM;
        build b = {.cfg = cfg,
                   .rs = rs,
                   .state = state,
                   .services = services,
                   .profiles = profiles,
                   .group_used = used,
                   .n_groups = n_groups,
                   .err = err};
        size_t i;
        json_t *s;
        int e = 0;
        json_array_foreach (json_object_get(state, "services"), i, s) {
                char key[512];
                snprintf(key, sizeof(key), "%s/%s",
                         json_string_value(json_object_get(s, "namespace")) ?: "",
                         json_string_value(json_object_get(s, "name")) ?: "");
                if ((e = sv_hashmap_put(services, key, s, NULL)) < 0)
                        break;
        }
        if (e == 0)
                e = declare_sets(&b);
        if (e == 0)
                e = base_chains(&b);
        size_t n_fixed = rs->n_chains;
        if (e == 0)
                e = render_local(&b);
        if (e == 0)
                e = render_policies(&b);
        if (e == 0)
                e = render_groups(&b);
        if (e == 0)
                e = render_dns(&b);
        if (e == 0)
                e = render_splits(&b);
        size_t it = 0;
        void *v;
        while (sv_hashmap_next(profiles, &it, NULL, &v))
                free(v);
        if (e < 0)
                return sv_errorf(err, e, SV_CODE_INTERNAL, "rendering the ruleset: %s",
                                 strerror(-e));
        for (i = 0; i < rs->n_sets; i++)
                set_finish(&rs->sets[i]);
        /* The fixed chains come first; the rest were made while walking hash
         * maps: sort them so the output is deterministic. */
        if (rs->n_chains > n_fixed)
                qsort(rs->chains + n_fixed, rs->n_chains - n_fixed, sizeof(chain), chain_cmp);
        *out = TAKE_PTR(rs);
        return 0;
}

/* ---- text of the whole model -------------------------------------------- */

static const char *key_type_text(const mset *s) {
        switch (s->kind) {
        case KEY_ADDR:
                return s->fam == 6 ? "ipv6_addr" : "ipv4_addr";
        case KEY_ADDR_PROTO_PORT:
                return s->fam == 6 ? "ipv6_addr . inet_proto . inet_service"
                                   : "ipv4_addr . inet_proto . inet_service";
        }
        return "?";
}

static int elem_text(sv_strbuf *sb, const mset *s, const elem *e) {
        char a[INET6_ADDRSTRLEN];
        addr_text(s->fam, e->key, a, sizeof(a));
        int r = sv_strbuf_appends(sb, a);
        if (r == 0 && s->kind == KEY_ADDR_PROTO_PORT) {
                uint32_t n = addr_len(s->fam);
                uint16_t be;
                memcpy(&be, e->key + n + 4, 2);
                r = sv_strbuf_appendf(sb, " . %s . %u", proto_name(e->key[n]), ntohs(be));
        }
        if (r == 0 && s->vmap)
                r = sv_strbuf_appendf(sb, " : jump %s", e->chain);
        return r;
}

static const char *hook_name(uint32_t hook) {
        switch (hook) {
        case NF_INET_FORWARD:
                return "forward";
        case NF_INET_POST_ROUTING:
                return "postrouting";
        default:
                return "prerouting";
        }
}

void sv_ruleset_forget_rules(sv_ruleset *rs) {
        for (size_t i = 0; rs && i < rs->n_chains; i++) {
                chain *c = &rs->chains[i];
                for (size_t j = 0; j < c->n; j++)
                        rule_done(&c->rules[j]);
                free(c->rules);
                c->rules = NULL;
                c->n = c->cap = 0;
        }
}

int sv_ruleset_text(const sv_ruleset *rs, char **out) {
        sv_strbuf sb = SV_STRBUF_INIT(TEXT_MAX);
        int e = sv_strbuf_appends(&sb, "table inet " SV_RENDER_TABLE " {\n");
        for (size_t i = 0; e == 0 && i < rs->n_sets; i++) {
                const mset *s = &rs->sets[i];
                e = sv_strbuf_appendf(&sb, "\t%s %s {\n\t\ttype %s%s\n", s->vmap ? "map" : "set",
                                      s->name, key_type_text(s), s->vmap ? " : verdict" : "");
                if (e == 0 && s->n) {
                        e = sv_strbuf_appends(&sb, "\t\telements = { ");
                        for (size_t j = 0; e == 0 && j < s->n; j++) {
                                if (j)
                                        e = sv_strbuf_appends(&sb, ",\n\t\t\t     ");
                                elem buf;
                                if (e == 0)
                                        e = elem_text(&sb, s, set_elem(s, j, &buf));
                        }
                        if (e == 0)
                                e = sv_strbuf_appends(&sb, " }\n");
                }
                if (e == 0)
                        e = sv_strbuf_appends(&sb, "\t}\n");
        }
        for (size_t i = 0; e == 0 && i < rs->n_chains; i++) {
                const chain *c = &rs->chains[i];
                e = sv_strbuf_appendf(&sb, "\tchain %s {\n", c->name);
                if (e == 0 && c->type)
                        e = sv_strbuf_appendf(&sb,
                                              "\t\ttype %s hook %s priority %d; policy accept;\n",
                                              c->type, hook_name(c->hook), c->prio);
                /* The chain's text is its rules, one per line. */
                for (const char *l = c->text; e == 0 && l && *l;) {
                        const char *nl = strchr(l, '\n');
                        size_t len = nl ? (size_t)(nl - l) : strlen(l);
                        e = sv_strbuf_appendf(&sb, "\t\t%.*s\n", (int)len, l);
                        l += len + (nl ? 1 : 0);
                }
                if (e == 0)
                        e = sv_strbuf_appends(&sb, "\t}\n");
        }
        if (e == 0)
                e = sv_strbuf_appends(&sb, "}\n");
        if (e < 0) {
                sv_strbuf_done(&sb);
                return e;
        }
        *out = sv_strbuf_steal(&sb);
        return *out ? 0 : -ENOMEM;
}

/* ---- netlink ------------------------------------------------------------ */

#define REG32(n) (NFT_REG32_00 + (n))
#define NO_DATA (-1)

static uint32_t addr_off(int fam, bool dst) {
        if (fam == 6)
                return dst ? 24 : 8;
        return dst ? 16 : 12;
}

static void set_decl(const mset *s, sv_nft_set_decl *d) {
        uint32_t ip = s->fam == 6 ? SV_NFT_TYPE_IPV6 : SV_NFT_TYPE_IPV4, n = addr_len(s->fam);
        *d = (sv_nft_set_decl){.name = s->name};
        switch (s->kind) {
        case KEY_ADDR:
                d->key_type = ip;
                d->key_len = n;
                break;
        case KEY_ADDR_PROTO_PORT:
                d->key_type = SV_NFT_CONCAT(SV_NFT_CONCAT(ip, SV_NFT_TYPE_INET_PROTO),
                                            SV_NFT_TYPE_INET_SERVICE);
                d->key_len = n + 8;
                break;
        }
        if (s->vmap) {
                d->flags |= NFT_SET_MAP;
                d->data_type = NFT_DATA_VERDICT;
        }
}

static int add_elem(struct nftnl_set *ns, const mset *s, const elem *e) {
        if (s->vmap)
                return sv_nft_set_elem_verdict(ns, e->key, e->key_len, NFT_JUMP, e->chain);
        return sv_nft_set_elem(ns, e->key, e->key_len, NULL, 0, 0);
}

/* The kernel wants an id on every new set, unique in the transaction. */
static uint32_t next_named_id = 0x40000000;

static struct nftnl_set *set_obj(const mset *s) {
        sv_nft_set_decl d;
        set_decl(s, &d);
        d.id = next_named_id++;
        if (next_named_id == 0)
                next_named_id = 0x40000000;
        return sv_nft_set_new(NFPROTO_INET, SV_RENDER_TABLE, &d);
}

static int nfproto(struct nftnl_rule *nr, int fam) {
        uint8_t p = fam == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
        int e = sv_nft_expr_meta_to(nr, NFT_REG_1, NFT_META_NFPROTO);
        return e ? e : sv_nft_expr_cmp_reg(nr, NFT_REG_1, NFT_CMP_EQ, &p, 1);
}

static int load_addr(struct nftnl_rule *nr, uint32_t reg, int fam, bool dst) {
        return sv_nft_expr_payload_to(nr, reg, NFT_PAYLOAD_NETWORK_HEADER, addr_off(fam, dst),
                                      addr_len(fam));
}

/* l4proto . th dport into two registers starting at 32-bit register n */
static int load_proto_port(struct nftnl_rule *nr, uint32_t n) {
        int e = sv_nft_expr_meta_to(nr, REG32(n), NFT_META_L4PROTO);
        return e ? e : sv_nft_expr_payload_to(nr, REG32(n + 1), NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
}

/* An anonymous set for one rule, declared (and filled) in the same batch. */
static int anon_set(sv_nft_batch *b, const sv_nft_set_decl *d, struct nftnl_set *elems) {
        _cleanup_nft_set_ struct nftnl_set *s = sv_nft_set_new(NFPROTO_INET, SV_RENDER_TABLE, d);
        if (!s)
                return -ENOMEM;
        int e = sv_nft_batch_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, s);
        if (e == 0) {
                nftnl_set_set_u32(elems, NFTNL_SET_FAMILY, NFPROTO_INET);
                if (nftnl_set_set_str(elems, NFTNL_SET_TABLE, SV_RENDER_TABLE) < 0 ||
                    nftnl_set_set_str(elems, NFTNL_SET_NAME, d->name) < 0)
                        return -ENOMEM;
                nftnl_set_set_u32(elems, NFTNL_SET_ID, d->id);
                e = sv_nft_batch_setelems(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, elems);
        }
        return e;
}

static int rule_exprs(sv_nft_batch *b, struct nftnl_rule *nr, const rule *r, uint32_t *next_id) {
        int e = 0;
        uint32_t L = addr_len(r->fam);
        switch (r->kind) {
        case RK_CT_ESTABLISHED: {
                uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED),
                         zero = 0;
                if ((e = sv_nft_expr_ct(nr, NFT_REG_1, NFT_CT_STATE, -1)) ||
                    (e = sv_nft_expr_mask_reg(nr, NFT_REG_1, &mask, 4)) ||
                    (e = sv_nft_expr_cmp_reg(nr, NFT_REG_1, NFT_CMP_NEQ, &zero, 4)))
                        return e;
                return sv_nft_expr_jump(nr, NF_ACCEPT, NULL);
        }
        case RK_ADDR_VMAP:
                if ((e = nfproto(nr, r->fam)) || (e = load_addr(nr, NFT_REG_1, r->fam, r->dst)))
                        return e;
                return sv_nft_expr_lookup(nr, NFT_REG_1, NFT_REG_VERDICT, r->set, 0);
        case RK_MATCH:
                if (r->set[0] &&
                    ((e = nfproto(nr, r->fam)) || (e = load_addr(nr, NFT_REG_1, r->fam, r->dst)) ||
                     (e = sv_nft_expr_lookup(nr, NFT_REG_1, NO_DATA, r->set, 0))))
                        return e;
                if (r->n_ports == 1 && r->ports[0].lo != r->ports[0].hi) {
                        uint16_t lo = htons(r->ports[0].lo), hi = htons(r->ports[0].hi);
                        if ((e = sv_nft_expr_meta_to(nr, NFT_REG_1, NFT_META_L4PROTO)) ||
                            (e = sv_nft_expr_cmp_reg(nr, NFT_REG_1, NFT_CMP_EQ, &r->ports[0].proto,
                                                     1)) ||
                            (e = sv_nft_expr_payload_to(nr, NFT_REG_1, NFT_PAYLOAD_TRANSPORT_HEADER,
                                                        2, 2)) ||
                            (e = sv_nft_expr_cmp_reg(nr, NFT_REG_1, NFT_CMP_GTE, &lo, 2)) ||
                            (e = sv_nft_expr_cmp_reg(nr, NFT_REG_1, NFT_CMP_LTE, &hi, 2)))
                                return e;
                } else if (r->n_ports) {
                        sv_nft_set_decl d = {
                                .name = "__set%d",
                                .id = (*next_id)++,
                                .flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT,
                                .key_type = SV_NFT_CONCAT(SV_NFT_TYPE_INET_PROTO,
                                                          SV_NFT_TYPE_INET_SERVICE),
                                .key_len = 8,
                                .size = (uint32_t)r->n_ports,
                        };
                        _cleanup_nft_set_ struct nftnl_set *el = nftnl_set_alloc();
                        if (!el)
                                return -ENOMEM;
                        for (size_t i = 0; i < r->n_ports; i++) {
                                uint8_t key[8] = {r->ports[i].proto};
                                uint16_t be = htons(r->ports[i].lo);
                                memcpy(key + 4, &be, 2);
                                if ((e = sv_nft_set_elem(el, key, 8, NULL, 0, 0)))
                                        return e;
                        }
                        if ((e = anon_set(b, &d, el)) || (e = load_proto_port(nr, 0)) ||
                            (e = sv_nft_expr_lookup(nr, NFT_REG_1, NO_DATA, d.name, d.id)))
                                return e;
                }
                return sv_nft_expr_jump(nr, r->verdict, r->verdict == NFT_JUMP ? r->chain : NULL);
        case RK_DNS:
                if ((e = nfproto(nr, r->fam)) || (e = load_addr(nr, NFT_REG_1, r->fam, true)) ||
                    (e = load_proto_port(nr, L / 4)) ||
                    (e = sv_nft_expr_lookup(nr, NFT_REG_1, NO_DATA, r->set, 0)))
                        return e;
                return sv_nft_expr_jump(nr, r->verdict, r->verdict == NFT_JUMP ? r->chain : NULL);
        case RK_VERDICT:
                return sv_nft_expr_jump(nr, r->verdict, r->verdict == NFT_JUMP ? r->chain : NULL);
        case RK_LOG:
                if ((e = sv_nft_expr_limit(nr, LOG_RATE, LOG_BURST)))
                        return e;
                return sv_nft_expr_log(nr, r->set, r->port);
        case RK_COUNTER_DROP:
                if ((e = sv_nft_expr_counter(nr)))
                        return e;
                return sv_nft_expr_jump(nr, NF_DROP, NULL);
        case RK_SPLIT_DISPATCH: {
                char local[NAME_MAX_LEN];
                snprintf(local, sizeof(local), "local%d", r->fam);
                if ((e = nfproto(nr, r->fam)) || (e = load_addr(nr, NFT_REG_1, r->fam, false)) ||
                    (e = sv_nft_expr_lookup(nr, NFT_REG_1, NO_DATA, local, 0)) ||
                    (e = load_addr(nr, NFT_REG_1, r->fam, true)) ||
                    (e = load_proto_port(nr, L / 4)))
                        return e;
                return sv_nft_expr_lookup(nr, NFT_REG_1, NFT_REG_VERDICT, r->set, 0);
        }
        case RK_WEIGHTED: {
                sv_nft_set_decl d = {
                        .name = "__map%d",
                        .id = (*next_id)++,
                        .flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL |
                                 NFT_SET_MAP,
                        .key_type = SV_NFT_TYPE_INTEGER,
                        .key_len = 4,
                        .data_type = NFT_DATA_VERDICT,
                        .size = (uint32_t)r->n_arms + 1,
                };
                _cleanup_nft_set_ struct nftnl_set *el = nftnl_set_alloc();
                if (!el)
                        return -ENOMEM;
                for (size_t i = 0; i < r->n_arms; i++) {
                        uint32_t k = htonl(r->arms[i].lo);
                        if ((e = sv_nft_set_elem_verdict(el, &k, 4, NFT_JUMP, r->arms[i].chain)))
                                return e;
                }
                if (r->n_arms) {
                        uint32_t end = htonl(r->arms[r->n_arms - 1].hi + 1);
                        if ((e = sv_nft_set_elem(el, &end, 4, NULL, 0, NFT_SET_ELEM_INTERVAL_END)))
                                return e;
                }
                if ((e = anon_set(b, &d, el)) ||
                    (e = sv_nft_expr_numgen(nr, NFT_REG_1, SPLIT_SCALE)) ||
                    (e = sv_nft_expr_hton(nr, NFT_REG_1, 4, 4)))
                        return e;
                return sv_nft_expr_lookup(nr, NFT_REG_1, NFT_REG_VERDICT, d.name, d.id);
        }
        case RK_DNAT: {
                sv_nft_set_decl d = {
                        .name = "__map%d",
                        .id = (*next_id)++,
                        .flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP,
                        .key_type = SV_NFT_TYPE_INTEGER,
                        .key_len = 4,
                        .data_type = r->fam == 6 ? SV_NFT_TYPE_IPV6 : SV_NFT_TYPE_IPV4,
                        .data_len = L,
                        .size = (uint32_t)r->n_addrs,
                        .key_host_order = true,
                };
                _cleanup_nft_set_ struct nftnl_set *el = nftnl_set_alloc();
                if (!el)
                        return -ENOMEM;
                for (size_t i = 0; i < r->n_addrs; i++) {
                        uint32_t k = (uint32_t)i; /* numgen's value, host order */
                        if ((e = sv_nft_set_elem(el, &k, 4, r->addrs[i], L, 0)))
                                return e;
                }
                uint16_t port = htons(r->port);
                if ((e = anon_set(b, &d, el)) || (e = nfproto(nr, r->fam)) ||
                    (e = sv_nft_expr_meta_to(nr, NFT_REG_1, NFT_META_L4PROTO)) ||
                    (e = sv_nft_expr_cmp_reg(nr, NFT_REG_1, NFT_CMP_EQ, &r->proto, 1)) ||
                    (e = sv_nft_expr_numgen(nr, NFT_REG_1, (uint32_t)r->n_addrs)) ||
                    (e = sv_nft_expr_lookup(nr, NFT_REG_1, NFT_REG_1, d.name, d.id)) ||
                    (e = sv_nft_expr_immediate(nr, NFT_REG_2, &port, 2)))
                        return e;
                return sv_nft_expr_dnat(nr, r->fam == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4, NFT_REG_1,
                                        NFT_REG_2);
        }
        }
        return -EINVAL;
}

static int add_rule(sv_nft_batch *b, const chain *c, const rule *r, uint32_t *next_id) {
        _cleanup_nft_rule_ struct nftnl_rule *nr =
                sv_nft_rule_new(NFPROTO_INET, SV_RENDER_TABLE, c->name);
        if (!nr)
                return -ENOMEM;
        int e = rule_exprs(b, nr, r, next_id);
        return e ? e : sv_nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, nr);
}

static int chain_msg(sv_nft_batch *b, uint16_t type, const chain *c) {
        struct nftnl_chain *nc = nftnl_chain_alloc();
        if (!nc)
                return -ENOMEM;
        nftnl_chain_set_u32(nc, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        int e = 0;
        if (nftnl_chain_set_str(nc, NFTNL_CHAIN_TABLE, SV_RENDER_TABLE) < 0 ||
            nftnl_chain_set_str(nc, NFTNL_CHAIN_NAME, c->name) < 0)
                e = -ENOMEM;
        if (e == 0 && c->type && type == NFT_MSG_NEWCHAIN) {
                nftnl_chain_set_u32(nc, NFTNL_CHAIN_HOOKNUM, c->hook);
                nftnl_chain_set_s32(nc, NFTNL_CHAIN_PRIO, c->prio);
                nftnl_chain_set_u32(nc, NFTNL_CHAIN_POLICY, NF_ACCEPT);
                if (nftnl_chain_set_str(nc, NFTNL_CHAIN_TYPE, c->type) < 0)
                        e = -ENOMEM;
        }
        if (e == 0)
                e = sv_nft_batch_chain(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, nc);
        nftnl_chain_free(nc);
        return e;
}

static int flush_chain(sv_nft_batch *b, const chain *c) {
        _cleanup_nft_rule_ struct nftnl_rule *nr =
                sv_nft_rule_new(NFPROTO_INET, SV_RENDER_TABLE, c->name);
        return nr ? sv_nft_batch_rule(b, NFT_MSG_DELRULE, 0, nr) : -ENOMEM;
}

static int table_msg(sv_nft_batch *b, uint16_t type) {
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
        int e = nftnl_table_set_str(t, NFTNL_TABLE_NAME, SV_RENDER_TABLE) < 0 ? -ENOMEM : 0;
        if (e == 0)
                e = sv_nft_batch_table(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, t);
        nftnl_table_free(t);
        return e;
}

static bool same_decl(const mset *a, const mset *b) {
        return a->fam == b->fam && a->kind == b->kind && a->vmap == b->vmap;
}

static bool same_hook(const chain *a, const chain *b) {
        if (!a->type || !b->type)
                return !a->type && !b->type;
        return strcmp(a->type, b->type) == 0 && a->hook == b->hook && a->prio == b->prio;
}

/* Element changes of one set: removals (del) or additions, by sorted merge. */
static int set_delta(sv_nft_batch *b, const mset *from, const mset *to, bool del, unsigned *count) {
        _cleanup_nft_set_ struct nftnl_set *ns = set_obj(to);
        if (!ns)
                return -ENOMEM;
        unsigned n = 0;
        int e = 0;
        /* Walk both sorted lists for what is in mine and not in other. */
        const mset *mine = del ? from : to, *other = del ? to : from;
        size_t a = 0, c = 0;
        while (a < mine->n && e == 0) {
                elem ma, oc;
                int cmp = c < other->n ? elem_cmp(set_elem(mine, a, &ma), set_elem(other, c, &oc))
                                       : -1;
                if (cmp == 0) {
                        a++;
                        c++;
                } else if (cmp > 0) {
                        c++;
                } else {
                        e = add_elem(ns, mine, set_elem(mine, a, &ma));
                        n++;
                        a++;
                }
        }
        if (e == 0 && n)
                e = sv_nft_batch_setelems(b, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
                                          del ? 0 : NLM_F_CREATE, ns);
        *count += n;
        return e;
}

static int full_sync(const sv_ruleset *to, sv_nft_batch *b, sv_render_stats *st, uint32_t *id) {
        /* Create-then-delete removes whatever table is there, in the same
         * transaction that builds the new one. */
        int e = table_msg(b, NFT_MSG_NEWTABLE);
        if (e == 0)
                e = table_msg(b, NFT_MSG_DELTABLE);
        if (e == 0)
                e = table_msg(b, NFT_MSG_NEWTABLE);
        for (size_t i = 0; e == 0 && i < to->n_chains; i++)
                e = chain_msg(b, NFT_MSG_NEWCHAIN, &to->chains[i]);
        for (size_t i = 0; e == 0 && i < to->n_sets; i++) {
                _cleanup_nft_set_ struct nftnl_set *ns = set_obj(&to->sets[i]);
                if (!ns)
                        return -ENOMEM;
                e = sv_nft_batch_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, ns);
                for (size_t j = 0; e == 0 && j < to->sets[i].n; j++) {
                        elem buf;
                        e = add_elem(ns, &to->sets[i], set_elem(&to->sets[i], j, &buf));
                }
                if (e == 0 && to->sets[i].n)
                        e = sv_nft_batch_setelems(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, ns);
                st->elems_added += (unsigned)to->sets[i].n;
        }
        for (size_t i = 0; e == 0 && i < to->n_chains; i++)
                for (size_t j = 0; e == 0 && j < to->chains[i].n; j++)
                        e = add_rule(b, &to->chains[i], &to->chains[i].rules[j], id);
        st->full = true;
        st->chains_added = (unsigned)to->n_chains;
        st->sets_added = (unsigned)to->n_sets;
        return e;
}

int sv_ruleset_diff(const sv_ruleset *from, const sv_ruleset *to, sv_nft_batch *b,
                    sv_render_stats *stats) {
        sv_render_stats st = {0};
        uint32_t id = 1;
        int e = 0;
        bool full = !from;
        /* A declaration that changed (a base chain's hook, a set's type) cannot
         * be patched: rebuild. */
        for (size_t i = 0; !full && i < to->n_sets; i++) {
                const mset *o = set_find(from, to->sets[i].name);
                if (o && !same_decl(o, &to->sets[i]))
                        full = true;
        }
        for (size_t i = 0; !full && i < to->n_chains; i++) {
                const chain *o = chain_find(from, to->chains[i].name);
                if (o && !same_hook(o, &to->chains[i]))
                        full = true;
        }
        if (full) {
                e = full_sync(to, b, &st, &id);
                if (e == 0 && stats)
                        *stats = st;
                return e;
        }
        /* New chains and sets first: elements and rules below may refer to them. */
        for (size_t i = 0; e == 0 && i < to->n_chains; i++)
                if (!chain_find(from, to->chains[i].name)) {
                        e = chain_msg(b, NFT_MSG_NEWCHAIN, &to->chains[i]);
                        st.chains_added++;
                }
        static const mset empty = {0};
        for (size_t i = 0; e == 0 && i < to->n_sets; i++)
                if (!set_find(from, to->sets[i].name)) {
                        _cleanup_nft_set_ struct nftnl_set *ns = set_obj(&to->sets[i]);
                        if (!ns)
                                return -ENOMEM;
                        e = sv_nft_batch_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, ns);
                        st.sets_added++;
                }
        /* Elements: removals before additions, so a key whose verdict changed
         * is replaced. */
        for (int del = 1; del >= 0; del--) {
                for (size_t i = 0; e == 0 && i < to->n_sets; i++) {
                        const mset *n = &to->sets[i], *o = set_find(from, n->name);
                        if (!o) {
                                if (del)
                                        continue;
                                mset tmp = empty;
                                tmp.kind = n->kind;
                                tmp.fam = n->fam;
                                tmp.vmap = n->vmap;
                                e = set_delta(b, &tmp, n, false, &st.elems_added);
                                continue;
                        }
                        e = set_delta(b, o, n, del, del ? &st.elems_removed : &st.elems_added);
                }
        }
        /* Chains whose rules changed: flushed and refilled. */
        for (size_t i = 0; e == 0 && i < to->n_chains; i++) {
                const chain *n = &to->chains[i], *o = chain_find(from, n->name);
                if (o && strcmp(o->text, n->text) == 0)
                        continue;
                if (o) {
                        e = flush_chain(b, n);
                        st.chains_changed++;
                }
                for (size_t j = 0; e == 0 && j < n->n; j++)
                        e = add_rule(b, n, &n->rules[j], &id);
        }
        /* What is gone: chains flushed, then deleted, then sets. */
        for (size_t i = 0; e == 0 && i < from->n_chains; i++)
                if (!chain_find(to, from->chains[i].name))
                        e = flush_chain(b, &from->chains[i]);
        for (size_t i = 0; e == 0 && i < from->n_chains; i++)
                if (!chain_find(to, from->chains[i].name)) {
                        e = chain_msg(b, NFT_MSG_DELCHAIN, &from->chains[i]);
                        st.chains_removed++;
                }
        for (size_t i = 0; e == 0 && i < from->n_sets; i++)
                if (!set_find(to, from->sets[i].name)) {
                        _cleanup_nft_set_ struct nftnl_set *ns = set_obj(&from->sets[i]);
                        if (!ns)
                                return -ENOMEM;
                        e = sv_nft_batch_set(b, NFT_MSG_DELSET, 0, ns);
                        st.sets_removed++;
                }
        if (e == 0 && stats)
                *stats = st;
        return e;
}

bool sv_ruleset_same_chains(const sv_ruleset *a, const sv_ruleset *b) {
        if (a->n_chains != b->n_chains)
                return false;
        for (size_t i = 0; i < a->n_chains; i++) {
                const chain *o = chain_find(b, a->chains[i].name);
                if (!o || strcmp(o->text, a->chains[i].text) != 0)
                        return false;
        }
        return true;
}
