/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/fileio.h"
#include "json/json.h"
#include "nft/ctx.h"
#include "nft/netns.h"
#include "operator/compile.h"

#define STATE_FILE "state.json"
#define STATE_MAX (64u << 20)

/* A full sync at 10,000 pods and 1,000 policies is a few megabytes. */
#define BATCH_MAX (256u << 20)

struct sv_backend {
        char *name;
        char *record_path;
        /* nftables */
        sv_nft_ctx *nft;
        sv_render_config cfg;
        char *dns_service;
        sv_ruleset *applied; /* NULL: the kernel's table is unknown, next apply is full */
        sv_backend_stats stats;
        uint16_t failed_type;
        uint32_t failed_index;
};

static int open_nft(void *userdata) {
        return sv_nft_ctx_open(userdata);
}

static int new_nftables(sv_backend *b, const sv_backend_options *o, sv_error *err) {
        b->cfg = (sv_render_config){
                .default_deny = o->default_deny,
                .nflog_group = o->nflog_group,
        };
        b->dns_service = strdup(o->dns_service ? o->dns_service : "kube-system/kube-dns");
        if (!b->dns_service)
                return -ENOMEM;
        b->cfg.dns_service = b->dns_service;
        /* A netlink socket stays in the namespace it was created in. */
        int r = o->netns && *o->netns ? sv_netns_run(o->netns, open_nft, &b->nft)
                                      : sv_nft_ctx_open(&b->nft);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "opening nftables%s%s: %s",
                                 o->netns && *o->netns ? " in " : "", o->netns ? o->netns : "",
                                 strerror(-r));
        return 0;
}

int sv_backend_new(const char *spec, const sv_backend_options *opts, sv_backend **out,
                   sv_error *err) {
        static const sv_backend_options defaults = {0};
        if (!opts)
                opts = &defaults;
        _cleanup_(sv_backend_freep) sv_backend *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        if (strcmp(spec, "none") == 0) {
                b->name = strdup("none");
        } else if (strcmp(spec, "nftables") == 0) {
                b->name = strdup("nftables");
                if (!b->name)
                        return -ENOMEM;
                int r = new_nftables(b, opts, err);
                if (r < 0)
                        return r;
        } else if (strncmp(spec, "record:", 7) == 0 && spec[7] == '/') {
                b->name = strdup("record");
                b->record_path = strdup(spec + 7);
                if (!b->record_path)
                        return -ENOMEM;
        } else {
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "unknown backend \"%s\" (expected none, nftables or "
                                 "record:/abs/path)",
                                 spec);
        }
        if (!b->name)
                return -ENOMEM;
        *out = TAKE_PTR(b);
        return 0;
}

sv_backend *sv_backend_free(sv_backend *b) {
        if (!b)
                return NULL;
        free(b->name);
        free(b->record_path);
        free(b->dns_service);
        sv_ruleset_free(b->applied);
        /* The table stays: enforcement outlives the agent's restarts. */
        sv_nft_ctx_close(b->nft);
        free(b);
        return NULL;
}

const char *sv_backend_name(const sv_backend *b) {
        return b->name;
}

static int commit(sv_backend *b, const sv_ruleset *from, const sv_ruleset *to,
                  sv_render_stats *st) {
        _cleanup_nft_batch_ sv_nft_batch *batch = NULL;
        int r = sv_nft_batch_new(BATCH_MAX, &batch);
        if (r == 0)
                r = sv_ruleset_diff(from, to, batch, st);
        if (r == 0)
                r = sv_nft_batch_commit(b->nft, batch);
        if (r == 0)
                b->stats.messages = sv_nft_batch_count(batch);
        else
                sv_nft_batch_failed(batch, &b->failed_type, &b->failed_index);
        return r;
}

static int apply_nftables(sv_backend *b, const json_t *state, sv_error *err) {
        int64_t t0 = sv_monotonic_us();
        _cleanup_ruleset_ sv_ruleset *next = NULL;
        int r = sv_render(state, &b->cfg, &next, err);
        if (r < 0)
                return r;
        int64_t t1 = sv_monotonic_us();
        sv_render_stats st = {0};
        r = commit(b, b->applied, next, &st);
        if (r < 0 && b->applied) {
                /* The kernel refused a patch: the table may not be what we
                 * think. Replace it whole. */
                b->applied = sv_ruleset_free(b->applied);
                b->stats.failures++;
                st = (sv_render_stats){0};
                r = commit(b, NULL, next, &st);
        }
        if (r < 0) {
                b->applied = sv_ruleset_free(b->applied);
                b->stats.failures++;
                return sv_errorf(err, r, SV_CODE_IO,
                                 "nftables transaction: %s (message %u, type %u, refused)",
                                 strerror(-r), b->failed_index, b->failed_type);
        }
        sv_ruleset_free(b->applied);
        sv_ruleset_forget_rules(next);
        b->applied = TAKE_PTR(next);
        b->stats.last = st;
        b->stats.render_us = t1 - t0;
        b->stats.apply_us = sv_monotonic_us() - t1;
        b->stats.changed = st.full || b->stats.messages > 0;
        if (st.full)
                b->stats.full_syncs++;
        else if (b->stats.changed)
                b->stats.incremental++;
        return 0;
}

