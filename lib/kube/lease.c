/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "json/json.h"

struct sv_leader {
        char *namespace, *name, *identity;
        int duration_s, renew_deadline_s, retry_period_s;
        char observed[256];  /* holder + renewTime last seen */
        int64_t observed_ms; /* local time it last changed */
        char holder[128];
        bool leading;
        int64_t renewed_ms; /* local time of our last successful write */
        int64_t due_ms;
};

int sv_lease_path(const char *ns, const char *name, char *buf, size_t size) {
        int n = snprintf(buf, size, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s", ns,
                         name ? "/" : "", name ? name : "");
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int sv_leader_new(const sv_lease_config *cfg, sv_leader **out) {
        sv_leader *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->namespace = strdup(cfg->namespace);
        l->name = strdup(cfg->name);
        l->identity = strdup(cfg->identity);
        l->duration_s = cfg->duration_s > 0 ? cfg->duration_s : 15;
        l->renew_deadline_s = cfg->renew_deadline_s > 0 ? cfg->renew_deadline_s : 10;
        l->retry_period_s = cfg->retry_period_s > 0 ? cfg->retry_period_s : 2;
        if (!l->namespace || !l->name || !l->identity || l->renew_deadline_s >= l->duration_s) {
                sv_leader_free(l);
                return -EINVAL;
        }
        *out = l;
        return 0;
}

sv_leader *sv_leader_free(sv_leader *l) {
        if (!l)
                return NULL;
        free(l->namespace);
        free(l->name);
        free(l->identity);
        free(l);
        return NULL;
}

bool sv_leader_is_leader(const sv_leader *l, int64_t now_ms) {
        return l->leading && now_ms - l->renewed_ms < (int64_t)l->renew_deadline_s * 1000;
}

const char *sv_leader_holder(const sv_leader *l) {
        return l->holder;
}

static json_t *lease_spec(const sv_leader *l, const char *holder, const char *acquire,
                          const char *renew, json_int_t transitions, int duration) {
        return json_pack("{s:s,s:i,s:s,s:s,s:I}", "holderIdentity", holder, "leaseDurationSeconds",
                         duration, "acquireTime", acquire, "renewTime", renew, "leaseTransitions",
                         transitions);
}

static int64_t attempt(sv_leader *l, sv_kube_client *c, int64_t now, sv_error *err) {
        char path[512], nowstr[40];
        if (sv_lease_path(l->namespace, l->name, path, sizeof(path)) < 0 ||
            sv_format_rfc3339(sv_realtime_us(), 1, nowstr, sizeof(nowstr)) < 0)
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG, "lease name too long");
        sv_kube_response resp = {0};
        int r = sv_kube_request(c, "GET", path, NULL, NULL, &resp, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *lease = TAKE_PTR(resp.body);
        if (resp.status == 404) {
                char coll[512];
                sv_lease_path(l->namespace, NULL, coll, sizeof(coll));
                _cleanup_json_ json_t *obj = json_pack(
                        "{s:s,s:s,s:{s:s,s:s},s:o}", "apiVersion", "coordination.k8s.io/v1", "kind",
                        "Lease", "metadata", "name", l->name, "namespace", l->namespace, "spec",
                        lease_spec(l, l->identity, nowstr, nowstr, 0, l->duration_s));
                r = sv_kube_request(c, "POST", coll, NULL, obj, &resp, err);
                if (r < 0)
                        return r;
                long status = resp.status;
                sv_kube_response_done(&resp);
                if (status != 201)
                        return sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN,
                                         "creating lease %s: HTTP %ld", path, status);
                snprintf(l->holder, sizeof(l->holder), "%s", l->identity);
                return 1;
        }
        if (resp.status != 200 || !json_is_object(lease))
                return sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN, "reading lease %s: HTTP %ld", path,
                                 resp.status);
        json_t *spec = json_object_get(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        const char *renew = json_string_value(json_object_get(spec, "renewTime"));
        json_int_t duration = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
        char seen[sizeof(l->observed)];
        snprintf(seen, sizeof(seen), "%s|%s|%lld", holder ? holder : "", renew ? renew : "",
                 (long long)duration);
        if (strcmp(seen, l->observed) != 0) {
                memcpy(l->observed, seen, sizeof(seen));
                l->observed_ms = now;
        }
        snprintf(l->holder, sizeof(l->holder), "%s", holder ? holder : "");
        bool mine = holder && strcmp(holder, l->identity) == 0;
        if (!mine && holder && *holder && now - l->observed_ms < (int64_t)duration * 1000)
                return 0; /* someone else holds it and it has not expired */

        json_t *transitions = json_object_get(spec, "leaseTransitions");
        const char *acquire = json_string_value(json_object_get(spec, "acquireTime"));
        json_int_t t = json_integer_value(transitions);
        json_t *new_spec = lease_spec(l, l->identity, mine && acquire ? acquire : nowstr, nowstr,
                                      mine ? t : t + 1, l->duration_s);
        json_object_set_new(lease, "spec", new_spec);
        r = sv_kube_request(c, "PUT", path, NULL, lease, &resp, err);
        if (r < 0)
                return r;
        long status = resp.status;
        sv_kube_response_done(&resp);
        if (status == 409)
                return sv_errorf(err, -EAGAIN, SV_CODE_TRY_AGAIN, "lease %s changed under us (409)",
                                 path);
        if (status != 200)
                return sv_errorf(err, -EIO, SV_CODE_TRY_AGAIN, "updating lease %s: HTTP %ld", path,
                                 status);
        snprintf(l->holder, sizeof(l->holder), "%s", l->identity);
        return 1;
}

int64_t sv_leader_tick(sv_leader *l, sv_kube_client *c, int64_t now, sv_error *err) {
        if (now < l->due_ms)
                return l->due_ms;
        int64_t r = attempt(l, c, now, err);
        if (r == 1) {
                l->leading = true;
                l->renewed_ms = now;
        } else if (r == 0) {
                l->leading = false;
        } else if (!sv_leader_is_leader(l, sv_monotonic_ms())) {
                /* Failed to renew for the renew deadline: stop acting now. */
                l->leading = false;
        }
        l->due_ms = sv_monotonic_ms() + (int64_t)l->retry_period_s * 1000;
        return l->due_ms;
}

int sv_leader_release(sv_leader *l, sv_kube_client *c, sv_error *err) {
        if (!sv_leader_is_leader(l, sv_monotonic_ms()))
                return 0;
        l->leading = false;
        char path[512];
        if (sv_lease_path(l->namespace, l->name, path, sizeof(path)) < 0)
                return -ENAMETOOLONG;
        sv_kube_response resp = {0};
        int r = sv_kube_request(c, "GET", path, NULL, NULL, &resp, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *lease = TAKE_PTR(resp.body);
        json_t *spec = json_object_get(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        if (resp.status != 200 || !holder || strcmp(holder, l->identity) != 0)
                return 0;
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        r = sv_kube_request(c, "PUT", path, NULL, lease, &resp, err);
        sv_kube_response_done(&resp);
        return r;
}
