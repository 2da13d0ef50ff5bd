/* SPDX-License-Identifier: Apache-2.0 */
/* Sets and maps: declarations and elements, appended to a transaction. */
#pragma once

#include <stdio.h> /* libnftnl/set.h uses FILE */

#include <libnftnl/set.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/macro.h"
#include "nft/batch.h"

static inline void nftnl_set_freep(struct nftnl_set **s) {
        if (*s)
                nftnl_set_free(*s);
}
#define _cleanup_nft_set_ _cleanup_(nftnl_set_freep)

/* nft's datatype numbers, which `nft list` uses to print keys; the kernel
 * only looks at lengths. A concatenation's type is its fields' types, 6 bits
 * each. */
enum {
        SV_NFT_TYPE_VERDICT = 1,
        SV_NFT_TYPE_INTEGER = 4,
        SV_NFT_TYPE_IPV4 = 7,
        SV_NFT_TYPE_IPV6 = 8,
        SV_NFT_TYPE_INET_PROTO = 12,
        SV_NFT_TYPE_INET_SERVICE = 13,
};
#define SV_NFT_CONCAT(a, b) (((a) << 6) | (b))

typedef struct sv_nft_set_decl {
        const char *name; /* "__set%d" for an anonymous set */
        uint32_t id;      /* anonymous sets: referenced by this id in the same batch */
        uint32_t flags;   /* NFT_SET_* */
        uint32_t key_type, key_len;
        uint32_t data_type, data_len; /* maps; NFT_DATA_VERDICT for verdict maps */
        uint32_t size;                /* 0: unbounded */
        /* The key is an integer in host byte order (numgen's value): recorded
         * for `nft list`, which otherwise prints it as big-endian. */
        bool key_host_order;
} sv_nft_set_decl;

/* A set of family/table as declared; NULL on allocation failure. */
struct nftnl_set *sv_nft_set_new(uint32_t family, const char *table, const sv_nft_set_decl *d);

/* Elements. An interval set takes each range as its start element plus an end
 * element (flag NFT_SET_ELEM_INTERVAL_END, no data). */
int sv_nft_set_elem(struct nftnl_set *s, const void *key, uint32_t key_len, const void *data,
                    uint32_t data_len, uint32_t flags);
/* A verdict map element: key -> verdict (NFT_JUMP with chain, NF_ACCEPT...). */
int sv_nft_set_elem_verdict(struct nftnl_set *s, const void *key, uint32_t key_len, int verdict,
                            const char *chain);

/* NEWSET / DELSET of s (its elements are not sent). */
int sv_nft_batch_set(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_set *s);
/* NEWSETELEM / DELSETELEM of all of s's elements, split into messages that fit. */
int sv_nft_batch_setelems(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_set *s);
