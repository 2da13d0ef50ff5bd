/* SPDX-License-Identifier: Apache-2.0 */
/* Builders for the few rule expressions Selvedge uses. Each appends one
 * expression to r and returns 0 or -ENOMEM. */
#pragma once

#include <stdio.h> /* libnftnl/expr.h uses FILE */

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"

static inline void nftnl_rule_freep(struct nftnl_rule **r) {
        if (*r)
                nftnl_rule_free(*r);
}
#define _cleanup_nft_rule_ _cleanup_(nftnl_rule_freep)

/* A rule for family/table/chain; NULL on allocation failure. */
struct nftnl_rule *sv_nft_rule_new(uint32_t family, const char *table, const char *chain);

/* reg := packet[base + offset, len] (base: NFT_PAYLOAD_LL_HEADER, ...) */
int sv_nft_expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len);
/* reg := meta key (NFT_META_PROTOCOL, ...) */
int sv_nft_expr_meta(struct nftnl_rule *r, uint32_t key);
/* reg := reg & mask (len bytes) */
int sv_nft_expr_mask(struct nftnl_rule *r, const void *mask, uint32_t len);
/* continue only if reg <op> data (NFT_CMP_EQ, NFT_CMP_NEQ, ...) */
int sv_nft_expr_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len);
int sv_nft_expr_counter(struct nftnl_rule *r);
/* final verdict (NF_ACCEPT, NF_DROP) */
int sv_nft_expr_verdict(struct nftnl_rule *r, int verdict);
