/* SPDX-License-Identifier: Apache-2.0 */
/* L4 telemetry from connection tracking (operator/conntrack.h,
 * docs/nftables.md): the aggregator turns what successive dumps of the
 * kernel's table and its destroy events show into monotonic totals per
 * (source workload, destination service), exported as the counters
 * selvedge_l4_bytes_total and selvedge_l4_connections_total{source,destination}.
 *
 * A connection is counted on the node of its client (the lookup decides which
 * connections are ours), once: when it is first seen, in a dump, its NEW event
 * (no counters yet) or its destroy event, it adds one connection and all its
 * bytes (both directions);
 * afterwards each dump adds what its bytes grew since the previous one, and
 * its destroy event the rest. The aggregator remembers, per live connection,
 * the kernel's id and the bytes last seen; sv_flow_agg_sweep, after a dump,
 * forgets those the dump no longer showed (their destroy event was lost:
 * what they carried since the previous dump is not counted).
 * Past SV_FLOW_TRACKED_MAX live connections, a new one is not remembered: it
 * is counted whole by its destroy event alone. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"
#include "operator/conntrack.h"
#include "operator/metrics.h"

typedef struct sv_flow {
        int family;                 /* AF_INET or AF_INET6 */
        char src[INET6_ADDRSTRLEN]; /* the client */
        char dst[INET6_ADDRSTRLEN]; /* the server, after any DNAT */
        uint8_t proto;              /* IPPROTO_TCP, IPPROTO_UDP, ... */
        uint16_t dport;             /* the server's port, after any DNAT; host order */
} sv_flow;

/* The flow of a conntrack entry: the client is the original source, the
 * server the reply's source (where a split or kube-proxy sent it). */
int sv_flow_from_ct(const sv_ct_entry *e, sv_flow *out);

/* ---- aggregation ------------------------------------------------------ */

#define SV_FLOW_NAME_MAX 256      /* a source or destination name, with its NUL */
#define SV_FLOW_SERIES_MAX 4096   /* default cap on (source, destination) pairs */
#define SV_FLOW_OTHER "other"     /* what is folded beyond the cap */
#define SV_FLOW_TRACKED_MAX 65536 /* default cap on live connections remembered */

/* Names the source workload and destination service of a flow, writing
 * NUL-terminated strings into source and destination (SV_FLOW_NAME_MAX bytes
 * each; longer is cut). Return 0, or a negative value to leave the flow
 * uncounted (not ours: its client is not a pod of this node). Called when a
 * connection is first seen. */
typedef int (*sv_flow_lookup_fn)(const sv_flow *f, char *source, char *destination, void *userdata);

typedef struct sv_flow_agg_config {
        sv_flow_lookup_fn lookup;
        void *userdata;
        /* Cap on distinct (source, destination) pairs, 0 for SV_FLOW_SERIES_MAX,
         * at least 2. Past it, a new pair is counted as (SV_FLOW_OTHER,
         * destination) if that pair exists, else as (SV_FLOW_OTHER,
         * SV_FLOW_OTHER), for which one place is kept. */
        size_t max_series;
        /* Cap on live connections remembered, 0 for SV_FLOW_TRACKED_MAX. */
        size_t max_tracked;
        /* Optional: every pair gets its two counters registered here when it
         * first counts something (2 series per pair: mind
         * SV_METRICS_SERIES_MAX). */
        sv_metrics *metrics;
} sv_flow_agg_config;

typedef struct sv_flow_agg sv_flow_agg;

int sv_flow_agg_new(const sv_flow_agg_config *cfg, sv_flow_agg **out);

/* Frees the aggregator (not the registry or its series). Accepts NULL;
 * returns NULL. */
sv_flow_agg *sv_flow_agg_free(sv_flow_agg *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_flow_agg *, sv_flow_agg_free);
#define _cleanup_flow_agg_ _cleanup_(sv_flow_agg_freep)

/* Counts one entry, from a dump or a destroy event (e->destroyed). The
 * error is the first registration failure (-E2BIG, -EINVAL, -ENOMEM from
 * operator/metrics.h; the pair still counts) or -ENOMEM (the entry is not
 * remembered: a dump counts it again). */
int sv_flow_agg_observe(sv_flow_agg *a, const sv_ct_entry *e);

/* Ends a dump: forgets the connections it did not show (call it after the
 * destroy events queued during the dump were observed). Returns how many. */
size_t sv_flow_agg_sweep(sv_flow_agg *a);

typedef struct sv_flow_agg_stats {
        size_t tracked;     /* live connections remembered now */
        uint64_t vanished;  /* forgotten by a sweep: their destroy event was lost */
        uint64_t untracked; /* dump entries not remembered: over the cap */
} sv_flow_agg_stats;

void sv_flow_agg_get_stats(const sv_flow_agg *a, sv_flow_agg_stats *out);

typedef struct sv_flow_total {
        const char *source;
        const char *destination;
        uint64_t bytes;
        uint64_t connections;
} sv_flow_total;

/* Calls fn for every pair counted so far, in no particular order; a negative
 * return stops and is returned. */
int sv_flow_agg_foreach(const sv_flow_agg *a, int (*fn)(const sv_flow_total *t, void *userdata),
                        void *userdata);

size_t sv_flow_agg_pairs(const sv_flow_agg *a);
