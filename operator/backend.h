/* SPDX-License-Identifier: Apache-2.0 */
/* The narrow interface between the compiler and the renderers: a backend is
 * handed the node's whole compiled state (docs/operator.md) and makes the
 * data plane match it, atomically, or fails leaving the previous state in
 * place. The nftables and HAProxy renderers plug in here; `record` writes the
 * state to a file for tests and debugging. */
#pragma once

#include <jansson.h>

#include "base/error.h"
#include "base/fileio.h"
#include "operator/render.h"

typedef struct sv_backend sv_backend;

typedef struct sv_backend_options {
        const char *netns;       /* nftables: program this network namespace (a path) */
        bool default_deny;       /* nftables: the mesh-wide default for ingress */
        const char *dns_service; /* nftables: "ns/name" of the cluster DNS Service */
        uint16_t nflog_group;    /* nftables: NFLOG group for denials */
} sv_backend_options;

typedef struct sv_backend_stats {
        uint64_t full_syncs, incremental, failures;
        int64_t render_us, apply_us; /* the last apply */
        unsigned messages;           /* netlink messages in the last transaction */
        bool changed;                /* the last apply changed the data plane */
        sv_render_stats last;
} sv_backend_stats;

/* spec: "none", "nftables", or "record:<path>"; opts may be NULL for the
 * others. */
int sv_backend_new(const char *spec, const sv_backend_options *opts, sv_backend **out,
                   sv_error *err);
sv_backend *sv_backend_free(sv_backend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_backend *, sv_backend_free);
/* text: state's dump, which only a backend that wants it needs (may be NULL
 * otherwise). */
int sv_backend_apply(sv_backend *b, const json_t *state, const char *text, sv_error *err);
/* Whether sv_backend_apply needs the text: "record" writes it. The others
 * take every state: nftables diffs it against what it applied (an unchanged
 * state costs no transaction), "none" ignores it. */
bool sv_backend_wants_text(const sv_backend *b);
const char *sv_backend_name(const sv_backend *b);
const sv_backend_stats *sv_backend_stats_get(const sv_backend *b);
/* The nftables model in the kernel now (NULL for other backends or unknown). */
const sv_ruleset *sv_backend_ruleset(const sv_backend *b);

/* The last applied state, kept on disk so a node that restarts while the API
 * server is unreachable comes back to it: written atomically (temp file,
 * fsync, rename), read back whole and checked. */
int sv_state_save(const char *dir, const char *text, size_t len, sv_error *err);
/* The same written as it is made: a new state file in dir, opened in f
 * (SV_ATOMIC_FILE_INIT), to be put in place with sv_state_file_commit. */
int sv_state_file_open(const char *dir, sv_atomic_file *f, sv_error *err);
int sv_state_file_commit(sv_atomic_file *f, sv_error *err);
int sv_state_load(const char *dir, json_t **out, sv_error *err);
/* The state file's text: parsed, a version-1 state converted, any other
 * version refused (-EPROTO). */
int sv_state_parse(const char *text, size_t len, json_t **out, sv_error *err);
