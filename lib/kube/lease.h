/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules
 * and default timings (15 s lease, 10 s renew deadline, 2 s retry):
 *   - a lease held by another is respected until leaseDurationSeconds after
 *     we last saw its record change, by our own clock (no trust in the other
 *     node's clock);
 *   - updates carry the resourceVersion read, so two candidates cannot both
 *     win (the loser gets 409);
 *   - the leader stops acting as soon as it has not renewed for the renew
 *     deadline, before anyone else may take over;
 *   - release writes an empty holder so a successor need not wait. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "kube/client.h"

typedef struct sv_lease_config {
        const char *namespace;
        const char *name;
        const char *identity;
        int duration_s;       /* default 15 */
        int renew_deadline_s; /* default 10 */
        int retry_period_s;   /* default 2 */
} sv_lease_config;

typedef struct sv_leader sv_leader;

int sv_leader_new(const sv_lease_config *cfg, sv_leader **out);
sv_leader *sv_leader_free(sv_leader *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_leader *, sv_leader_free);

/* One attempt to acquire or renew, if due. Returns when it is next due. */
int64_t sv_leader_tick(sv_leader *l, sv_kube_client *c, int64_t now_ms, sv_error *err);
/* True only while the lease is ours and was renewed within the deadline. */
bool sv_leader_is_leader(const sv_leader *l, int64_t now_ms);
/* The holder we last saw ("" if none). */
const char *sv_leader_holder(const sv_leader *l);
int sv_leader_release(sv_leader *l, sv_kube_client *c, sv_error *err);

/* Path of a namespaced Lease. */
int sv_lease_path(const char *ns, const char *name, char *buf, size_t size);