const sv_backend_stats *sv_backend_stats_get(const sv_backend *b) {
        return &b->stats;
}

bool sv_backend_wants_text(const sv_backend *b) {
        return b->record_path != NULL;
}

const sv_ruleset *sv_backend_ruleset(const sv_backend *b) {
        return b->applied;
}

int sv_backend_apply(sv_backend *b, const json_t *state, const char *text, sv_error *err) {
        if (b->nft)
                return apply_nftables(b, state, err);
        if (!b->record_path)
                return 0;
        int r = sv_write_file_atomic(b->record_path, text, strlen(text), 0644);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing %s: %s", b->record_path,
                                 strerror(-r));
        return 0;
}

static int state_path(const char *dir, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s", dir, STATE_FILE);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int sv_state_file_open(const char *dir, sv_atomic_file *f, sv_error *err) {
        char path[4096];
        if (state_path(dir, path, sizeof(path)) < 0)
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG, "state dir too long");
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return sv_errorf(err, -errno, SV_CODE_IO, "creating %s: %m", dir);
        int r = sv_atomic_file_open(f, path);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing %s: %s", path, strerror(-r));
        return 0;
}

int sv_state_file_commit(sv_atomic_file *f, sv_error *err) {
        int r = sv_atomic_file_commit(f, 0600);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing %s: %s", f->path, strerror(-r));
        return 0;
}

int sv_state_save(const char *dir, const char *text, size_t len, sv_error *err) {
        _cleanup_(sv_atomic_file_abort) sv_atomic_file f = SV_ATOMIC_FILE_INIT;
        int r = sv_state_file_open(dir, &f, err);
        if (r >= 0 && (r = sv_atomic_file_write(&f, text, len)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing %s: %s", f.path, strerror(-r));
        return r < 0 ? r : sv_state_file_commit(&f, err);
}

/* Version 1 (before 7 Dec 2026) had identities as {IP: identity} and
 * endpoints as [{"ip", "local"}]: a node upgraded while the API server is
 * away still comes back to its rules. */
static int upgrade_from_v1(json_t *state) {
        _cleanup_json_ json_t *ids = json_object();
        if (!ids)
                return -ENOMEM;
        const char *ip;
        json_t *v;
        json_object_foreach (json_object_get(state, "identities"), ip, v) {
                const char *id = json_string_value(v);
                if (!id)
                        continue;
                json_t *arr = json_object_get(ids, id);
                if (!arr && json_object_set_new(ids, id, arr = json_array()) < 0)
                        return -ENOMEM;
                if (json_array_append_new(arr, json_string(ip)) < 0)
                        return -ENOMEM;
        }
        json_t *arr;
        json_object_foreach (ids, ip, arr) {
                if (sv_json_array_sort_strings(arr) < 0) /* as v2 has them */
                        return -ENOMEM;
        }
        size_t i, j;
        json_t *svc, *ep;
        json_array_foreach (json_object_get(state, "services"), i, svc) {
                if (!json_is_object(svc))
                        continue;
                json_t *eps = json_array(), *local = json_array();
                json_array_foreach (json_object_get(svc, "endpoints"), j, ep) {
                        json_t *addr = json_object_get(ep, "ip");
                        if (!json_is_string(addr))
                                continue;
                        json_array_append(eps, addr);
                        if (json_is_true(json_object_get(ep, "local")))
                                json_array_append(local, addr);
                }
                if (json_object_set_new(svc, "endpoints", eps) < 0 ||
                    json_object_set_new(svc, "localEndpoints", local) < 0)
                        return -ENOMEM;
        }
        if (json_object_set(state, "identities", ids) < 0 ||
            json_object_set_new(state, "version", json_integer(2)) < 0)
                return -ENOMEM;
        return 0;
}

int sv_state_parse(const char *text, size_t len, json_t **out, sv_error *err) {
        _cleanup_json_ json_t *state = NULL;
        int r = sv_json_parse(text, len, STATE_MAX, &state, err);
        if (r < 0)
                return r;
        if (json_integer_value(json_object_get(state, "version")) == 1 &&
            (r = upgrade_from_v1(state)) < 0)
                return sv_errorf(err, r, SV_CODE_INTERNAL, "upgrading the state: %s", strerror(-r));
        if (json_integer_value(json_object_get(state, "version")) != SV_STATE_VERSION)
                return sv_errorf(err, -EPROTO, SV_CODE_INCOMPATIBLE_VERSION,
                                 "unknown state version");
        *out = TAKE_PTR(state);
        return 0;
}

int sv_state_load(const char *dir, json_t **out, sv_error *err) {
        char path[4096];
        if (state_path(dir, path, sizeof(path)) < 0)
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG, "state dir too long");
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = sv_read_file_capped(path, STATE_MAX, &text, &len);
        if (r < 0)
                return r == -ENOENT ? r
                                    : sv_errorf(err, r, SV_CODE_IO, "reading %s: %s", path,
                                                strerror(-r));
        r = sv_state_parse(text, len, out, err);
        if (r < 0)
                sv_error_prefix(err, "%s: ", path);
        return r;
}
