/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes what the operator makes of the API objects its informers hand it:
 * the input is parsed as JSON and run through every transform of
 * operator/objects.h (Pod, Service, EndpointSlice, Namespace, ServicePolicy,
 * TrafficSplit, node report Lease), each result checked and freed; every
 * JSON object in it is compiled as a label selector and matched against the
 * labels of the same input; and a ServicePolicy that carries report
 * annotations goes through sv_status_desired. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json/json.h"
#include "kube/informer.h"
#include "operator/labels.h"
#include "operator/objects.h"
#include "operator/report.h"
#include "operator/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (1 << 20)
#define SELECTORS_MAX 64
#define DEPTH_MAX 12

static void check(bool ok) {
        if (!ok)
                __builtin_trap();
}

static void check_ip(const char *ip) {
        unsigned char buf[16];
        check(strnlen(ip, SV_IP_MAX) < SV_IP_MAX);
        check(inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1);
}

/* The labels kept are exactly the string values of metadata.labels. */
static void check_labels(const sv_labels *l, json_t *obj) {
        json_t *src = json_object_get(json_object_get(obj, "metadata"), "labels");
        unsigned n = 0;
        const char *k;
        json_t *v;
        if (json_is_object(src))
                json_object_foreach (src, k, v) {
                        if (!json_is_string(v))
                                continue;
                        n++;
                        const char *got = sv_labels_get(l, k);
                        check(got && strcmp(got, json_string_value(v)) == 0);
                }
        check(l->count == n);
}

static void check_ports(const sv_service_port *p, unsigned n) {
        check(n <= SV_SERVICE_PORTS_MAX && (n == 0) == (p == NULL));
        for (unsigned i = 0; i < n; i++)
                check(p[i].name &&
                      strnlen(p[i].protocol, sizeof(p[i].protocol)) < sizeof(p[i].protocol));
}

static void check_pod(json_t *obj, const sv_pod *p) {
        for (unsigned t = 0; t < SV_POD_TEXTS; t++)
                check(sv_pod_text(p, t) != NULL);
        check(p->n_ips <= SV_POD_IPS);
        for (unsigned i = 0; i < p->n_ips; i++)
                check_ip(sv_pod_ip(p, i));
        sv_labels labels = sv_pod_labels(p);
        check_labels(&labels, obj);
}

static void check_service(const sv_service *s) {
        check(s->namespace && s->name && s->n_cluster_ips <= SV_POD_IPS);
        for (unsigned i = 0; i < s->n_cluster_ips; i++)
                check_ip(s->cluster_ips[i]);
        check_ports(s->ports, s->n_ports);
}

static void check_slice(json_t *obj, const sv_slice *s) {
        check(s->namespace && s->service);
        check(s->n_ips <= SV_SLICE_ENDPOINTS_MAX &&
              s->n_ips <= json_array_size(json_object_get(obj, "endpoints")));
        for (unsigned i = 0; i < s->n_ips; i++)
                check_ip(s->ips[i]);
        check_ports(s->ports, s->n_ports);
}

static void check_mesh(json_t *obj, const sv_mesh_object *o, enum sv_mesh_kind kind) {
        check(o->kind == kind && o->namespace && o->name && o->uid && o->resource_version &&
              o->creation);
        json_t *spec = sv_mesh_object_spec(o);
        check(json_is_object(spec) && json_equal(spec, json_object_get(obj, "spec")));
        json_decref(spec);
        json_t *status = sv_mesh_object_status(o);
        check(json_is_object(json_object_get(obj, "status"))
                      ? json_equal(status, json_object_get(obj, "status"))
                      : !sv_mesh_object_has_status(o));
        json_decref(status);
        check(o->generation == sv_meta_int(obj, "generation"));
}

/* A compiled selector is well formed; a selector made only of matchLabels
 * selects those very labels. */
