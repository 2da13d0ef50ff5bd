/* SPDX-License-Identifier: Apache-2.0 */
/* One nftables transaction: messages are appended to a batch that the kernel
 * applies all-or-nothing when committed. */
#pragma once

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <stdint.h>

#include "base/macro.h"
#include "nft/ctx.h"

typedef struct sv_nft_batch sv_nft_batch;

/* max_bytes caps the batch; appending past it fails with -ENOBUFS. */
int sv_nft_batch_new(size_t max_bytes, sv_nft_batch **out);
void sv_nft_batch_free(sv_nft_batch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_nft_batch *, sv_nft_batch_free);
#define _cleanup_nft_batch_ _cleanup_(sv_nft_batch_freep)

/* Appends NEWTABLE / NEWCHAIN / NEWRULE (create, not exclusive), or the
 * matching DEL message. A DELRULE with only table and chain set flushes the
 * chain. */
int sv_nft_batch_table(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_table *t);
int sv_nft_batch_chain(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_chain *c);
int sv_nft_batch_rule(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_rule *r);

/* After a failed commit: the type (NFT_MSG_*) and position (1 = first) of
 * the message the kernel refused. */
void sv_nft_batch_failed(const sv_nft_batch *b, uint16_t *type, uint32_t *index);

/* Number of messages appended so far (begin/end markers excluded). */
unsigned sv_nft_batch_count(const sv_nft_batch *b);

/* Sends the batch on ctx's socket and collects the kernel's answers. Returns 0
 * when every message applied, or the first error as -errno, in which case the
 * kernel applied nothing. */
int sv_nft_batch_commit(sv_nft_ctx *ctx, sv_nft_batch *b);
