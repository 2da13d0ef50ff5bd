/* SPDX-License-Identifier: Apache-2.0 */
/* Reading nftables state back from the kernel. */
#pragma once

#include <libnftnl/chain.h>
#include <stdint.h>

#include "nft/ctx.h"

static inline void nftnl_chain_freep(struct nftnl_chain **c) {
        if (*c)
                nftnl_chain_free(*c);
}
#define _cleanup_nft_chain_ _cleanup_(nftnl_chain_freep)

typedef int (*sv_nft_chain_fn)(const struct nftnl_chain *c, void *userdata);

/* Calls fn for every chain of family/table (none when the table is absent).
 * A negative return from fn stops the walk and is returned. */
int sv_nft_list_chains(sv_nft_ctx *ctx, uint32_t family, const char *table, sv_nft_chain_fn fn,
                       void *userdata);

/* Fetches one chain; -ENOENT when it or its table does not exist. */
int sv_nft_get_chain(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *name,
                     struct nftnl_chain **out);

/* Number of rules in a chain, and the packet count of its counters summed. */
int sv_nft_chain_stats(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *name,
                       unsigned *rules, uint64_t *counted_packets);
