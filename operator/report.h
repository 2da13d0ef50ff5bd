/* SPDX-License-Identifier: Apache-2.0 */
/* How each node tells the leader what it has programmed, in two Leases of the
 * operator's namespace, both labelled selvedge.dev/node-report=true:
 * "selvedge-report-<node>", whose annotations hold {"<uid>": generation} of
 * every ServicePolicy and TrafficSplit whose generation the node's data
 * plane has in place and {"<uid>": "message"} of those it failed to program,
 * written when that changes; and "selvedge-node-<node>", whose renewTime is
 * the node's heartbeat, renewed every SV_REPORT_HEARTBEAT_MS. Apart, the
 * heartbeat that every operator's watch reads is a few hundred bytes instead
 * of the whole report (44 KB at 1,000 policies). A Lease carrying both (a
 * node of a release before 7 Dec 2026) is read as both. See
 * docs/operator.md. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "kube/client.h"

#define SV_REPORT_LABEL "selvedge.dev/node-report"
#define SV_REPORT_PROGRAMMED "selvedge.dev/programmed"
#define SV_REPORT_FAILED "selvedge.dev/failed"
#define SV_REPORT_HEARTBEAT_PREFIX "selvedge-node-"
#define SV_REPORT_PREFIX "selvedge-report-"
#define SV_REPORT_HEARTBEAT_MS (20 * 1000)

typedef struct sv_report sv_report;

int sv_report_new(const char *namespace, const char *node, sv_report **out);
sv_report *sv_report_free(sv_report *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_report *, sv_report_free);

/* Sets what the node has programmed (objects of the applied state). */
int sv_report_set(sv_report *r, json_t *programmed, json_t *failed);
const json_t *sv_report_programmed(const sv_report *r);
const json_t *sv_report_failed(const sv_report *r);

/* The report Lease's name, "selvedge-report-<node>". */
const char *sv_report_name(const sv_report *r);

/* Whether the heartbeat is due at now_ms: when the caller checks that the
 * report Lease still holds what was written (it is written only on change,
 * so a deleted or edited one would otherwise stay wrong). */
bool sv_report_heartbeat_due(const sv_report *r, int64_t now_ms);

/* Writes the report again at the next tick. */
void sv_report_rewrite(sv_report *r);

/* Writes the report if it changed, the heartbeat if it is due. Returns when
 * the next write is due. */
int64_t sv_report_tick(sv_report *r, sv_kube_client *c, int64_t now_ms, sv_error *err);
