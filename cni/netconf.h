/* SPDX-License-Identifier: Apache-2.0 */
/* The network configuration the runtime gives the plugin on stdin. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "base/log.h"
#include "json/json.h"

/* Largest stdin accepted: a config with a prevResult is a few KiB. */
#define NETCONF_MAX_BYTES (1024 * 1024)

enum failure_policy {
        FAILURE_POLICY_FAIL,   /* ADD fails with "try again later" */
        FAILURE_POLICY_IGNORE, /* the pod starts unmeshed and is meshed later */
};

typedef struct netconf {
        json_t *root; /* owns everything below */
        const char *cni_version;
        const char *name;
        json_t *prev_result; /* NULL when absent */
        enum failure_policy failure_policy;
        const char *agent_socket;
        const char *state_dir;
        const char *log_file; /* NULL: log to stderr */
        enum sv_log_level log_level;
        int agent_timeout_ms;
} netconf;

#define NETCONF_DEFAULT_AGENT_SOCKET "/run/selvedge/agent.sock"
/* Attachments do not outlive a reboot, so their records live on tmpfs. */
#define NETCONF_DEFAULT_STATE_DIR "/run/selvedge/cni"

/* Parses and validates the config; the version must be one we support.
 * Errors: SV_CODE_DECODE, SV_CODE_INVALID_CONFIG, SV_CODE_INCOMPATIBLE_VERSION. */
int netconf_parse(const char *buf, size_t len, netconf *out, sv_error *err);
void netconf_done(netconf *c);

/* The spec versions this plugin speaks, for VERSION and compatibility checks. */
extern const char *const cni_supported_versions[];

bool cni_version_supported(const char *v);

/* Compares "a.b.c" versions: <0, 0, >0. Unparsable sorts lowest. */
int cni_version_cmp(const char *a, const char *b);
