/* SPDX-License-Identifier: Apache-2.0 */
/* One NETLINK_NETFILTER socket for all of a process's nftables work.
 *
 * Why one, and why a detached close: after any transaction that deletes
 * something, the kernel defers the final release to an RCU-delayed work item,
 * and the release of *any* netfilter socket in the namespace waits for that
 * work (nf_tables flushes it on NETLINK_URELEASE). That wait is an RCU grace
 * period, several milliseconds, and would land on every CNI DEL. Using one
 * socket and handing its last reference to a short-lived detached child lets
 * the caller return as soon as its transactions are committed. */
#pragma once

#include <libmnl/libmnl.h>
#include <stdint.h>

#include "base/macro.h"

typedef struct sv_nft_ctx sv_nft_ctx;

int sv_nft_ctx_open(sv_nft_ctx **out);

/* Closes the socket here; may wait for the kernel's deferred cleanup. */
void sv_nft_ctx_close(sv_nft_ctx *ctx);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_nft_ctx *, sv_nft_ctx_close);
#define _cleanup_nft_ctx_ _cleanup_(sv_nft_ctx_closep)

/* Returns at once: a detached child (no stdio, no other fds) holds the last
 * reference until the kernel is done. The child shares the caller's memory
 * (CLONE_VM) without copying it. Closes here, like sv_nft_ctx_close, when the
 * child cannot be made. Only for single-threaded programs about to exit. */
void sv_nft_ctx_close_detached(sv_nft_ctx *ctx);

/* For the nft layer's own files. */
struct mnl_socket *sv_nft_ctx_socket(sv_nft_ctx *ctx);
uint32_t sv_nft_ctx_next_seq(sv_nft_ctx *ctx);
/* Sends one request and runs cb on every answer until the dump or the ack
 * ends it; a dump the kernel marks interrupted (the ruleset changed while it
 * ran) is -EINTR. */
int sv_nft_ctx_talk(sv_nft_ctx *ctx, struct nlmsghdr *req, mnl_cb_t cb, void *data);
