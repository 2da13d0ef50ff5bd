/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/guard.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <string.h>

#include "nft/batch.h"
#include "nft/query.h"
#include "nft/rule.h"

#define FAMILY NFPROTO_NETDEV
#define BATCH_MAX (256 * 1024)

/* Offsets in the headers the rules read. */
#define ETH_SRC_OFFSET 6
#define IP4_SRC_OFFSET 12
#define IP6_NEXTHDR_OFFSET 6
#define IP6_SRC_OFFSET 8
#define ARP_SHA_OFFSET 8 /* Ethernet/IPv4 ARP: sender hardware address */
#define ARP_SPA_OFFSET 14

void guard_chain_name(const char *container_id, const char *ifname, char out[GUARD_CHAIN_MAX]) {
        /* FNV-1a, 64 bits: collisions need ~4e9 attachments on one node. */
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const char *s = container_id;; s++) {
                h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
                if (!*s)
                        break;
        }
        for (const char *s = ifname; *s; s++)
                h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
        (void)snprintf(out, GUARD_CHAIN_MAX, GUARD_CHAIN_PREFIX "%016llx", (unsigned long long)h);
}

static unsigned expected_rules(const guard_spec *g) {
        /* MAC check, one per address, ARP per IPv4 address, final drop; with
         * IPv6 also two link-local rules and duplicate-address detection. */
        return 2 + (unsigned)(2 * g->addrs.n4 + g->addrs.n6) + (g->addrs.n6 ? 3 : 0);
}

static int match_protocol(struct nftnl_rule *r, uint16_t ethertype) {
        uint16_t be = htons(ethertype);
        int e = sv_nft_expr_meta(r, NFT_META_PROTOCOL);
        return e < 0 ? e : sv_nft_expr_cmp(r, NFT_CMP_EQ, &be, sizeof(be));
}

static int match_bytes(struct nftnl_rule *r, uint32_t base, uint32_t off, const void *data,
                       uint32_t len, uint32_t op) {
        int e = sv_nft_expr_payload(r, base, off, len);
        return e < 0 ? e : sv_nft_expr_cmp(r, op, data, len);
}

/* Appends a rule built by the caller's expressions, ending in verdict. */
static int add_rule(sv_nft_batch *b, struct nftnl_rule *r, int build_result, bool count,
                    int verdict) {
        if (build_result < 0)
                return build_result;
        int e = count ? sv_nft_expr_counter(r) : 0;
        if (e == 0)
                e = sv_nft_expr_verdict(r, verdict);
        if (e == 0)
                e = sv_nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r);
        return e;
}