static void check_selector(const json_t *sel, const sv_selector *s) {
        for (size_t i = 0; i < s->n_reqs; i++) {
                const sv_selector_req *r = &s->reqs[i];
                check(r->key && r->key[0] && strlen(r->key) <= 317);
                bool vals = r->op == SV_SEL_IN || r->op == SV_SEL_NOT_IN;
                check(vals ? r->n_values > 0 : r->n_values == 0);
                for (size_t j = 0; j < r->n_values; j++)
                        check(r->values[j] && strlen(r->values[j]) <= 63);
        }
        json_t *ml = sel ? json_object_get(sel, "matchLabels") : NULL;
        if (json_array_size(json_object_get(sel, "matchExpressions")) == 0) {
                sv_labels own = {0};
                if (sv_labels_from_json(ml, &own) == 0) {
                        check(sv_selector_matches(s, &own));
                        sv_labels_done(&own);
                }
        }
}

struct walk {
        const sv_labels *sets;
        size_t n_sets;
        unsigned compiled;
};

static void try_selector(struct walk *w, const json_t *sel) {
        sv_selector *s = NULL;
        sv_error err = SV_ERROR_INIT;
        int r = sv_selector_compile(sel, &s, &err);
        w->compiled++;
        if (r < 0) {
                check(s == NULL);
                check(r == -ENOMEM ||
                      (r == -EINVAL && err.code == SV_CODE_INVALID_CONFIG && err.message[0]));
                return;
        }
        check(r == 0 && s);
        check_selector(sel, s);
        for (size_t i = 0; i < w->n_sets; i++)
                (void)sv_selector_matches(s, &w->sets[i]);
        sv_selector_free(s);
}

static void walk(struct walk *w, const json_t *j, int depth) {
        if (depth > DEPTH_MAX || w->compiled >= SELECTORS_MAX)
                return;
        if (json_is_object(j)) {
                try_selector(w, j);
                const char *k;
                json_t *v;
                json_object_foreach ((json_t *)j, k, v)
                        walk(w, v, depth + 1);
        } else if (json_is_array(j)) {
                size_t i;
                json_t *v;
                json_array_foreach (j, i, v)
                        walk(w, v, depth + 1);
        }
}

/* A rollout from one node's report on object o, and the status it yields. */
static void status_of(const sv_mesh_object *o, const sv_node_report *rep, json_t *root) {
        int64_t g = 0;
        bool has = sv_genmap_get(&rep->programmed, o->uid, &g);
        sv_rollout ro = {
                .nodes = rep->node[0] ? 1 : 0,
                .failed = json_string_value(json_object_get(rep->failed, o->uid)),
        };
        ro.programmed = ro.nodes && has && g == o->generation;
        json_t *verdict = json_object_get(root, "verdict");
        json_t *st = sv_status_desired(o, json_is_object(verdict) ? verdict : NULL, &ro);
        check(st != NULL);
        check(json_integer_value(json_object_get(st, "observedGeneration")) == o->generation);
        /* Five conditions, except for the known bug: a failure message over
         * 120 bytes can lose conditions when the cut splits a UTF-8 character
         * (see tests/unit/operator/test_status.c). */
        if (!ro.failed || strlen(ro.failed) <= 120)
                check(json_array_size(json_object_get(st, "conditions")) == 5);
        json_decref(st);
}

/* The same object made again is the same item: the informer drops an update
 * on that (ops.same), so a check that misses a kept field, or reads memory
 * it should not, shows here. */
