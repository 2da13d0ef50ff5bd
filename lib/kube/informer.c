/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/informer.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/strbuf.h"
#include "json/json.h"

#define KEY_MAX 320 /* namespace (63) + '/' + name (253) */
#define RV_MAX 64
#define EVENT_LINE_MAX (8u << 20) /* an object is at most ~1.5 MB in etcd */
#define PATH_MAX_LEN 4096

/* One allocation per cached object, its resourceVersion inline. */
/* One allocation per object: the cache's key is the entry's own text
 * (sv_hashmap_new_borrowing), its resourceVersion after it. */
struct entry {
        void *item;
        uint32_t epoch;
        uint32_t key_room; /* the map's, before the key: its hash */
        char text[];       /* "namespace/name" NUL resourceVersion NUL */
};
_Static_assert(offsetof(struct entry, text) - offsetof(struct entry, key_room) ==
                       SV_HASHMAP_KEY_ROOM,
               "the map's room is right before the key");

static const char *entry_rv(const struct entry *e) {
        return e->text + strlen(e->text) + 1;
}

struct sv_informer {
        sv_kube_client *client;
        sv_informer_config cfg;
        char *path, *field_selector, *label_selector, *name;
        sv_informer_ops ops;
        void *userdata;
        sv_hashmap *cache;
        uint32_t epoch;
        char rv[RV_MAX];
        bool synced;
        bool need_list;
        int64_t due_ms; /* when to list or watch next, if no stream runs */
        sv_kube_stream *stream;
        int64_t last_data_ms;
        int64_t watch_started_ms;
        sv_watch_decoder dec;
        int stream_error; /* set by on_data: the stream's bytes could not be kept */
        bool stream_done;
        int done_result;
        long done_status;
        long done_retry_after;
        sv_backoff backoff;
        bool unreachable; /* the last failure was the network, not an answer */
        sv_informer_stats stats;
};

