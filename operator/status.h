/* SPDX-License-Identifier: Apache-2.0 */
/* Status of ServicePolicy and TrafficSplit, written by the leader only:
 * observedGeneration and the conditions of crds/README.md (Accepted,
 * Programmed, Ready, Reconciling, Stalled). A write happens only when
 * something the user can see would change; lastTransitionTime moves only when
 * a condition's status does. Writes go to the status subresource as a merge
 * patch that carries the resourceVersion read, so a stale writer gets 409 and
 * retries from a fresh read. A broken reference also raises a Warning Event
 * when Accepted turns False (or changes reason or generation while False). */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "operator/objects.h"

typedef struct sv_status_writer sv_status_writer;

/* How far the nodes are with one object. */
typedef struct sv_rollout {
        unsigned nodes;      /* live nodes */
        unsigned programmed; /* nodes that programmed this generation */
        const char *failed;  /* a node's failure message, or NULL */
} sv_rollout;

int sv_status_writer_new(const char *reporting_instance, sv_status_writer **out);
sv_status_writer *sv_status_writer_free(sv_status_writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_status_writer *, sv_status_writer_free);

/* Notes the node reports' heartbeats (by local time) and computes the rollout
 * of object uid at generation. Reports not renewed within their lease
 * duration (as seen locally) do not count. */
void sv_status_observe_reports(sv_status_writer *w, sv_informer *reports, int64_t now_ms);
/* The leader's own node counts from self (its report as just set, which its
 * watch brings back only later), so a change is not first written as "not
 * programmed" and then again. self may be NULL. */
typedef struct sv_self_report {
        const char *node;
        const json_t *programmed, *failed;
} sv_self_report;
sv_rollout sv_status_rollout(sv_status_writer *w, sv_informer *reports, const char *uid,
                             int64_t generation, const sv_self_report *self);

/* The status object o should have. */
json_t *sv_status_desired(const sv_mesh_object *o, const json_t *verdict, const sv_rollout *ro);

/* Writes o's status if it differs; verdict is o's verdict (sv_compile's) as
 * compact JSON text. Returns 1 when written, 0 when already
 * right, -errno on failure. events counts Warning Events posted. A status
 * found right or written is remembered in o (status_current_for): until o or the
 * inputs change, the next pass skips it without parsing anything, so a pass
 * after one policy change costs one comparison, not a thousand. */
int sv_status_sync(sv_status_writer *w, sv_kube_client *c, sv_mesh_object *o, const char *verdict,
                   const sv_rollout *ro, unsigned *events, sv_error *err);
