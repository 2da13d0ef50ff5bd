/* SPDX-License-Identifier: Apache-2.0 */
/* How each node tells the leader what it has programmed: its own Lease,
 * "selvedge-node-<node>" in the operator's namespace (label
 * selvedge.dev/node-report=true), whose renewTime is the node's heartbeat and
 * whose annotations hold {"<uid>": generation} of every ServicePolicy and
 * TrafficSplit whose generation the node's data plane has in place, and
 * {"<uid>": "message"} of those it failed to program. Written when that
 * changes and every heartbeat period otherwise; see docs/operator.md. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "kube/client.h"

#define SV_REPORT_LABEL "selvedge.dev/node-report"
#define SV_REPORT_HEARTBEAT_MS (20 * 1000)

typedef struct sv_report sv_report;

int sv_report_new(const char *namespace, const char *node, sv_report **out);
sv_report *sv_report_free(sv_report *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_report *, sv_report_free);

/* Sets what the node has programmed (objects of the applied state). */
int sv_report_set(sv_report *r, json_t *programmed, json_t *failed);
const json_t *sv_report_programmed(const sv_report *r);
const json_t *sv_report_failed(const sv_report *r);

/* Writes the report if it changed or the heartbeat is due. Returns when it is
 * next due. */
int64_t sv_report_tick(sv_report *r, sv_kube_client *c, int64_t now_ms, sv_error *err);
