/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "base/clock.h"
#include "base/hashmap.h"
#include "base/siphash.h"

#define REPORT_LIVE_MS (60 * 1000)
#define CONFLICT_RETRIES 3

struct seen {
        char renew[64];
        int64_t changed_ms;
};

struct sv_status_writer {
        char *instance;
        char *manager;    /* instance, percent-encoded */
        sv_hashmap *seen; /* node -> struct seen */
        int64_t now_ms;
        /* Keyed: an object's author cannot make two different inputs look
         * alike and so keep a stale status. */
        uint8_t inputs_key[SV_SIPHASH_KEY_LEN];
};

int sv_status_writer_new(const char *instance, sv_status_writer **out) {
        sv_status_writer *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (!(w->instance = strdup(instance)) || sv_kube_escape(instance, &w->manager) < 0 ||
            strlen(w->manager) > 200 || sv_hashmap_new(&w->seen) < 0) {
                sv_status_writer_free(w);
                return -ENOMEM;
        }
        sv_siphash_random_key(w->inputs_key);
        *out = w;
        return 0;
}

sv_status_writer *sv_status_writer_free(sv_status_writer *w) {
        if (!w)
                return NULL;
        free(w->instance);
        free(w->manager);
        sv_hashmap_free_with(w->seen, free);
        free(w);
        return NULL;
}

void sv_status_observe_reports(sv_status_writer *w, sv_informer *reports, int64_t now) {
        w->now_ms = now;
        size_t it = 0;
        const char *key;
        void *item;
        while (sv_informer_next(reports, &it, &key, &item)) {
                const sv_node_report *r = item;
                if (!r->renew_time[0])
                        continue; /* a report without a heartbeat of its own */
                struct seen *s = sv_hashmap_get(w->seen, r->node);
                if (!s) {
                        if (!(s = calloc(1, sizeof(*s))))
                                return;
                        if (sv_hashmap_put(w->seen, r->node, s, NULL) < 0) {
                                free(s);
                                return;
                        }
                }
                if (strcmp(s->renew, r->renew_time) != 0) {
                        snprintf(s->renew, sizeof(s->renew), "%s", r->renew_time);
                        s->changed_ms = now;
                }
        }
}

static void count_failed(sv_rollout *ro, const json_t *failed, const char *uid) {
        const char *f = json_string_value(json_object_get(failed, uid));
        if (f && !ro->failed)
                ro->failed = f;
}

static void count(sv_rollout *ro, const json_t *programmed, const json_t *failed, const char *uid,
                  int64_t generation) {
        ro->nodes++;
        json_t *g = json_object_get(programmed, uid);
        if (json_is_integer(g) && json_integer_value(g) == generation)
                ro->programmed++;
        count_failed(ro, failed, uid);
}

static void count_report(sv_rollout *ro, const sv_node_report *r, const char *uid,
                         int64_t generation) {
        ro->nodes++;
        int64_t g;
        if (sv_genmap_get(&r->programmed, uid, &g) && g == generation)
                ro->programmed++;
        count_failed(ro, r->failed, uid);
}

sv_rollout sv_status_rollout(sv_status_writer *w, sv_informer *reports, const char *uid,
                             int64_t generation, const sv_self_report *self) {
        sv_rollout ro = {0};
        if (self)
                count(&ro, self->programmed, self->failed, uid, generation);
        size_t it = 0;
        const char *key;
        void *item;
        while (sv_informer_next(reports, &it, &key, &item)) {
                const sv_node_report *r = item;
                /* Each node counts once, by its report; its heartbeat says
                 * whether it is live. */
                if (!r->has_report || (self && strcmp(r->node, self->node) == 0))
                        continue;
                const struct seen *s = sv_hashmap_get(w->seen, r->node);
                if (!s || w->now_ms - s->changed_ms > REPORT_LIVE_MS)
                        continue;
                count_report(&ro, r, uid, generation);
        }
        return ro;
}

static json_t *cond(const char *type, const char *status, const char *reason, const char *msg,
                    int64_t gen) {
        return json_pack("{s:s,s:s,s:s,s:s,s:I}", "type", type, "status", status, "reason", reason,
                         "message", msg, "observedGeneration", (json_int_t)gen);
}

