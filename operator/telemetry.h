/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's side of the node's telemetry: policy denials arrive through
 * NFLOG, per-connection byte and connection counts come from connection
 * tracking (a dump every SV_TELEMETRY_READ_MS while the node's pods have live
 * connections, destroy events, and NEW events while they have none); both are
 * labelled with workloads and Services from the applied state and exported
 * through the metrics registry. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/macro.h"
#include "operator/metrics.h"
#include "operator/nflog.h"

#define SV_TELEMETRY_READ_MS 10000 /* how often the conntrack table is dumped, when busy */
#define SV_TELEMETRY_DENIAL_PAIRS 1024

typedef struct sv_telemetry sv_telemetry;

/* One denial, for the caller's debug log. */
typedef struct sv_denial {
        const char *direction; /* "in" or "out" */
        const char *source, *destination;
        const sv_nflog_packet *packet;
} sv_denial;
typedef void (*sv_denial_fn)(const sv_denial *d, void *userdata);

/* netns: the node's network namespace (NULL or "": ours). With
 * flow_counters, turns conntrack accounting on there (see
 * operator/conntrack.h); when it cannot, sv_telemetry_warning says so. */
int sv_telemetry_new(const char *netns, uint16_t nflog_group, bool flow_counters, sv_metrics *m,
                     sv_telemetry **out, sv_error *err);
sv_telemetry *sv_telemetry_free(sv_telemetry *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_telemetry *, sv_telemetry_free);

/* What the caller should log once after sv_telemetry_new, or NULL. */
const char *sv_telemetry_warning(const sv_telemetry *t);
/* One fd to poll for input (an epoll set of the NFLOG and conntrack event
 * sockets). */
int sv_telemetry_fd(const sv_telemetry *t);
/* Reads what NFLOG and the conntrack events have, counts it, calls fn for
 * each denial. */
int sv_telemetry_drain(sv_telemetry *t, sv_denial_fn fn, void *userdata);
/* Dumps the conntrack table into the L4 counters now (with the events
 * around it); -EINVAL without flow counters. */
int sv_telemetry_read_flows(sv_telemetry *t);
/* Reads the L4 counters when due; returns when they are due next (INT64_MAX
 * while the node's pods have no live connection: the events fd wakes the
 * caller when one starts). */
int64_t sv_telemetry_tick(sv_telemetry *t, int64_t now_ms, sv_error *err);
/* The state now applied: the names the next records get. */
int sv_telemetry_set_state(sv_telemetry *t, const json_t *state);
