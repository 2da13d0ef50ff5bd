/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's connection tracking table, read through ctnetlink (libmnl):
 * where the L4 counters come from (docs/nftables.md, "L4 counters").
 *
 * Why conntrack and not a counter in our own rules: the kernel already keeps
 * one entry per connection, and with accounting on (the netns sysctl
 * net.netfilter.nf_conntrack_acct) it adds each packet's bytes to that entry
 * for the price of an increment. A rule of ours that updated a counter set
 * instead cost a set lookup and update per packet, about 5 % of the
 * throughput of a single stream.
 *
 * Two ways in, both parsed by sv_ct_parse_msg:
 *   - a dump of the whole table (sv_ct_dump), which the operator takes every
 *     few seconds on the socket it already holds for nftables;
 *   - destroy events (sv_ct_events), so that the final counters of a
 *     connection that ends between two dumps are not lost; and, on request,
 *     new-connection events, so that a quiet node need not be dumped at all
 *     to learn that a connection started (operator/telemetry.c). The socket is
 *     non-blocking and never asks the kernel to hold a connection back for
 *     it: when its queue overflows, events are lost (counted), never the
 *     node's traffic.
 * What comes from the kernel is parsed as untrusted: every length is checked
 * (fuzzed). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"
#include "nft/ctx.h"

#define SV_CT_READ_MAX 64 /* datagrams one sv_ct_events_read takes at most */
/* The events socket's receive buffer: ~16,000 destroy events of ~250 bytes. */
#define SV_CT_EVENTS_RCVBUF (4u << 20)

/* One direction of a connection. Addresses in network order (IPv4 in the
 * first 4 bytes); ports in host order, 0 for protocols without ports. */
typedef struct sv_ct_tuple {
        uint8_t src[16], dst[16];
        uint16_t sport, dport;
} sv_ct_tuple;

typedef struct sv_ct_entry {
        int family;     /* AF_INET or AF_INET6 */
        uint8_t proto;  /* of the original direction */
        uint32_t id;    /* the kernel's id of the entry (CTA_ID); 0 when absent */
        bool destroyed; /* a destroy event: the counters are final */
        /* Accounting was on when the entry was made: the counters below are
         * the kernel's. Otherwise they are 0. */
        bool has_counters;
        sv_ct_tuple orig;  /* as the client sent it: its address, the address it dialled */
        sv_ct_tuple reply; /* as the server answers, after DNAT: the real server */
        uint64_t packets[2], bytes[2]; /* [0] original direction, [1] reply */
} sv_ct_entry;

/* A negative return stops the walk and is returned. */
typedef int (*sv_ct_cb)(const sv_ct_entry *e, void *userdata);

/* Parses one netlink message of len bytes (header included; buf need not be
 * aligned): 0 and *out for a ctnetlink entry (new, or deleted) of an IPv4 or
 * IPv6 connection with both tuples; -ENOMSG for another message type or
 * family; -EBADMSG when malformed. */
int sv_ct_parse_msg(const void *buf, size_t len, sv_ct_entry *out);

/* Dumps the table of the namespace ctx's socket lives in, calling cb for
 * every IPv4 and IPv6 entry. */
int sv_ct_dump(sv_nft_ctx *ctx, sv_ct_cb cb, void *userdata);

/* Turns on accounting in the current network namespace (for connections made
 * from now on). -errno of writing the sysctl. */
int sv_ct_enable_accounting(void);

/* ---- events ------------------------------------------------------------ */

typedef struct sv_ct_events sv_ct_events;

/* Subscribes to the destroy events of the current network namespace (the
 * caller may setns around this call). -EPERM without CAP_NET_ADMIN. */
int sv_ct_events_open(sv_ct_events **out);
sv_ct_events *sv_ct_events_free(sv_ct_events *ev);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_ct_events *, sv_ct_events_free);
#define _cleanup_ct_events_ _cleanup_(sv_ct_events_freep)

/* For poll (POLLIN). */
int sv_ct_events_fd(const sv_ct_events *ev);

/* Also receives the NEW events of connections as they start (on), or stops
 * (off); a NEW event has no counters. Membership of a netlink group costs a
 * setsockopt, so a caller may follow new connections only while it has none
 * to watch. */
int sv_ct_events_follow_new(sv_ct_events *ev, bool on);

/* Reads what is queued, without blocking, and calls cb for each entry
 * (destroyed set for a destroy event, unset for a NEW one). Returns the
 * number handed to cb or a negative errno. Stops after SV_CT_READ_MAX
 * datagrams, so a flood cannot hold the caller's loop. */
int sv_ct_events_read(sv_ct_events *ev, sv_ct_cb cb, void *userdata);

typedef struct sv_ct_events_stats {
        uint64_t events;    /* handed to the callback */
        uint64_t malformed; /* datagrams or messages that did not parse */
        uint64_t overruns;  /* times the receive queue overflowed (ENOBUFS) */
} sv_ct_events_stats;

void sv_ct_events_get_stats(const sv_ct_events *ev, sv_ct_events_stats *out);