const char *sv_meta_string(json_t *object, const char *field) {
        json_t *v = json_object_get(json_object_get(object, "metadata"), field);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t sv_meta_int(json_t *object, const char *field) {
        json_t *v = json_object_get(json_object_get(object, "metadata"), field);
        return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int sv_meta_key(json_t *object, char *buf, size_t size) {
        const char *ns = sv_meta_string(object, "namespace");
        const char *name = sv_meta_string(object, "name");
        if (!name || !*name)
                return -EINVAL;
        int n = ns && *ns ? snprintf(buf, size, "%s/%s", ns, name)
                          : snprintf(buf, size, "%s", name);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void entry_free(sv_informer *inf, struct entry *e) {
        if (!e)
                return;
        inf->ops.free_item(e->item);
        free(e);
}

int sv_informer_new(sv_kube_client *client, const sv_informer_config *cfg,
                    const sv_informer_ops *ops, void *userdata, sv_informer **out) {
        _cleanup_(sv_informer_freep) sv_informer *inf = calloc(1, sizeof(*inf));
        if (!inf)
                return -ENOMEM;
        inf->client = client;
        inf->cfg = *cfg;
        inf->ops = *ops;
        inf->userdata = userdata;
        inf->dec = (sv_watch_decoder)SV_WATCH_DECODER_INIT(EVENT_LINE_MAX);
        inf->backoff = (sv_backoff)SV_BACKOFF_INIT;
        inf->need_list = true;
        if (!inf->cfg.page_size)
                inf->cfg.page_size = 250;
        if (!inf->cfg.idle_timeout_s)
                inf->cfg.idle_timeout_s = 150;
        if (!inf->cfg.min_watch_timeout_s)
                inf->cfg.min_watch_timeout_s = 300;
        if (inf->cfg.max_watch_timeout_s < inf->cfg.min_watch_timeout_s)
                inf->cfg.max_watch_timeout_s = inf->cfg.min_watch_timeout_s * 2;
        inf->name = strdup(cfg->name);
        inf->path = strdup(cfg->path);
        if (!inf->name || !inf->path)
                return -ENOMEM;
        if (cfg->field_selector && sv_kube_escape(cfg->field_selector, &inf->field_selector) < 0)
                return -ENOMEM;
        if (cfg->label_selector && sv_kube_escape(cfg->label_selector, &inf->label_selector) < 0)
                return -ENOMEM;
        int r = sv_hashmap_new_borrowing(&inf->cache);
        if (r < 0)
                return r;
        *out = TAKE_PTR(inf);
        return 0;
}

sv_informer *sv_informer_free(sv_informer *inf) {
        if (!inf)
                return NULL;
        sv_kube_stream_cancel(inf->stream);
        if (inf->cache) {
                size_t it = 0;
                const char *key;
                void *v;
                while (sv_hashmap_next(inf->cache, &it, &key, &v))
                        entry_free(inf, v);
                sv_hashmap_free(inf->cache);
        }
        sv_watch_decoder_done(&inf->dec);
        free(inf->name);
        free(inf->path);
        free(inf->field_selector);
        free(inf->label_selector);
        free(inf);
        return NULL;
}

void sv_informer_nudge(sv_informer *inf, int64_t now) {
        int64_t soon = now + (int64_t)(sv_random_unit() * 1000);
        /* Only a network failure is mended by the server being reachable; a
         * refusal (403, 404, 429) keeps its backoff. */
        if (!inf->stream && inf->unreachable && inf->due_ms > soon)
                inf->due_ms = soon;
}

bool sv_informer_synced(const sv_informer *inf) {
        return inf->synced;
}
const char *sv_informer_name(const sv_informer *inf) {
        return inf->name;
}
const char *sv_informer_resource_version(const sv_informer *inf) {
        return inf->rv;
}
sv_informer_stats *sv_informer_stats_of(sv_informer *inf) {
        return &inf->stats;
}
size_t sv_informer_size(const sv_informer *inf) {
        return sv_hashmap_size(inf->cache);
}
void *sv_informer_get(const sv_informer *inf, const char *key) {
        struct entry *e = sv_hashmap_get(inf->cache, key);
        return e ? e->item : NULL;
}
bool sv_informer_next(const sv_informer *inf, size_t *iter, const char **key, void **item) {
        void *v;
        if (!sv_hashmap_next(inf->cache, iter, key, &v))
                return false;
        *item = ((struct entry *)v)->item;
        return true;
}

static void set_rv(sv_informer *inf, const char *rv) {
        if (rv && strlen(rv) < sizeof(inf->rv))
                memcpy(inf->rv, rv, strlen(rv) + 1);
}

/* Puts an object into the cache (or refreshes its epoch if unchanged). */
static int upsert(sv_informer *inf, json_t *object, sv_error *err) {
        char key[KEY_MAX];
        if (sv_meta_key(object, key, sizeof(key)) < 0)
                return sv_errorf(err, -EINVAL, SV_CODE_DECODE, "%s: object without a valid name",
                                 inf->name);
        const char *rv = sv_meta_string(object, "resourceVersion");
        struct entry *old = sv_hashmap_get(inf->cache, key);
        if (old && rv && strcmp(entry_rv(old), rv) == 0) {
                old->epoch = inf->epoch;
                return 0;
        }
        void *item = NULL;
        int r = inf->ops.transform(inf->userdata, object, &item, err);
        if (r < 0) {
                sv_error_prefix(err, "%s %s: ", inf->name, key);
                return r;
        }
        bool same = old && inf->ops.same && inf->ops.same(old->item, item);
        if (same) {
                inf->ops.free_item(item);
                item = old->item;
        }
        size_t key_len = strlen(key), rv_len = strlen(rv ? rv : "");
        struct entry *e = malloc(sizeof(*e) + key_len + 1 + rv_len + 1);
        if (!e) {
                if (!same)
                        inf->ops.free_item(item);
                return -ENOMEM;
        }
        e->item = item;
        e->epoch = inf->epoch;
        memcpy(e->text, key, key_len + 1);
        memcpy(e->text + key_len + 1, rv ? rv : "", rv_len + 1);
        void *prev = NULL;
        r = sv_hashmap_put(inf->cache, e->text, e, &prev);
        if (r < 0) {
                if (!same)
                        inf->ops.free_item(item);
                free(e);
                return r;
        }
        if (same) {
                /* The old entry's item is the new entry's now. */
                free(prev);
                atomic_fetch_add(&inf->stats.unchanged, 1);
                return 0;
        }
        if (inf->ops.on_change)
                inf->ops.on_change(inf->userdata, prev ? SV_INFORMER_UPDATE : SV_INFORMER_ADD, key,
                                   prev ? ((struct entry *)prev)->item : NULL, item);
        entry_free(inf, prev);
        return 0;
}

static void remove_key(sv_informer *inf, const char *key) {
        void *prev = NULL;
        if (sv_hashmap_remove(inf->cache, key, &prev) < 0)
                return;
        struct entry *e = prev;
        if (inf->ops.on_change)
                inf->ops.on_change(inf->userdata, SV_INFORMER_DELETE, key, e->item, NULL);
        entry_free(inf, e);
}

static int append_selectors(sv_informer *inf, sv_strbuf *sb) {
        int r = 0;
        if (inf->field_selector)
                r = sv_strbuf_appendf(sb, "&fieldSelector=%s", inf->field_selector);
        if (r >= 0 && inf->label_selector)
                r = sv_strbuf_appendf(sb, "&labelSelector=%s", inf->label_selector);
        return r;
}

/* Removes what the last list did not mark. Keys are collected first: the map
 * cannot change under its iterator. */
static int sweep(sv_informer *inf) {
        size_t n = 0, cap = 0, it = 0;
        char **stale = NULL;
        const char *key;
        void *v;
        int r = 0;
        while (sv_hashmap_next(inf->cache, &it, &key, &v)) {
                if (((struct entry *)v)->epoch == inf->epoch)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        char **grown = realloc(stale, cap * sizeof(*stale));
                        if (!grown) {
                                r = -ENOMEM;
                                break;
                        }
                        stale = grown;
                }
                if (!(stale[n] = strdup(key))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        remove_key(inf, stale[i]);
                free(stale[i]);
        }
        free(stale);
        return r;
}

/* A full, paginated list reconciled into the cache. */
static int list(sv_informer *inf, long *retry_after, sv_error *err) {
        _cleanup_free_ char *cont = NULL;
        char list_rv[RV_MAX] = "";
        bool restarted = false;
        inf->epoch++;
        for (;;) {
                _cleanup_(sv_strbuf_done) sv_strbuf path = SV_STRBUF_INIT(PATH_MAX_LEN);
                int r = sv_strbuf_appendf(&path, "%s?limit=%u", inf->path, inf->cfg.page_size);
                if (r >= 0 && cont)
                        r = sv_strbuf_appendf(&path, "&continue=%s", cont);
                if (r >= 0)
                        r = append_selectors(inf, &path);
                if (r < 0)
                        return sv_errorf(err, r, SV_CODE_INTERNAL, "%s: list path too long",
                                         inf->name);
                sv_kube_response resp = {0};
                r = sv_kube_request(inf->client, "GET", sv_strbuf_str(&path), NULL, NULL, &resp,
                                    err);
                if (r < 0) {
                        inf->unreachable = true;
                        sv_error_prefix(err, "listing %s: ", inf->name);
                        return r;
                }
                _cleanup_json_ json_t *body = TAKE_PTR(resp.body);
                if (resp.status == 410 && cont && !restarted) {
                        /* The continue token expired: start the list over, once. */
                        free(cont);
                        cont = NULL;
                        restarted = true;
                        inf->epoch++;
                        continue;
                }
                if (resp.status != 200 || !json_is_object(body)) {
                        *retry_after = resp.retry_after_s;
                        const char *msg = json_string_value(json_object_get(body, "message"));
                        return sv_errorf(err, resp.status == 429 ? -EBUSY : -EIO, SV_CODE_TRY_AGAIN,
                                         "listing %s: HTTP %ld%s%s", inf->name, resp.status,
                                         msg ? ": " : "", msg ? msg : "");
                }
                json_t *items = json_object_get(body, "items");
                size_t i;
                json_t *item;
                json_array_foreach (items, i, item) {
                        sv_error item_err = SV_ERROR_INIT;
                        if (upsert(inf, item, &item_err) < 0) {
                                atomic_fetch_add(&inf->stats.errors, 1);
                                if (!sv_error_is_set(err))
                                        *err = item_err;
                        }
                }
                json_t *meta = json_object_get(body, "metadata");
                const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
                if (rv && strlen(rv) < sizeof(list_rv))
                        memcpy(list_rv, rv, strlen(rv) + 1);
                const char *next = json_string_value(json_object_get(meta, "continue"));
                free(cont);
                cont = NULL;
                bool more = next && *next;
                if (more && sv_kube_escape(next, &cont) < 0)
                        return -ENOMEM;
                json_decref(TAKE_PTR(body));
                atomic_fetch_add(&inf->stats.list_pages, 1);
                if (inf->ops.page_done)
                        inf->ops.page_done(inf->userdata);
                if (!more)
                        break;
        }
        int r = sweep(inf);
        if (r < 0)
                return r;
        set_rv(inf, list_rv);
        atomic_store(&inf->stats.objects, sv_hashmap_size(inf->cache));
        /* Counted once complete: a first list that timed out and was
         * retried is still the first list, not a relist. */
        atomic_fetch_add(&inf->stats.lists, 1);
        return 0;
}

static int on_data(void *userdata, const char *data, size_t len) {
        sv_informer *inf = userdata;
        atomic_fetch_add(&inf->stats.bytes, len);
        inf->last_data_ms = sv_monotonic_ms();
        int r = sv_watch_decoder_feed(&inf->dec, data, len);
        if (r < 0)
                inf->stream_error = r;
        return r;
}

static void on_done(void *userdata, int result, long status, long retry_after) {
        sv_informer *inf = userdata;
        inf->stream = NULL;
        inf->stream_done = true;
        inf->done_result = result;
        inf->done_status = status;
        inf->done_retry_after = retry_after;
}

static const sv_kube_stream_ops stream_ops = {.on_data = on_data, .on_done = on_done};

static int start_watch(sv_informer *inf, int64_t now, sv_error *err) {
        unsigned span = inf->cfg.max_watch_timeout_s - inf->cfg.min_watch_timeout_s;
        unsigned timeout = inf->cfg.min_watch_timeout_s + (unsigned)(sv_random_unit() * span);
        _cleanup_(sv_strbuf_done) sv_strbuf path = SV_STRBUF_INIT(PATH_MAX_LEN);
        int r = sv_strbuf_appendf(&path,
                                  "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
                                  "&timeoutSeconds=%u",
                                  inf->path, inf->rv, timeout);
        if (r >= 0)
                r = append_selectors(inf, &path);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_INTERNAL, "%s: watch path too long", inf->name);
        sv_watch_decoder_reset(&inf->dec);
        inf->stream_error = 0;
        inf->stream_done = false;
        r = sv_kube_stream_start(inf->client, sv_strbuf_str(&path), &stream_ops, inf, &inf->stream,
                                 err);
        if (r < 0)
                return r;
        atomic_fetch_add(&inf->stats.watch_starts, 1);
        inf->watch_started_ms = inf->last_data_ms = now;
        return 0;
}

/* Stops the watch; the next attempt waits delay_ms. */
static void stop_watch(sv_informer *inf, int64_t now, int64_t delay_ms) {
        sv_kube_stream_cancel(inf->stream);
        inf->stream = NULL;
        inf->stream_done = false;
        sv_watch_decoder_reset(&inf->dec);
        inf->due_ms = now + delay_ms;
}

static void fail(sv_informer *inf, int64_t now, long retry_after_s) {
        atomic_fetch_add(&inf->stats.errors, 1);
        int64_t wait = sv_backoff_fail(&inf->backoff, now, (int64_t)retry_after_s * 1000);
        stop_watch(inf, now, wait);
}

/* Applies buffered events. Returns false when the watch must stop. */
static bool drain_events(sv_informer *inf, int64_t now, sv_error *err) {
        for (;;) {
                sv_watch_event ev = {0};
                sv_error ev_err = SV_ERROR_INIT;
                int r = sv_watch_decoder_next(&inf->dec, &ev, &ev_err);
                if (r == 0)
                        return true;
                if (r < 0) {
                        /* A line we cannot read: our resourceVersion is still
                         * good, so resume the watch after a backoff. */
                        *err = ev_err;
                        fail(inf, now, 0);
                        return false;
                }
                atomic_fetch_add(&inf->stats.events[ev.type], 1);
                const char *rv = sv_meta_string(ev.object, "resourceVersion");
                switch (ev.type) {
                case SV_WATCH_ADDED:
                case SV_WATCH_MODIFIED:
                        if (upsert(inf, ev.object, &ev_err) < 0) {
                                atomic_fetch_add(&inf->stats.errors, 1);
                                *err = ev_err;
                        }
                        set_rv(inf, rv);
                        break;
                case SV_WATCH_DELETED: {
                        char key[KEY_MAX];
                        if (sv_meta_key(ev.object, key, sizeof(key)) == 0)
                                remove_key(inf, key);
                        set_rv(inf, rv);
                        break;
                }
                case SV_WATCH_BOOKMARK:
                        set_rv(inf, rv);
                        break;
                case SV_WATCH_ERROR:
                default: {
                        long code = sv_status_code(ev.object);
                        const char *msg = json_string_value(json_object_get(ev.object, "message"));
                        sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN, "watching %s: ERROR %ld: %s",
                                  inf->name, code, msg ? msg : "");
                        sv_watch_event_done(&ev);
                        if (code == 410) {
                                /* The history we asked for is gone: relist now. */
                                inf->need_list = true;
                                stop_watch(inf, now, 0);
                        } else {
                                fail(inf, now, 0);
                        }
                        return false;
                }
                }
                sv_watch_event_done(&ev);
                atomic_store(&inf->stats.objects, sv_hashmap_size(inf->cache));
        }
}

int64_t sv_informer_process(sv_informer *inf, int64_t now, sv_error *err) {
        if (inf->stream || inf->stream_done) {
                if (!drain_events(inf, now, err))
                        goto idle;
        }
        if (inf->stream_error) {
                sv_errorf(err, inf->stream_error, SV_CODE_TRY_AGAIN,
                          "watching %s: an event exceeded the buffer limit", inf->name);
                inf->stream_error = 0;
                fail(inf, now, 0);
        } else if (inf->stream_done) {
                inf->stream_done = false;
                atomic_fetch_add(&inf->stats.watch_restarts, 1);
                if (inf->done_result == 0 && inf->done_status == 200) {
                        /* The server ended the watch (timeoutSeconds): resume. */
                        sv_backoff_healthy(&inf->backoff, now);
                        inf->due_ms = now;
                } else if (inf->done_status == 410) {
                        inf->need_list = true;
                        inf->due_ms = now;
                } else {
                        inf->unreachable = inf->done_result != 0; /* the transfer broke */
                        sv_errorf(err, inf->done_result ? inf->done_result : -EIO,
                                  SV_CODE_TRY_AGAIN, "watching %s: %s %ld", inf->name,
                                  inf->done_result ? "connection failed, HTTP status" : "HTTP",
                                  inf->done_status);
                        fail(inf, now, inf->done_retry_after);
                }
        } else if (inf->stream &&
                   now - inf->last_data_ms >= (int64_t)inf->cfg.idle_timeout_s * 1000) {
                /* Not even a bookmark for that long: presume the connection dead. */
                atomic_fetch_add(&inf->stats.watch_restarts, 1);
                sv_errorf(err, -ETIMEDOUT, SV_CODE_TRY_AGAIN,
                          "watching %s: nothing received for %u s, restarting the watch", inf->name,
                          inf->cfg.idle_timeout_s);
                stop_watch(inf, now, 0);
        }
idle:
        if (!inf->stream && now >= inf->due_ms) {
                if (inf->need_list) {
                        long retry_after = 0;
                        int r = list(inf, &retry_after, err);
                        now = sv_monotonic_ms();
                        if (r < 0) {
                                fail(inf, now, retry_after);
                                return inf->due_ms;
                        }
                        inf->need_list = false;
                        inf->synced = true;
                }
                if (start_watch(inf, now, err) < 0) {
                        fail(inf, now, 0);
                        return inf->due_ms;
                }
                sv_backoff_healthy(&inf->backoff, now);
                inf->unreachable = false;
        }
        if (inf->stream)
                return inf->last_data_ms + (int64_t)inf->cfg.idle_timeout_s * 1000;
        return inf->due_ms;
}
