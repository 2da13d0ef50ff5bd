/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables renderer: turns the node's compiled state (docs/operator.md)
 * into a model of table `inet selvedge` (docs/nftables.md) and the model into
 * netlink transactions: the whole table, or only what differs from the model
 * applied before. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/macro.h"
#include "nft/batch.h"

#define SV_RENDER_TABLE "selvedge"

typedef struct sv_render_config {
        bool default_deny;       /* the mesh-wide default for ingress */
        const char *dns_service; /* "namespace/name" of the cluster DNS Service */
        uint16_t nflog_group;    /* where denials are logged */
} sv_render_config;

typedef struct sv_ruleset sv_ruleset;

int sv_render(const json_t *state, const sv_render_config *cfg, sv_ruleset **out, sv_error *err);
sv_ruleset *sv_ruleset_free(sv_ruleset *rs);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_ruleset *, sv_ruleset_free);
#define _cleanup_ruleset_ _cleanup_(sv_ruleset_freep)

/* The model in nft syntax (`nft -f` reads it), deterministic: the golden files. */
int sv_ruleset_text(const sv_ruleset *rs, char **out);

/* Drops what only the applying of rs needs (each chain's rules, as
 * structs): kept as the applied model, rs is diffed against by chain texts
 * and set elements only (sv_ruleset_diff's from). ~0.25 MB at 1,000
 * policies. rs can no longer be a diff's `to`. */
void sv_ruleset_forget_rules(sv_ruleset *rs);

typedef struct sv_render_stats {
        unsigned chains_added, chains_changed, chains_removed;
        unsigned sets_added, sets_removed, elems_added, elems_removed;
        bool full;
} sv_render_stats;

/* Appends to b the messages that turn the kernel's table from `from` into
 * `to`; from == NULL means "unknown": the table is replaced whole. */
int sv_ruleset_diff(const sv_ruleset *from, const sv_ruleset *to, sv_nft_batch *b,
                    sv_render_stats *stats);

/* Whether a ruleset's structure (everything except set elements) equals
 * another's; for tests. */
bool sv_ruleset_same_chains(const sv_ruleset *a, const sv_ruleset *b);