static void check_same_again(int (*transform)(void *, json_t *, void **, sv_error *),
                             bool (*same)(const void *, const void *), void (*free_item)(void *),
                             json_t *root, const void *first) {
        void *again = NULL;
        sv_error e = SV_ERROR_INIT;
        int r = transform(NULL, root, &again, &e);
        check(r == 0 || r == -ENOMEM);
        if (r == 0)
                check(same(first, again) && same(again, first));
        free_item(again);
        sv_error_clear(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *root = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_json_parse((const char *)data, size, INPUT_MAX, &root, &err) < 0) {
                check(sv_error_is_set(&err) && root == NULL);
                return 0;
        }

        void *out = NULL;
        sv_error e = SV_ERROR_INIT;
        /* Pod */
        if (sv_pod_transform(NULL, root, &out, &e) == 0) {
                check_pod(root, out);
                check_same_again(sv_pod_transform, sv_pod_same, sv_pod_free, root, out);
                sv_pod_free(out);
        }
        /* Service */
        out = NULL;
        int r = sv_service_transform(NULL, root, &out, &e);
        if (r == 0) {
                check_service(out);
                check_same_again(sv_service_transform, sv_service_same, sv_service_free, root, out);
                sv_service_free(out);
        } else {
                check(out == NULL && (r == -ENOMEM || sv_error_is_set(&e)));
        }
        /* EndpointSlice */
        out = NULL;
        sv_error_clear(&e);
        r = sv_slice_transform(NULL, root, &out, &e);
        if (r == 0) {
                check_slice(root, out);
                check_same_again(sv_slice_transform, sv_slice_same, sv_slice_free, root, out);
                sv_slice_free(out);
        } else {
                check(out == NULL && (r == -ENOMEM || sv_error_is_set(&e)));
        }
        /* Namespace */
        out = NULL;
        if (sv_namespace_transform(NULL, root, &out, &e) == 0) {
                const sv_namespace *ns = out;
                check(ns->name != NULL);
                check_labels(&ns->labels, root);
                check_same_again(sv_namespace_transform, sv_namespace_same, sv_namespace_free, root,
                                 out);
                sv_namespace_free(out);
        }
        /* TrafficSplit */
        out = NULL;
        sv_error_clear(&e);
        r = sv_split_transform(NULL, root, &out, &e);
        if (r == 0) {
                check_mesh(root, out, SV_KIND_TRAFFIC_SPLIT);
                sv_mesh_object_free(out);
        } else {
                check(out == NULL && (r == -ENOMEM || sv_error_is_set(&e)));
        }
        /* Node report */
        sv_node_report *rep = NULL;
        out = NULL;
        if (sv_node_report_transform(NULL, root, &out, &e) == 0) {
                rep = out;
                check(rep->node && rep->renew_time && json_is_object(rep->failed));
                /* What the table holds is what the annotation said. */
                json_t *ann = json_object_get(json_object_get(root, "metadata"), "annotations");
                json_t *prog = json_loads(
                        json_string_value(json_object_get(ann, SV_REPORT_PROGRAMMED)) ?: "{}",
                        JSON_REJECT_DUPLICATES, NULL);
                if (json_is_object(prog))
                        check(sv_genmap_equals_json(&rep->programmed, prog));
                json_decref(prog);
        }
        /* ServicePolicy, and its status with the report as the one node's */
        out = NULL;
        sv_error_clear(&e);
        r = sv_policy_transform(NULL, root, &out, &e);
        if (r == 0) {
                check_mesh(root, out, SV_KIND_SERVICE_POLICY);
                if (rep)
                        status_of(out, rep, root);
                sv_mesh_object_free(out);
        } else {
                check(out == NULL && (r == -ENOMEM || sv_error_is_set(&e)));
        }
        sv_node_report_free(rep);

        /* Label selectors: NULL, then every object in the input, matched
         * against metadata.labels, spec.selector (a Service's) and nothing. */
        sv_labels sets[3] = {{0}, {0}, {0}};
        size_t n_sets = 0;
        if (sv_labels_from_json(json_object_get(json_object_get(root, "metadata"), "labels"),
                                &sets[n_sets]) == 0)
                n_sets++;
        if (sv_labels_from_json(json_object_get(json_object_get(root, "spec"), "selector"),
                                &sets[n_sets]) == 0)
                n_sets++;
        n_sets++; /* the empty set */
        struct walk w = {.sets = sets, .n_sets = n_sets};
        try_selector(&w, NULL);
        walk(&w, root, 0);
        for (size_t i = 0; i < n_sets; i++)
                sv_labels_done(&sets[i]);

        json_decref(root);
        return 0;
}
