/* SPDX-License-Identifier: Apache-2.0 */
/* L4 telemetry from the nftables backend's dynamic sets (docs/nftables.md):
 * `flows4`/`flows6` count the bytes and packets of each connection key, both
 * directions, `conns4`/`conns6` the connections opened (packets in state
 * new). A key is original source address . original destination address .
 * l4 protocol . original destination port.
 *
 * sv_flows_read dumps one set. The aggregator turns successive dumps into
 * monotonic totals per (source workload, destination service), which it can
 * export as the counters selvedge_l4_bytes_total and
 * selvedge_l4_connections_total{source,destination}:
 *   - an element's counters only grow while it lives, so a read adds the
 *     increase since the previous read of the same key;
 *   - an element can expire (set timeout) and be created again, or the table
 *     can be rebuilt: a counter smaller than last seen is a new element,
 *     counted whole; a key absent from a read is forgotten, so when it comes
 *     back it is counted whole;
 *   - a table or set created again (another handle, see nft/setelem.h) starts
 *     from nothing: all its elements are new.
 * Traffic of an element that lived and expired between two reads, or of a
 * new element whose counters grew past the old one's within one read
 * interval while its set kept its handle, is not counted: read more often
 * than the sets' timeout. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"
#include "nft/ctx.h"
#include "nft/setelem.h"
#include "operator/metrics.h"

typedef struct sv_flow {
        int family;                 /* AF_INET or AF_INET6 */
        char src[INET6_ADDRSTRLEN]; /* original source address */
        char dst[INET6_ADDRSTRLEN]; /* original destination address */
        uint8_t proto;              /* IPPROTO_TCP, IPPROTO_UDP, ... */
        uint16_t dport;             /* original destination port, host order */
        uint64_t packets;
        uint64_t bytes;
} sv_flow;

typedef int (*sv_flow_cb)(const sv_flow *f, void *userdata);

/* Decodes the key of a flows/conns element: 16 bytes (IPv4) or 40 (IPv6), each
 * field padded to 4 bytes as nftables stores concatenations. Sets family,
 * src, dst, proto and dport of *out, leaves the counters; -EINVAL for any
 * other length. */
int sv_flow_decode_key(const uint8_t *key, size_t len, sv_flow *out);

/* Calls cb for every element of `inet <table>` set <set> that has a counter
 * and a key of that form (others are skipped). A negative return from cb
 * stops the walk and is returned. -ENOENT when the table or set is absent.
 * id: as for sv_nft_set_elems (NULL: not checked; otherwise -EAGAIN when the
 * set was replaced during the dump, and *id the instance read). */
int sv_flows_read(sv_nft_ctx *ctx, const char *table, const char *set, sv_flow_cb cb,
                  void *userdata, sv_nft_set_id *id);

/* ---- aggregation ------------------------------------------------------ */

#define SV_FLOW_NAME_MAX 256     /* a source or destination name, with its NUL */
#define SV_FLOW_SERIES_MAX 4096  /* default cap on (source, destination) pairs */
#define SV_FLOW_OTHER "other"    /* what is folded beyond the cap */
#define SV_FLOW_KEYS_MAX 1048576 /* elements remembered per set; more are not counted */

enum sv_flow_kind {
        SV_FLOW_BYTES,       /* a flows set: its bytes add to the bytes total */
        SV_FLOW_CONNECTIONS, /* a conns set: its packets add to the connections total */
};

/* Names the source workload and destination service of a flow, writing
 * NUL-terminated strings into source and destination (SV_FLOW_NAME_MAX bytes
 * each; longer is cut). Return 0, or a negative value to leave the flow
 * uncounted. Called only for flows whose counters grew. */
typedef int (*sv_flow_lookup_fn)(const sv_flow *f, char *source, char *destination, void *userdata);

typedef struct sv_flow_agg_config {
        sv_flow_lookup_fn lookup;
        void *userdata;
        /* Cap on distinct (source, destination) pairs, 0 for SV_FLOW_SERIES_MAX,
         * at least 2. Past it, a new pair is counted as (SV_FLOW_OTHER,
         * destination) if that pair exists, else as (SV_FLOW_OTHER,
         * SV_FLOW_OTHER), for which one place is kept. */
        size_t max_series;
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

/* Feeds one complete read of set `set` (a name: the aggregator keeps what it
 * last saw per set): n flows, read from instance id (NULL when unknown; a
 * different id than the previous read's makes every flow new). Totals are
 * updated even on error; the error is the first registration failure
 * (-E2BIG, -EINVAL, -ENOMEM from operator/metrics.h) or -ENOMEM, in which case
 * the flows not remembered count whole again next time. */
int sv_flow_agg_feed(sv_flow_agg *a, const char *set, enum sv_flow_kind kind,
                     const sv_nft_set_id *id, const sv_flow *flows, size_t n);

/* Reads flows4, flows6 (bytes) and conns4, conns6 (connections) of `inet
 * <table>` and feeds each. A set that does not exist is an empty read; a set
 * replaced during its dump is read again, once. Returns the first error (the
 * other sets are still read). */
int sv_flow_agg_read(sv_flow_agg *a, sv_nft_ctx *ctx, const char *table);

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
