/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/rule.h"

#include <errno.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>

/* The guard's rules are linear load-compare chains: all in register 1. */
#define REG NFT_REG_1

struct nftnl_rule *sv_nft_rule_new(uint32_t family, const char *table, const char *chain) {
        struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return NULL;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
        if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
            nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0) {
                nftnl_rule_free(r);
                return NULL;
        }
        return r;
}

static int add(struct nftnl_rule *r, struct nftnl_expr *e) {
        if (!e)
                return -ENOMEM;
        nftnl_rule_add_expr(r, e);
        return 0;
}

int sv_nft_expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len) {
        return sv_nft_expr_payload_to(r, REG, base, offset, len);
}

int sv_nft_expr_meta(struct nftnl_rule *r, uint32_t key) {
        return sv_nft_expr_meta_to(r, REG, key);
}

int sv_nft_expr_mask(struct nftnl_rule *r, const void *mask, uint32_t len) {
        return sv_nft_expr_mask_reg(r, REG, mask, len);
}

int sv_nft_expr_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len) {
        return sv_nft_expr_cmp_reg(r, REG, op, data, len);
}

int sv_nft_expr_counter(struct nftnl_rule *r) {
        return add(r, nftnl_expr_alloc("counter"));
}

int sv_nft_expr_verdict(struct nftnl_rule *r, int verdict) {
        return sv_nft_expr_jump(r, verdict, NULL);
}

int sv_nft_expr_payload_to(struct nftnl_rule *r, uint32_t dreg, uint32_t base, uint32_t offset,
                           uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("payload");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        }
        return add(r, e);
}

int sv_nft_expr_meta_to(struct nftnl_rule *r, uint32_t dreg, uint32_t key) {
        struct nftnl_expr *e = nftnl_expr_alloc("meta");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
                nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        }
        return add(r, e);
}

int sv_nft_expr_cmp_reg(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data,
                        uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("cmp");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
                nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        }
        return add(r, e);
}

int sv_nft_expr_mask_reg(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len) {
        static const uint8_t zero[16];
        if (len > sizeof(zero))
                return -EINVAL;
        struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
                nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
        }
        return add(r, e);
}

int sv_nft_expr_ct(struct nftnl_rule *r, uint32_t dreg, uint32_t key, int dir) {
        struct nftnl_expr *e = nftnl_expr_alloc("ct");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
                nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
                if (dir >= 0)
                        nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, (uint8_t)dir);
        }
        return add(r, e);
}

int sv_nft_expr_lookup(struct nftnl_rule *r, uint32_t sreg, int dreg, const char *set,
                       uint32_t set_id) {
        struct nftnl_expr *e = nftnl_expr_alloc("lookup");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
                if (dreg >= 0)
                        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
                if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0) {
                        nftnl_expr_free(e);
                        return -ENOMEM;
                }
                if (set_id)
                        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        }
        return add(r, e);
}

int sv_nft_expr_numgen(struct nftnl_rule *r, uint32_t dreg, uint32_t mod) {
        struct nftnl_expr *e = nftnl_expr_alloc("numgen");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, mod);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
        }
        return add(r, e);
}

int sv_nft_expr_hton(struct nftnl_rule *r, uint32_t reg, uint32_t len, uint32_t size) {
        struct nftnl_expr *e = nftnl_expr_alloc("byteorder");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, len);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, size);
        }
        return add(r, e);
}

int sv_nft_expr_immediate(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
                nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
        }
        return add(r, e);
}

int sv_nft_expr_jump(struct nftnl_rule *r, int verdict, const char *chain) {
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
                if (chain && nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain) < 0) {
                        nftnl_expr_free(e);
                        return -ENOMEM;
                }
        }
        return add(r, e);
}

int sv_nft_expr_dnat(struct nftnl_rule *r, uint32_t family, uint32_t reg_addr, uint32_t reg_port) {
        struct nftnl_expr *e = nftnl_expr_alloc("nat");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
                if (reg_port) {
                        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_port);
                        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
        }
        return add(r, e);
}

int sv_nft_expr_limit(struct nftnl_rule *r, uint64_t per_second, uint32_t burst) {
        struct nftnl_expr *e = nftnl_expr_alloc("limit");
        if (e) {
                nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, per_second);
                nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
                nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
        }
        return add(r, e);
}

int sv_nft_expr_log(struct nftnl_rule *r, const char *prefix, uint16_t group) {
        struct nftnl_expr *e = nftnl_expr_alloc("log");
        if (e) {
                nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
                if (nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix) < 0) {
                        nftnl_expr_free(e);
                        return -ENOMEM;
                }
        }
        return add(r, e);
}
