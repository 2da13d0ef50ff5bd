/* SPDX-License-Identifier: Apache-2.0 */
/* Builders for the few rule expressions Selvedge uses. Each appends one
 * expression to r and returns 0 or -ENOMEM. */
#pragma once

#include <stdio.h> /* libnftnl/expr.h uses FILE */

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <stdbool.h>
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

/* Register-explicit builders, for rules that build concatenated keys (each
 * field in its own 32-bit register, NFT_REG32_00 + n) or chain lookups. */
int sv_nft_expr_payload_to(struct nftnl_rule *r, uint32_t dreg, uint32_t base, uint32_t offset,
                           uint32_t len);
int sv_nft_expr_meta_to(struct nftnl_rule *r, uint32_t dreg, uint32_t key);
int sv_nft_expr_cmp_reg(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data,
                        uint32_t len);
/* reg := (reg & mask) ^ 0, len bytes */
int sv_nft_expr_mask_reg(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len);
/* dreg := conntrack key; dir < 0 for keys without a direction */
int sv_nft_expr_ct(struct nftnl_rule *r, uint32_t dreg, uint32_t key, int dir);
/* Continue only if sreg's key is in the set (named, or anonymous by set_id when
 * set_id != 0); with dreg >= 0, the map's data lands there (NFT_REG_VERDICT
 * for a verdict map). */
int sv_nft_expr_lookup(struct nftnl_rule *r, uint32_t sreg, int dreg, const char *set,
                       uint32_t set_id);
/* dreg := random number in [0, mod) */
int sv_nft_expr_numgen(struct nftnl_rule *r, uint32_t dreg, uint32_t mod);
/* reg := host-to-network order of len bytes in size-byte words */
int sv_nft_expr_hton(struct nftnl_rule *r, uint32_t reg, uint32_t len, uint32_t size);
int sv_nft_expr_immediate(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len);
/* verdict NFT_JUMP / NFT_GOTO to chain, or NFT_RETURN etc. with chain NULL */
int sv_nft_expr_jump(struct nftnl_rule *r, int verdict, const char *chain);
/* Destination NAT of family (NFPROTO_IPV4/6) to the address in reg_addr and,
 * when reg_port is not 0, the port in reg_port. */
int sv_nft_expr_dnat(struct nftnl_rule *r, uint32_t family, uint32_t reg_addr, uint32_t reg_port);
int sv_nft_expr_limit(struct nftnl_rule *r, uint64_t per_second, uint32_t burst);
int sv_nft_expr_log(struct nftnl_rule *r, const char *prefix, uint16_t group);