static int build_rules(sv_nft_batch *b, const guard_spec *g) {
        const uint32_t LL = NFT_PAYLOAD_LL_HEADER, NH = NFT_PAYLOAD_NETWORK_HEADER;
        int e;

#define RULE(expr, count, verdict)                                                                 \
        do {                                                                                       \
                _cleanup_nft_rule_ struct nftnl_rule *r =                                          \
                        sv_nft_rule_new(FAMILY, GUARD_TABLE, g->chain);                            \
                if (!r)                                                                            \
                        return -ENOMEM;                                                            \
                e = add_rule(b, r, (expr), (count), (verdict));                                    \
                if (e < 0)                                                                         \
                        return e;                                                                  \
        } while (0)

        /* Another pod's MAC: drop, whatever it carries. */
        RULE(match_bytes(r, LL, ETH_SRC_OFFSET, g->mac, 6, NFT_CMP_NEQ), true, NF_DROP);

        for (size_t i = 0; i < g->addrs.n4; i++) {
                RULE(match_protocol(r, ETH_P_IP)
                             ?: match_bytes(r, NH, IP4_SRC_OFFSET, &g->addrs.v4[i], 4, NFT_CMP_EQ),
                     false, NF_ACCEPT);
                RULE(match_protocol(r, ETH_P_ARP) ?:
                             match_bytes(r, NH, ARP_SHA_OFFSET, g->mac, 6, NFT_CMP_EQ) ?:
                             match_bytes(r, NH, ARP_SPA_OFFSET, &g->addrs.v4[i], 4, NFT_CMP_EQ),
                     false, NF_ACCEPT);
        }
        for (size_t i = 0; i < g->addrs.n6; i++)
                RULE(match_protocol(r, ETH_P_IPV6)
                             ?: match_bytes(r, NH, IP6_SRC_OFFSET, &g->addrs.v6[i], 16, NFT_CMP_EQ),
                     false, NF_ACCEPT);
        if (g->addrs.n6) {
                /* Neighbour discovery and multicast listener reports need the
                 * link-local source (MLD reports carry a hop-by-hop header), and
                 * duplicate-address detection the unspecified one; nothing else
                 * may use them. */
                static const uint8_t ll_mask[2] = {0xff, 0xc0}, ll_net[2] = {0xfe, 0x80};
                static const uint8_t unspecified[16] = {0};
                static const uint8_t ll_protocols[] = {IPPROTO_ICMPV6, IPPROTO_HOPOPTS};
                const uint8_t icmpv6 = IPPROTO_ICMPV6;
                for (size_t i = 0; i < ARRAY_SIZE(ll_protocols); i++)
                        RULE(match_protocol(r, ETH_P_IPV6) ?:
                                     match_bytes(r, NH, IP6_NEXTHDR_OFFSET, &ll_protocols[i], 1,
                                                 NFT_CMP_EQ) ?:
                                     sv_nft_expr_payload(r, NH, IP6_SRC_OFFSET, 2) ?:
                                     sv_nft_expr_mask(r, ll_mask, 2) ?:
                                     sv_nft_expr_cmp(r, NFT_CMP_EQ, ll_net, 2),
                             false, NF_ACCEPT);
                RULE(match_protocol(r, ETH_P_IPV6) ?:
                             match_bytes(r, NH, IP6_NEXTHDR_OFFSET, &icmpv6, 1, NFT_CMP_EQ) ?:
                             match_bytes(r, NH, IP6_SRC_OFFSET, unspecified, 16, NFT_CMP_EQ),
                     false, NF_ACCEPT);
        }
        /* Everything else (other sources, other ethertypes, VLAN tags) is dropped
         * and counted, so spoofing attempts are visible. */
        RULE(0, true, NF_DROP);
#undef RULE
        return 0;
}

static int new_table(sv_nft_batch *b) {
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, FAMILY);
        int e = nftnl_table_set_str(t, NFTNL_TABLE_NAME, GUARD_TABLE) < 0 ? -ENOMEM : 0;
        if (e == 0)
                e = sv_nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t);
        nftnl_table_free(t);
        return e;
}

static struct nftnl_chain *chain_object(const char *name) {
        struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                return NULL;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, FAMILY);
        if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, GUARD_TABLE) < 0 ||
            nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0) {
                nftnl_chain_free(c);
                return NULL;
        }
        return c;
}

/* Appends flush + delete of an existing chain. */
static int delete_chain(sv_nft_batch *b, const char *name) {
        _cleanup_nft_rule_ struct nftnl_rule *flush = sv_nft_rule_new(FAMILY, GUARD_TABLE, name);
        if (!flush)
                return -ENOMEM;
        int e = sv_nft_batch_rule(b, NFT_MSG_DELRULE, 0, flush);
        if (e < 0)
                return e;
        _cleanup_nft_chain_ struct nftnl_chain *c = chain_object(name);
        if (!c)
                return -ENOMEM;
        return sv_nft_batch_chain(b, NFT_MSG_DELCHAIN, 0, c);
}

