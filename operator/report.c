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
        char name[300];
        json_t *programmed, *failed;
        bool dirty;
        int64_t due_ms;
        sv_backoff backoff;
};

int sv_report_new(const char *ns, const char *node, sv_report **out) {
        sv_report *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->namespace = strdup(ns);
        r->node = strdup(node);
        r->programmed = json_object();
        r->failed = json_object();
        r->backoff = (sv_backoff)SV_BACKOFF_INIT;
        int n = snprintf(r->name, sizeof(r->name), "selvedge-node-%s", node);
        if (!r->namespace || !r->node || !r->programmed || !r->failed || n < 0 ||
            (size_t)n >= sizeof(r->name)) {
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
        r->due_ms = 0;
        return 0;
}

static int write_report(sv_report *r, sv_kube_client *c, sv_error *err) {
        char path[512], coll[512], now[40];
        sv_lease_path(r->namespace, r->name, path, sizeof(path));
        sv_lease_path(r->namespace, NULL, coll, sizeof(coll));
        sv_format_rfc3339(sv_realtime_us(), 1, now, sizeof(now));
        _cleanup_free_ char *prog = json_dumps(r->programmed, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *failed = json_dumps(r->failed, JSON_COMPACT | JSON_SORT_KEYS);
        if (!prog || !failed)
                return -ENOMEM;
        _cleanup_json_ json_t *obj =
                json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s},s:{s:s,s:s}},s:{s:s,s:i,s:s}}", "apiVersion",
                          "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", r->name,
                          "namespace", r->namespace, "labels", SV_REPORT_LABEL, "true",
                          "annotations", "selvedge.dev/programmed", prog, "selvedge.dev/failed",
                          failed, "spec", "holderIdentity", r->node, "leaseDurationSeconds",
                          REPORT_DURATION_S, "renewTime", now);
        if (!obj)
                return -ENOMEM;
        /* The node is the only writer of its report: an unconditional merge
         * patch is right here; create the Lease when it is missing. */
        sv_kube_response resp = {0};
        int ret =
                sv_kube_request(c, "PATCH", path, "application/merge-patch+json", obj, &resp, err);
        long status = resp.status;
        sv_kube_response_done(&resp);
        if (ret < 0)
                return ret;
        if (status == 404) {
                ret = sv_kube_request(c, "POST", coll, NULL, obj, &resp, err);
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

int64_t sv_report_tick(sv_report *r, sv_kube_client *c, int64_t now, sv_error *err) {
        if (now < r->due_ms)
                return r->due_ms;
        int ret = write_report(r, c, err);
        now = sv_monotonic_ms();
        if (ret < 0) {
                r->due_ms = now + sv_backoff_fail(&r->backoff, now, 0);
                return r->due_ms;
        }
        sv_backoff_healthy(&r->backoff, now);
        r->dirty = false;
        r->due_ms = now + SV_REPORT_HEARTBEAT_MS;
        return r->due_ms;
}

const json_t *sv_report_programmed(const sv_report *r) {
        return r->programmed;
}

const json_t *sv_report_failed(const sv_report *r) {
        return r->failed;
}
