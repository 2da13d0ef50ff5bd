/* SPDX-License-Identifier: Apache-2.0 */
/* Who an address is, for telemetry: a pod address -> its workload identity
 * ("namespace/serviceaccount"), an address -> the Service it serves (a cluster
 * IP, or a ready endpoint of it). Built from the applied state; lookups are
 * O(1) so the NFLOG and counter readers can label every record. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/macro.h"

typedef struct sv_addrbook sv_addrbook;

int sv_addrbook_build(const json_t *state, sv_addrbook **out);
sv_addrbook *sv_addrbook_free(sv_addrbook *ab);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_addrbook *, sv_addrbook_free);

/* "namespace/serviceaccount", or "unknown" for an address outside the mesh. */
const char *sv_addrbook_workload(const sv_addrbook *ab, const char *ip);
/* "namespace/name" of the Service behind ip: the one whose cluster IP it is,
 * or, for an endpoint, the Service with the fewest endpoints that lists it
 * (the most specific: a split's backend rather than its root); else "none". */
const char *sv_addrbook_service(const sv_addrbook *ab, const char *ip);
/* Whether ip is an address of one of this node's pods (the state's
 * localPods). */
bool sv_addrbook_is_local(const sv_addrbook *ab, const char *ip);