json_t *sv_status_desired(const sv_mesh_object *o, const json_t *verdict, const sv_rollout *ro) {
        int64_t gen = o->generation;
        bool accepted = !verdict || !json_is_false(json_object_get(verdict, "accepted"));
        const char *areason =
                accepted ? "Accepted" : json_string_value(json_object_get(verdict, "reason"));
        const char *amsg = verdict ? json_string_value(json_object_get(verdict, "message")) : NULL;
        if (!areason)
                areason = "Invalid";
        if (!amsg || !*amsg)
                amsg = accepted ? "The spec is valid and its references resolve." : areason;

        char pmsg[128];
        const char *pstatus, *preason;
        if (ro->failed) {
                pstatus = "False";
                preason = "ProgrammingFailed";
                /* Cut at a character boundary: JSON strings must stay UTF-8. */
                size_t n = strnlen(ro->failed, 120);
                if (n == 120)
                        while (n > 0 && ((unsigned char)ro->failed[n] & 0xC0) == 0x80)
                                n--;
                snprintf(pmsg, sizeof(pmsg), "%.*s", (int)n, ro->failed);
        } else if (ro->nodes == 0) {
                pstatus = "Unknown";
                preason = "Pending";
                snprintf(pmsg, sizeof(pmsg), "No node has reported yet.");
        } else if (ro->programmed >= ro->nodes) {
                pstatus = "True";
                preason = "Programmed";
                snprintf(pmsg, sizeof(pmsg), "Programmed on %u of %u nodes.", ro->programmed,
                         ro->nodes);
        } else {
                pstatus = "False";
                preason = "NotProgrammed";
                snprintf(pmsg, sizeof(pmsg), "%u of %u nodes", ro->programmed, ro->nodes);
        }
        bool programmed = strcmp(pstatus, "True") == 0;
        json_t *conds = json_array();
        json_array_append_new(conds,
                              cond("Accepted", accepted ? "True" : "False", areason, amsg, gen));
        json_array_append_new(conds, cond("Programmed", pstatus, preason, pmsg, gen));
        const char *dreason = json_string_value(json_object_get(verdict, "degradedReason"));
        const char *dmsg = json_string_value(json_object_get(verdict, "degradedMessage"));
        if (accepted && programmed && dreason)
                json_array_append_new(conds,
                                      cond("Ready", "False", dreason, dmsg ? dmsg : dreason, gen));
        else if (accepted && programmed)
                json_array_append_new(conds, cond("Ready", "True", "Ready", "Ready.", gen));
        else
                json_array_append_new(conds, cond("Ready", "False", accepted ? preason : areason,
                                                  accepted ? pmsg : amsg, gen));
        bool rolling = !programmed && !ro->failed;
        json_array_append_new(conds, cond("Reconciling", rolling ? "True" : "False",
                                          rolling ? "NotProgrammed" : "Programmed",
                                          rolling ? pmsg : "Rollout finished.", gen));
        bool stalled = !accepted || ro->failed;
        json_array_append_new(conds,
                              cond("Stalled", stalled ? "True" : "False",
                                   !accepted    ? areason
                                   : ro->failed ? "ProgrammingFailed"
                                                : "Accepted",
                                   stalled ? (!accepted ? amsg : pmsg) : "Not stalled.", gen));
        return json_pack("{s:I,s:o}", "observedGeneration", (json_int_t)gen, "conditions", conds);
}

static json_t *find_cond(const json_t *status, const char *type) {
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(status, "conditions"), i, c) {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t && strcmp(t, type) == 0)
                        return c;
        }
        return NULL;
}

static bool same_field(const json_t *a, const json_t *b, const char *f) {
        return json_equal(json_object_get(a, f), json_object_get(b, f));
}

/* Equal as the user sees it: lastTransitionTime aside. */
static bool status_equal(const json_t *current, const json_t *desired) {
        if (!same_field(current, desired, "observedGeneration"))
                return false;
        if (json_array_size(json_object_get(current, "conditions")) !=
            json_array_size(json_object_get(desired, "conditions")))
                return false;
        size_t i;
        json_t *d;
        json_array_foreach (json_object_get(desired, "conditions"), i, d) {
                json_t *c = find_cond(current, json_string_value(json_object_get(d, "type")));
                if (!c)
                        return false;
                static const char *const fields[] = {"status", "reason", "message",
                                                     "observedGeneration"};
                for (size_t k = 0; k < 4; k++)
                        if (!same_field(c, d, fields[k]))
                                return false;
        }
        return true;
}

