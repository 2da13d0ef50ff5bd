/* SPDX-License-Identifier: Apache-2.0 */
/* Anti-spoofing: one netdev ingress chain per pod on its host-side interface,
 * accepting only frames with the pod's MAC and packets with the pod's
 * addresses. Every frame the pod sends passes it before being bridged or
 * routed, so the per-packet cost does not depend on the number of pods. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cni/prevresult.h"
#include "nft/ctx.h"

#define GUARD_TABLE "selvedge_guard"
#define GUARD_CHAIN_PREFIX "pod_"
#define GUARD_CHAIN_MAX 24
/* Earlier than any other ingress filter: a spoofed frame must not reach them. */
#define GUARD_PRIORITY (-500)

typedef struct guard_spec {
        char chain[GUARD_CHAIN_MAX];
        char host_ifname[IF_NAMESIZE];
        uint8_t mac[6];
        pod_addrs addrs;
} guard_spec;

/* The chain of one attachment: a hash of (container id, ifname), so DEL and GC
 * find it without any state. */
void guard_chain_name(const char *container_id, const char *ifname, char out[GUARD_CHAIN_MAX]);

/* Installs (or replaces) the pod's chain in one transaction. */
int guard_apply(sv_nft_ctx *ctx, const guard_spec *g);

/* Removes a chain; 0 when it is already gone. */
int guard_remove(sv_nft_ctx *ctx, const char *chain);

/* Verifies the chain exists, is bound to the host interface and holds the
 * expected number of rules. */
int guard_verify(sv_nft_ctx *ctx, const guard_spec *g, sv_error *err);

/* Calls fn for every pod chain present. */
int guard_list(sv_nft_ctx *ctx, int (*fn)(const char *chain, void *userdata), void *userdata);

/* 0 when this process can read and program the guard table. */
int guard_probe(sv_nft_ctx *ctx);
