/* SPDX-License-Identifier: Apache-2.0 */
/* An informer: a local cache of one kind of object, kept current by list then
 * watch, as client-go's reflector does it:
 *   - the list is paginated (limit/continue) and its items reconciled into the
 *     cache by mark and sweep, so a relist also finds deletions it missed;
 *   - the watch asks for bookmarks, tracks resourceVersion from every event
 *     including BOOKMARK, and ends by itself after a random 5-10 minutes
 *     (timeoutSeconds), after which it resumes from that resourceVersion;
 *   - an in-stream ERROR 410 (or HTTP 410) means the history is gone: relist;
 *   - any other failure retries with backoff and jitter, honouring 429 and
 *     Retry-After, and resumes the watch without a relist when it can;
 *   - a watch that received nothing (not even a bookmark) for idle_timeout is
 *     presumed half-open and restarted.
 * The cache holds what `transform` makes of each object (a compact struct),
 * never the full JSON: memory matters at 10,000 pods.
 * Events are decoded and applied only in sv_informer_process, from the main
 * loop; the network callbacks only buffer bytes. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/hashmap.h"
#include "kube/backoff.h"
#include "kube/client.h"
#include "kube/watch.h"

typedef struct sv_informer sv_informer;

enum sv_informer_change { SV_INFORMER_ADD, SV_INFORMER_UPDATE, SV_INFORMER_DELETE };

typedef struct sv_informer_ops {
        /* Makes the cached item of an object; -errno skips the object (err
         * says why; counted as a decode error). */
        int (*transform)(void *userdata, json_t *object, void **out, sv_error *err);
        void (*free_item)(void *item);
        /* The cache changed (after the change is in place; old is freed
         * after this returns). May be NULL. */
        void (*on_change)(void *userdata, enum sv_informer_change change, const char *key,
                          void *old_item, void *new_item);
        /* Whether an updated object's new item equals its cached one. Then
         * the cached item stays (pointers to it remain valid), the new one
         * is freed and no change is reported: a pod's status updates, most
         * of its events, change nothing its item keeps. May be NULL. */
        bool (*same)(const void *old_item, const void *new_item);
        /* A list page is in the cache and its JSON freed. A caller whose
         * allocator keeps freed pages a while (the operator's) can hand them
         * back here: a list's pages come faster than that while, and would
         * pile up. May be NULL. */
        void (*page_done)(void *userdata);
} sv_informer_ops;

typedef struct sv_informer_config {
        const char *name;             /* for metrics and logs: "pods", "servicepolicies" */
        const char *path;             /* collection path: "/api/v1/pods" */
        const char *field_selector;   /* or NULL */
        const char *label_selector;   /* or NULL */
        unsigned page_size;           /* list limit, default 250 */
        unsigned idle_timeout_s;      /* default 150 */
        unsigned min_watch_timeout_s; /* timeoutSeconds range, default 300..600 */
        unsigned max_watch_timeout_s;
} sv_informer_config;

/* Counters, read by the metrics thread (hence atomic). */
typedef struct sv_informer_stats {
        _Atomic uint64_t events[_SV_WATCH_TYPE_MAX];
        _Atomic uint64_t watch_starts;   /* watch requests made */
        _Atomic uint64_t watch_restarts; /* watches resumed after a failure or idle */
        _Atomic uint64_t lists;          /* completed full lists (the first included) */
        _Atomic uint64_t list_pages;     /* list pages cached */
        _Atomic uint64_t errors;         /* failed requests and undecodable events */
        _Atomic uint64_t bytes;          /* watch body bytes received */
        _Atomic uint64_t objects;        /* items in the cache */
        _Atomic uint64_t unchanged;      /* updates whose item was the same (ops.same) */
} sv_informer_stats;

int sv_informer_new(sv_kube_client *client, const sv_informer_config *cfg,
                    const sv_informer_ops *ops, void *userdata, sv_informer **out);
sv_informer *sv_informer_free(sv_informer *inf);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_informer *, sv_informer_free);

/* Runs due work: the first list, watch (re)starts after backoff, buffered
 * events, idle checks. Returns the monotonic time (ms) it next needs to run,
 * or INT64_MAX when only network activity can give it work. err holds the
 * last failure for the caller to log (the informer keeps retrying). */
int64_t sv_informer_process(sv_informer *inf, int64_t now_ms, sv_error *err);

/* The API server answered another request: if this informer waits out a
 * backoff after a network failure, it tries again within a second instead
 * (its backoff still grows if that fails), so the watches resume soon after
 * a link comes back. */
void sv_informer_nudge(sv_informer *inf, int64_t now_ms);

bool sv_informer_synced(const sv_informer *inf);
const char *sv_informer_name(const sv_informer *inf);
const char *sv_informer_resource_version(const sv_informer *inf);
sv_informer_stats *sv_informer_stats_of(sv_informer *inf);

/* The cache, keyed "namespace/name" (or "name" for cluster-scoped kinds). */
void *sv_informer_get(const sv_informer *inf, const char *key);
size_t sv_informer_size(const sv_informer *inf);
/* Iterates the cache: *iter starts at 0. Do not change the cache meanwhile
 * (sv_informer_process must not run). */
bool sv_informer_next(const sv_informer *inf, size_t *iter, const char **key, void **item);

/* Helpers for transforms: metadata of an object. Strings are borrowed. */
const char *sv_meta_string(json_t *object, const char *field);
int64_t sv_meta_int(json_t *object, const char *field);
/* "namespace/name" or "name"; -EINVAL when name is missing. */
int sv_meta_key(json_t *object, char *buf, size_t size);
