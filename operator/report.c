/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "base//clock.h"
#include "kube/backoff.h"
#include "kube/lease.h"

#define REPORT_DURATION_S 60

struct sv_report {
        char *namespace, *node;
        char heartbeat_name[300], report_name[300];
        json_t *programmed, *failed;
        bool dirty;               /* the report Lease does not hold programmed/failed yet */
        int64_t report_due_ms;    /* when to try writing it again (dirty only) */
        int64_t heartbeat_due_ms; /* when to renew the heartbeat Lease */
        sv_backoff report_backoff, heartbeat_backoff;
};

int sv_report_new(const char *ns, const char *node, sv_report **out) {
        sv_report *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->namespace = strdup(ns);
        r->node = strdup(node);
        r->programmed = json_object();
        r->failed = json_object();
        r->report_backoff = r->heartbeat_backoff = (sv_backoff)SV_BACKOFF_INIT;
        r->dirty = true; /* an empty report is a report too: nothing programmed yet */
        int n = snprintf(r->heartbeat_name, sizeof(r->heartbeat_name), "%s%s",
                         SV_REPORT_HEARTBEAT_PREFIX, node);
        int m = snprintf(r->report_name, sizeof(r->report_name), "%s%s", SV_REPORT_PREFIX, node);
        if (!r->namespace || !r->node || !r->programmed || !r->failed || n < 0 ||
            (size_t)n >= sizeof(r->heartbeat_name) || m < 0 ||
            (size_t)m >= sizeof(r->report_name)) {
                sv_report_free(r);
                return -ENOMEM;
        }
        *out = r;
        return 0;
}

sv_report *sv_report_free(sv_report *r) {
        if (!r)
                return NULL;
        free(r->namespace);
        free(r->node);
        json_decref(r->programmed);
        json_decref(r->failed);
        free(r);
        return NULL;
}

int sv_report_set(sv_report *r, json_t *programmed, json_t *failed) {
        if (json_equal(programmed, r->programmed) && json_equal(failed, r->failed))
                return 0;
        json_decref(r->programmed);
        json_decref(r->failed);
        r->programmed = json_incref(programmed);
        r->failed = json_incref(failed);
        r->dirty = true;
        r->report_due_ms = 0;
        return 0;
}

/* Writes Lease name: a merge patch of patch (the node is the only writer of
 * its Leases, so an unconditional one is right), or, when the Lease is
 * missing, a create of create. */
static int write_lease(sv_report *r, sv_kube_client *c, const char *name, json_t *patch,
                       json_t *create, sv_error *err) {
        char path[512], coll[512];
        sv_lease_path(r->namespace, name, path, sizeof(path));
        sv_lease_path(r->namespace, NULL, coll, sizeof(coll));
        sv_kube_response resp = {0};
        int ret = sv_kube_request(c, "PATCH", path, "application/merge-patch+json", patch, &resp,
                                  err);
        long status = resp.status;
        sv_kube_response_done(&resp);
        if (ret < 0)
                return ret;
        if (status == 404) {
                ret = sv_kube_request(c, "POST", coll, NULL, create, &resp, err);
                status = resp.status;
                sv_kube_response_done(&resp);
                if (ret < 0)
                        return ret;
                if (status == 201)
                        return 0;
        }
        if (status != 200)
                return sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN, "writing node report %s: HTTP %ld",
                                 path, status);
        return 0;
}

/* The heartbeat: a few hundred bytes, for every operator's watch to read
 * every SV_REPORT_HEARTBEAT_MS. The patch also drops the annotations that a
 * release before 7 Dec 2026 kept on this Lease (one Lease then carried both,
 * so each heartbeat sent every operator the whole report again). */
static int write_heartbeat(sv_report *r, sv_kube_client *c, sv_error *err) {
        char now[40];
        sv_format_rfc3339(sv_realtime_us(), 1, now, sizeof(now));
        _cleanup_json_ json_t *create =
                json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s,s:i,s:s}}", "apiVersion",
                          "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                          r->heartbeat_name, "namespace", r->namespace, "labels", SV_REPORT_LABEL,
                          "true", "spec", "holderIdentity", r->node, "leaseDurationSeconds",
                          REPORT_DURATION_S, "renewTime", now);
        _cleanup_json_ json_t *patch = json_deep_copy(create);
        if (!create || !patch ||
            json_object_set_new(json_object_get(patch, "metadata"), "annotations",
                                json_pack("{s:n,s:n}", SV_REPORT_PROGRAMMED, SV_REPORT_FAILED)) < 0)
                return -ENOMEM;
        return write_lease(r, c, r->heartbeat_name, patch, create, err);
}

/* The report: written when what the node has programmed changes. */
static int write_report(sv_report *r, sv_kube_client *c, sv_error *err) {
        _cleanup_free_ char *prog = json_dumps(r->programmed, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *failed = json_dumps(r->failed, JSON_COMPACT | JSON_SORT_KEYS);
        if (!prog || !failed)
                return -ENOMEM;
        _cleanup_json_ json_t *obj =
                json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s},s:{s:s,s:s}},s:{s:s}}", "apiVersion",
                          "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                          r->report_name, "namespace", r->namespace, "labels", SV_REPORT_LABEL,
                          "true", "annotations", SV_REPORT_PROGRAMMED, prog, SV_REPORT_FAILED,
                          failed, "spec", "holderIdentity", r->node);
        if (!obj)
                return -ENOMEM;
        return write_lease(r, c, r->report_name, obj, obj, err);
}

/* One write of a Lease: after a failure the next try waits for the backoff
 * (*due), after a success *due is now + period_ms. */
static int attempt(sv_report *r, sv_kube_client *c,
                   int (*write)(sv_report *, sv_kube_client *, sv_error *), sv_backoff *backoff,
                   int64_t *due, int64_t period_ms, sv_error *err) {
        int ret = write(r, c, err);
        int64_t now = sv_monotonic_ms();
        if (ret < 0) {
                *due = now + sv_backoff_fail(backoff, now, 0);
                return ret;
        }
        sv_backoff_healthy(backoff, now);
        *due = now + period_ms;
        return 0;
}

int64_t sv_report_tick(sv_report *r, sv_kube_client *c, int64_t now, sv_error *err) {
        if (r->dirty && now >= r->report_due_ms) {
                r->dirty = attempt(r, c, write_report, &r->report_backoff, &r->report_due_ms, 0,
                                   err) < 0;
                now = sv_monotonic_ms();
        }
        /* Whatever became of the report: one the API refuses (its
         * annotations over 256 KiB, say) must not make the node look dead.
         * err keeps the first failure. */
        if (now >= r->heartbeat_due_ms)
                (void)attempt(r, c, write_heartbeat, &r->heartbeat_backoff, &r->heartbeat_due_ms,
                              SV_REPORT_HEARTBEAT_MS, err);
        int64_t next = r->heartbeat_due_ms;
        if (r->dirty && r->report_due_ms < next)
                next = r->report_due_ms;
        return next;
}

const char *sv_report_name(const sv_report *r) {
        return r->report_name;
}

bool sv_report_heartbeat_due(const sv_report *r, int64_t now_ms) {
        return now_ms >= r->heartbeat_due_ms;
}

void sv_report_rewrite(sv_report *r) {
        if (!r->dirty) {
                r->dirty = true;
                r->report_due_ms = 0;
        }
}

const json_t *sv_report_programmed(const sv_report *r) {
        return r->programmed;
}

const json_t *sv_report_failed(const sv_report *r) {
        return r->failed;
}
