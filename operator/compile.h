/* SPDX-License-Identifier: Apache-2.0 */
/* The compiler: from the informers' caches to the node's desired mesh state,
 * the one input of every renderer (nftables, HAProxy). Level-triggered: it
 * always compiles everything from the caches, so no event can be missed; the
 * output is deterministic (sorted), so an unchanged cluster compiles to the
 * same bytes and nothing is re-applied. The format is in docs/operator.md.
 *
 * Alongside the state it gives a verdict per ServicePolicy and TrafficSplit
 * (the Accepted condition): every node computes it, the leader writes it. */
#pragma once

#include <jansson.h>

#include "base/error.h"
#include "base/hashmap.h"
#include "kube/informer.h"

#define SV_STATE_VERSION 2

typedef struct sv_caches {
        const char *node;
        sv_informer *local_pods, *remote_pods, *services, *slices, *namespaces, *policies, *splits;
        /* CNI attachments (chain -> sv_attachment), or NULL: they give a local
         * pod its addresses before its status has them. */
        sv_hashmap *attachments;
} sv_caches;

/* *state: the node's state (see docs/operator.md). *verdicts: {"<uid>":
 * {"accepted": bool, "reason": "...", "message": "...",
 * "generation": N}}, one per ServicePolicy and TrafficSplit; short-lived, as
 * the state (whoever keeps verdicts keeps them in a compact form). */
/* What a compile derives from pods, namespaces, Services, EndpointSlices and
 * attachments (indexes, resolved selectors, the pods and Services parts of
 * the state), kept for the next compile. The caller invalidates it when any
 * of those change; a change of a ServicePolicy or TrafficSplit alone then
 * costs only what that object names. */
typedef struct sv_compile_cache sv_compile_cache;
int sv_compile_cache_new(sv_compile_cache **out);
sv_compile_cache *sv_compile_cache_free(sv_compile_cache *cache);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_compile_cache *, sv_compile_cache_free);
void sv_compile_cache_invalidate(sv_compile_cache *cache);

/* cache may be NULL (everything is derived afresh). */
int sv_compile(const sv_caches *caches, sv_compile_cache *cache, json_t **state, json_t **verdicts,
               sv_error *err);