int guard_apply(sv_nft_ctx *ctx, const guard_spec *g) {
        _cleanup_nft_batch_ sv_nft_batch *b = NULL;
        int e = sv_nft_batch_new(BATCH_MAX, &b);
        if (e < 0)
                return e;
        if ((e = new_table(b)) < 0)
                return e;

        /* A repeated ADD (say, after a runtime restart) replaces the chain in
         * the same transaction, so the pod is never unguarded. */
        _cleanup_nft_chain_ struct nftnl_chain *old = NULL;
        e = sv_nft_get_chain(ctx, FAMILY, GUARD_TABLE, g->chain, &old);
        if (e == 0)
                e = delete_chain(b, g->chain);
        else if (e == -ENOENT)
                e = 0;
        if (e < 0)
                return e;

        _cleanup_nft_chain_ struct nftnl_chain *c = chain_object(g->chain);
        if (!c)
                return -ENOMEM;
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, GUARD_PRIORITY);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        if (nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, g->host_ifname) < 0)
                return -ENOMEM;
        if ((e = sv_nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c)) < 0)
                return e;
        if ((e = build_rules(b, g)) < 0)
                return e;
        return sv_nft_batch_commit(ctx, b);
}

int guard_remove(sv_nft_ctx *ctx, const char *chain) {
        _cleanup_nft_chain_ struct nftnl_chain *old = NULL;
        int e = sv_nft_get_chain(ctx, FAMILY, GUARD_TABLE, chain, &old);
        if (e == -ENOENT)
                return 0;
        if (e < 0)
                return e;
        _cleanup_nft_batch_ sv_nft_batch *b = NULL;
        if ((e = sv_nft_batch_new(BATCH_MAX, &b)) < 0)
                return e;
        if ((e = delete_chain(b, chain)) < 0)
                return e;
        e = sv_nft_batch_commit(ctx, b);
        /* Gone in between (a concurrent GC): the goal is reached. */
        return e == -ENOENT ? 0 : e;
}

int guard_verify(sv_nft_ctx *ctx, const guard_spec *g, sv_error *err) {
        _cleanup_nft_chain_ struct nftnl_chain *c = NULL;
        int e = sv_nft_get_chain(ctx, FAMILY, GUARD_TABLE, g->chain, &c);
        if (e == -ENOENT)
                return sv_errorf(err, e, SV_CODE_INTERNAL,
                                 "anti-spoofing chain %s is missing from table netdev %s", g->chain,
                                 GUARD_TABLE);
        if (e < 0)
                return sv_errorf(err, e, SV_CODE_IO, "reading nftables chain %s: %s", g->chain,
                                 strerror(-e));
        const char *dev = nftnl_chain_is_set(c, NFTNL_CHAIN_DEV)
                                  ? nftnl_chain_get_str(c, NFTNL_CHAIN_DEV)
                                  : NULL;
        if (!dev || strcmp(dev, g->host_ifname) != 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INTERNAL,
                                 "anti-spoofing chain %s is bound to \"%s\", not to the pod's "
                                 "host interface \"%s\"",
                                 g->chain, dev ? dev : "", g->host_ifname);
        unsigned rules;
        uint64_t dropped;
        e = sv_nft_chain_stats(ctx, FAMILY, GUARD_TABLE, g->chain, &rules, &dropped);
        if (e < 0)
                return sv_errorf(err, e, SV_CODE_IO, "reading rules of %s: %s", g->chain,
                                 strerror(-e));
        if (rules != expected_rules(g))
                return sv_errorf(err, -EINVAL, SV_CODE_INTERNAL,
                                 "anti-spoofing chain %s has %u rules, expected %u", g->chain,
                                 rules, expected_rules(g));
        return 0;
}

struct list_ctx {
        int (*fn)(const char *chain, void *userdata);
        void *userdata;
};

static int list_cb(const struct nftnl_chain *c, void *userdata) {
        struct list_ctx *ctx = userdata;
        const char *name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
        if (!name || strncmp(name, GUARD_CHAIN_PREFIX, strlen(GUARD_CHAIN_PREFIX)) != 0)
                return 0;
        return ctx->fn(name, ctx->userdata);
}

int guard_list(sv_nft_ctx *ctx, int (*fn)(const char *chain, void *userdata), void *userdata) {
        struct list_ctx lc = {fn, userdata};
        return sv_nft_list_chains(ctx, FAMILY, GUARD_TABLE, list_cb, &lc);
}

static int probe_cb(const struct nftnl_chain *c, void *userdata) {
        return 0;
}

int guard_probe(sv_nft_ctx *ctx) {
        return sv_nft_list_chains(ctx, FAMILY, GUARD_TABLE, probe_cb, NULL);
}