/* lastTransitionTime: kept while a condition's status stays, now otherwise. */
static void stamp_transitions(json_t *desired, const json_t *current) {
        char now[40];
        sv_format_rfc3339(sv_realtime_us(), 0, now, sizeof(now));
        size_t i;
        json_t *d;
        json_array_foreach (json_object_get(desired, "conditions"), i, d) {
                json_t *c = find_cond(current, json_string_value(json_object_get(d, "type")));
                json_t *ltt = c ? json_object_get(c, "lastTransitionTime") : NULL;
                if (c && ltt && same_field(c, d, "status"))
                        json_object_set(d, "lastTransitionTime", ltt);
                else
                        json_object_set_new(d, "lastTransitionTime", json_string(now));
        }
}

static const char *resource_of(const sv_mesh_object *o) {
        return o->kind == SV_KIND_SERVICE_POLICY ? "servicepolicies" : "trafficsplits";
}

static int post_event(sv_status_writer *w, sv_kube_client *c, const sv_mesh_object *o,
                      const char *reason, const char *note, sv_error *err) {
        char name[320], path[512], now[40];
        int64_t us = sv_realtime_us();
        snprintf(name, sizeof(name), "%.200s.%llx", o->name, (unsigned long long)us);
        snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/%s/events", o->namespace);
        sv_format_rfc3339(us, 1, now, sizeof(now));
        _cleanup_json_ json_t *ev = json_pack(
                "{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s%,s:s,s:s,s:s%,s:{s:s,s:s,s:s,s:s,s:s,s:s}}",
                "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata", "name", name,
                "namespace", o->namespace, "eventTime", now, "type", "Warning", "reason", reason,
                "note", note, strnlen(note, 1024), "action", "Reconcile", "reportingController",
                "selvedge.dev/operator", "reportingInstance", w->instance,
                strnlen(w->instance, 128), "regarding", "apiVersion", "selvedge.dev/v1alpha1",
                "kind", sv_mesh_kind_name(o->kind), "namespace", o->namespace, "name", o->name,
                "uid", o->uid, "resourceVersion", o->resource_version);
        if (!ev)
                return -ENOMEM;
        sv_kube_response resp = {0};
        int r = sv_kube_request(c, "POST", path, NULL, ev, &resp, err);
        long status = resp.status;
        sv_kube_response_done(&resp);
        if (r < 0)
                return r;
        if (status != 201)
                return sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN, "posting an Event: HTTP %ld",
                                 status);
        return 0;
}

/* A Warning Event when Accepted turns False, or changes reason or generation
 * while False: judged against the stored status, so a new leader does not
 * repeat the Events of the previous one. */
static int maybe_event(sv_status_writer *w, sv_kube_client *c, const sv_mesh_object *o,
                       const json_t *current, const json_t *desired, unsigned *events,
                       sv_error *err) {
        json_t *acc = find_cond(desired, "Accepted");
        if (!acc || strcmp(json_string_value(json_object_get(acc, "status")), "False") != 0)
                return 0;
        json_t *before = find_cond(current, "Accepted");
        if (before && same_field(before, acc, "status") && same_field(before, acc, "reason") &&
            same_field(before, acc, "observedGeneration"))
                return 0;
        const char *reason = json_string_value(json_object_get(acc, "reason"));
        const char *msg = json_string_value(json_object_get(acc, "message"));
        int r = post_event(w, c, o, reason, msg ? msg : reason, err);
        if (r < 0)
                return r;
        if (events)
                (*events)++;
        return 0;
}

static int fetch(sv_kube_client *c, const char *path, sv_mesh_object **out, sv_error *err) {
        sv_kube_response resp = {0};
        int r = sv_kube_request(c, "GET", path, NULL, NULL, &resp, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *body = TAKE_PTR(resp.body);
        if (resp.status == 404)
                return -ENOENT;
        if (resp.status != 200)
                return sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN, "reading %s: HTTP %ld", path,
                                 resp.status);
        void *o = NULL;
        r = sv_policy_transform(NULL, body, &o, err);
        if (r < 0)
                return r;
        *out = o;
        return 0;
}

