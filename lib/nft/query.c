/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/query.h"

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>
#include <sys/socket.h>

#include "base/macro.h"
#include "nft/nl.h"

struct chain_walk {
        const char *table;
        sv_nft_chain_fn fn;
        void *userdata;
        int error;
        struct nftnl_chain *one;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data) {
        struct chain_walk *w = data;
        _cleanup_nft_chain_ struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c) {
                w->error = -ENOMEM;
                return MNL_CB_ERROR;
        }
        if (nftnl_chain_nlmsg_parse(nlh, c) < 0)
                return MNL_CB_OK; /* not a chain message */
        const char *t = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
        if (!t || strcmp(t, w->table) != 0)
                return MNL_CB_OK;
        if (!w->fn) {
                w->one = TAKE_PTR(c);
                return MNL_CB_OK;
        }
        int r = w->fn(c, w->userdata);
        if (r < 0) {
                w->error = r;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

static struct nlmsghdr *chain_request(char *buf, uint32_t family, const char *table,
                                      const char *name) {
        uint16_t flags = name ? NLM_F_ACK : NLM_F_DUMP;
        struct nlmsghdr *nlh =
                nftnl_chain_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)family, flags, 1);
        _cleanup_nft_chain_ struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                return NULL;
        if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
            (name && nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0))
                return NULL;
        nftnl_chain_nlmsg_build_payload(nlh, c);
        return nlh;
}

int sv_nft_list_chains(sv_nft_ctx *ctx, uint32_t family, const char *table, sv_nft_chain_fn fn,
                       void *userdata) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh = chain_request(buf, family, table, NULL);
        if (!nlh)
                return -ENOMEM;
        struct chain_walk w = {.table = table, .fn = fn, .userdata = userdata};
        int r = sv_nft_ctx_talk(ctx, nlh, chain_cb, &w);
        if (w.error)
                return w.error;
        return r == -ENOENT ? 0 : r;
}

int sv_nft_get_chain(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *name,
                     struct nftnl_chain **out) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh = chain_request(buf, family, table, name);
        if (!nlh)
                return -ENOMEM;
        struct chain_walk w = {.table = table};
        int r = sv_nft_ctx_talk(ctx, nlh, chain_cb, &w);
        if (w.error)
                r = w.error;
        if (r < 0) {
                if (w.one)
                        nftnl_chain_free(w.one);
                return r;
        }
        if (!w.one)
                return -ENOENT;
        *out = w.one;
        return 0;
}

struct rule_stats {
        const char *chain;
        unsigned rules;
        uint64_t packets;
};

static int count_expr(struct nftnl_expr *e, void *data) {
        struct rule_stats *s = data;
        const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        if (name && strcmp(name, "counter") == 0)
                s->packets += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
        return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data) {
        struct rule_stats *s = data;
        struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return MNL_CB_ERROR;
        if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
                const char *c = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
                if (c && strcmp(c, s->chain) == 0) {
                        s->rules++;
                        (void)nftnl_expr_foreach(r, count_expr, s);
                }
        }
        nftnl_rule_free(r);
        return MNL_CB_OK;
}

int sv_nft_chain_stats(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *name,
                       unsigned *rules, uint64_t *counted_packets) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh =
                nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)family, NLM_F_DUMP, 1);
        struct nftnl_rule *filter = nftnl_rule_alloc();
        if (!filter)
                return -ENOMEM;
        if (nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, table) < 0 ||
            nftnl_rule_set_str(filter, NFTNL_RULE_CHAIN, name) < 0) {
                nftnl_rule_free(filter);
                return -ENOMEM;
        }
        nftnl_rule_nlmsg_build_payload(nlh, filter);
        nftnl_rule_free(filter);

        struct rule_stats s = {.chain = name};
        int r = sv_nft_ctx_talk(ctx, nlh, rule_cb, &s);
        if (r < 0)
                return r;
        *rules = s.rules;
        *counted_packets = s.packets;
        return 0;
}
