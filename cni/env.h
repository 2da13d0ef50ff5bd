/* SPDX-License-Identifier: Apache-2.0 */
/* The CNI_* environment of one plugin call, validated as the Go tooling does. */
#pragma once

#include "base/error.h"

enum cni_verb { VERB_ADD, VERB_DEL, VERB_CHECK, VERB_STATUS, VERB_GC, VERB_VERSION };

#define CNI_ARGS_MAX 4096
#define K8S_NAME_MAX 253

typedef struct cni_env {
        enum cni_verb verb;
        const char *command;
        const char *container_id; /* NULL for STATUS, GC, VERSION */
        const char *netns;        /* NULL when not given (allowed for DEL) */
        const char *ifname;
        /* From CNI_ARGS; empty when the runtime did not send them. */
        char pod_namespace[K8S_NAME_MAX + 1];
        char pod_name[K8S_NAME_MAX + 1];
        char pod_uid[64];
} cni_env;

/* Reads and validates the environment for the verb in CNI_COMMAND. Errors are
 * SV_CODE_INVALID_ENV with the variable named. getenv_fn is getenv outside
 * tests. */
int cni_env_read(char *(*getenv_fn)(const char *), cni_env *out, sv_error *err);

/* Parses CNI_ARGS ("K=V;K=V") into out's pod fields. Unknown keys are an error
 * unless IgnoreUnknown=1 (or true) is among them. */
int cni_args_parse(const char *args, cni_env *out, sv_error *err);

/* The name rules of the CNI libraries, exposed for GC's attachment list. */
int cni_validate_container_id(const char *id, sv_error *err);
int cni_validate_ifname(const char *name, sv_error *err);