static void hash_text(sv_siphash *h, const char *text) {
        /* Length first, so that no two sequences of texts hash alike. */
        uint64_t len = text ? strlen(text) + 1 : 0;
        sv_siphash_update(h, &len, sizeof(len));
        if (text)
                sv_siphash_update(h, text, len);
}

/* Everything sv_status_desired reads besides the object itself; never 0. */
static uint64_t inputs_digest(const sv_status_writer *w, const char *verdict,
                              const sv_rollout *ro) {
        sv_siphash h;
        sv_siphash_init(&h, w->inputs_key);
        uint64_t counts[2] = {ro->nodes, ro->programmed};
        sv_siphash_update(&h, counts, sizeof(counts));
        hash_text(&h, ro->failed);
        hash_text(&h, verdict);
        uint64_t d = sv_siphash_final(&h);
        return d ? d : 1;
}

int sv_status_sync(sv_status_writer *w, sv_kube_client *c, sv_mesh_object *o_in,
                   const char *verdict_text, const sv_rollout *ro, unsigned *events,
                   sv_error *err) {
        uint64_t inputs = inputs_digest(w, verdict_text, ro);
        if (o_in->status_current_for == inputs)
                return 0;
        _cleanup_json_ json_t *verdict = json_loads(verdict_text, 0, NULL);
        if (!verdict)
                return sv_errorf(err, -EINVAL, SV_CODE_INTERNAL, "verdict of %s/%s unreadable",
                                 o_in->namespace, o_in->name);
        char path[1024];
        snprintf(path, sizeof(path), "/apis/selvedge.dev/v1alpha1/namespaces/%s/%s/%s",
                 o_in->namespace, resource_of(o_in), o_in->name);
        const sv_mesh_object *o = o_in;
        _cleanup_(sv_mesh_object_freep) sv_mesh_object *fresh = NULL;
        for (int attempt = 0;; attempt++) {
                _cleanup_json_ json_t *desired = sv_status_desired(o, verdict, ro);
                if (!desired)
                        return -ENOMEM;
                _cleanup_json_ json_t *current = sv_mesh_object_status(o);
                if (sv_mesh_object_has_status(o) && !current)
                        return -ENOMEM;
                if (current && status_equal(current, desired)) {
                        if (o == o_in)
                                o_in->status_current_for = inputs;
                        return 0;
                }
                stamp_transitions(desired, current);
                _cleanup_json_ json_t *patch =
                        json_pack("{s:{s:s},s:O}", "metadata", "resourceVersion",
                                  o->resource_version, "status", desired);
                /* The field manager names the writer: managedFields then show
                 * which instance wrote the status. */
                char spath[1400];
                snprintf(spath, sizeof(spath), "%s/status?fieldManager=%s", path, w->manager);
                sv_kube_response resp = {0};
                int r = sv_kube_request(c, "PATCH", spath, "application/merge-patch+json", patch,
                                        &resp, err);
                long status = resp.status;
                sv_kube_response_done(&resp);
                if (r < 0)
                        return r;
                if (status == 404)
                        return 0; /* deleted meanwhile */
                if (status == 200) {
                        /* Right now; the copy the watch brings back is looked
                         * at again, this stale one needs no second write. */
                        o_in->status_current_for = inputs;
                        sv_error ev_err = SV_ERROR_INIT;
                        (void)maybe_event(w, c, o, current, desired, events, &ev_err);
                        return 1;
                }
                if (status != 409 || attempt + 1 >= CONFLICT_RETRIES)
                        return sv_errorf(err, status == 409 ? -EAGAIN : -EIO, SV_CODE_TRY_AGAIN,
                                         "writing status of %s: HTTP %ld", path, status);
                /* 409: someone wrote since our read; decide again from a fresh copy. */
                sv_mesh_object *f = NULL;
                r = fetch(c, path, &f, err);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                f->kind = o_in->kind;
                sv_mesh_object_free(fresh);
                fresh = f;
                if (fresh->generation != o_in->generation)
                        return 0; /* a new spec: the next pass handles it */
                o = fresh;
        }
}
