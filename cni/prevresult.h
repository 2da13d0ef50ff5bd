/* SPDX-License-Identifier: Apache-2.0 */
/* What the primary plugin's result says about the pod's interface. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>

#include "base/error.h"
#include "json/json.h"

#define POD_ADDRS_MAX 8

typedef struct pod_addrs {
        struct in_addr v4[POD_ADDRS_MAX];
        size_t n4;
        struct in6_addr v6[POD_ADDRS_MAX];
        size_t n6;
} pod_addrs;

/* Collects the addresses of `ifname` inside the sandbox from a prevResult of
 * any supported version: ips[] whose "interface" index names that interface,
 * or carry no index. At least one address is required. Errors are
 * SV_CODE_INVALID_CONFIG naming the bad field. */
int prevresult_pod_addrs(json_t *prev, const char *ifname, pod_addrs *out, sv_error *err);

/* Addresses as a JSON list of strings, for state records and messages. */
json_t *pod_addrs_to_json(const pod_addrs *a);
