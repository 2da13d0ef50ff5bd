/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/objects.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "json/json.h"
#include "kube/informer.h"
#include "operator/memory.h"
#include "operator/report.h"

const char *sv_mesh_kind_name(enum sv_mesh_kind k) {
        return k == SV_KIND_SERVICE_POLICY ? "ServicePolicy" : "TrafficSplit";
}

static char *dup_or_empty(const char *s) {
        return strdup(s ? s : "");
}

/* Copies a textual IP after checking it is one, so later stages can trust it. */
static bool copy_ip(const char *s, char dst[SV_IP_MAX]) {
        unsigned char buf[16];
        if (!s || (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1))
                return false;
        size_t n = strlen(s);
        if (n >= SV_IP_MAX)
                return false;
        memcpy(dst, s, n + 1);
        return true;
}

void sv_pod_free(void *p) {
        sv_pod *pod = p;
        if (!pod)
                return;
        free(pod); /* the strings and labels live in the same block */
}

/* Appends s (NULL: "") at *at and returns where it went. */
static char *pack(char **at, const char *s) {
        char *dst = *at;
        size_t n = strlen(s ? s : "") + 1;
        memcpy(dst, s ? s : "", n);
        *at += n;
        return dst;
}

/* A pod's text reference: an offset in its block, or this bit and the index
 * of the shared copy. */
#define SV_POD_SHARED 0x8000u

/* Namespaces, service accounts and node names, one copy each: at 10,000 pods
 * they are a few hundred texts said 10,000 times (~35 bytes a pod). Kept
 * until sv_pod_texts_free, at most SHARED_TEXTS_MAX of them (a cluster
 * cannot grow this without bound); past that a pod keeps its own copies.
 * Only the main thread makes pods. */
#define SHARED_TEXTS_MAX 4096
static sv_hashmap *shared_texts; /* text -> its index + 1 */
static char *shared_list[SHARED_TEXTS_MAX];
static size_t n_shared;

/* The index of s's shared copy, or -1 (s is then packed into the pod's
 * block). */
static int shared_text(const char *s) {
        if (!shared_texts && sv_hashmap_new(&shared_texts) < 0)
                return -1;
        uintptr_t found = (uintptr_t)sv_hashmap_get(shared_texts, s);
        if (found)
                return (int)(found - 1);
        if (n_shared >= SHARED_TEXTS_MAX)
                return -1;
        char *dup = strdup(s);
        if (!dup || sv_hashmap_put(shared_texts, s, (void *)(uintptr_t)(n_shared + 1), NULL) < 0) {
                free(dup);
                return -1;
        }
        shared_list[n_shared] = dup;
        return (int)n_shared++;
}

void sv_pod_texts_free(void) {
        shared_texts = sv_hashmap_free(shared_texts);
        for (size_t i = 0; i < n_shared; i++)
                free(TAKE_PTR(shared_list[i]));
        n_shared = 0;
}

const char *sv_pod_text(const sv_pod *p, unsigned which) {
        uint16_t ref = p->text[which];
        if (ref & SV_POD_SHARED)
                return shared_list[ref & ~SV_POD_SHARED];
        return p->data + ref;
}

/* Offsets are 15 bits: what precedes the labels in a block fits in 32 KiB
 * (Kubernetes names are at most 253 bytes). */
#define POD_TEXTS_MAX (SV_POD_SHARED - 1)

/* Where a pod's text goes: its shared copy, or else packed at *at. */
static uint16_t pod_text(sv_pod *pod, char **at, int shared, const char *s) {
        if (shared >= 0)
                return (uint16_t)(SV_POD_SHARED | (unsigned)shared);
        return (uint16_t)(pack(at, s) - pod->data);
}

int sv_pod_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        json_t *spec = json_object_get(obj, "spec"), *status = json_object_get(obj, "status");
        const char *sa = json_string_value(json_object_get(spec, "serviceAccountName"));
        const char *ns = sv_meta_string(obj, "namespace"), *name = sv_meta_string(obj, "name");
        const char *node = json_string_value(json_object_get(spec, "nodeName"));
        if (!sa)
                sa = "default";
        /* A finished pod's address may already belong to another pod. A
         * hostNetwork pod's address is its node's: giving it the pod's
         * identity would let every process of that node pass as the pod. */
        const char *phase = json_string_value(json_object_get(status, "phase"));
        bool finished = (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) ||
                        json_is_true(json_object_get(spec, "hostNetwork"));
        char ips[SV_POD_IPS][SV_IP_MAX];
        unsigned n_ips = 0;
        size_t i;
        json_t *ip;
        json_array_foreach (json_object_get(status, "podIPs"), i, ip) {
                if (finished || n_ips >= SV_POD_IPS)
                        break;
                if (copy_ip(json_string_value(json_object_get(ip, "ip")), ips[n_ips]))
                        n_ips++;
        }
        if (!finished && n_ips == 0 &&
            copy_ip(json_string_value(json_object_get(status, "podIP")), ips[0]))
                n_ips = 1;
        _cleanup_(sv_labels_done) sv_labels labels = {0};
        int r = sv_labels_from_json(json_object_get(json_object_get(obj, "metadata"), "labels"),
                                    &labels);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_DECODE, "pod labels: %s", strerror(-r));
        int shared_ns = shared_text(ns ? ns : ""), shared_sa = shared_text(sa);
        int shared_node = shared_text(node ? node : "");
        /* One block for the head, its own strings, its addresses and its
         * labels: at 10,000 pods, each allocation fewer per pod is 0.15 MB or
         * more, and addresses as texts of their own length rather than
         * 46-byte buffers another 0.6 MB. */
        size_t strings = strlen(name ? name : "") + 1;
        if (shared_ns < 0)
                strings += strlen(ns ? ns : "") + 1;
        if (shared_sa < 0)
                strings += strlen(sa) + 1;
        if (shared_node < 0)
                strings += strlen(node ? node : "") + 1;
        for (unsigned k = 0; k < n_ips; k++)
                strings += strlen(ips[k]) + 1;
        if (strings > POD_TEXTS_MAX)
                return sv_errorf(err, -E2BIG, SV_CODE_DECODE, "pod texts longer than %u bytes",
                                 POD_TEXTS_MAX);
        sv_pod *pod = calloc(1, sizeof(*pod) + strings + labels.len);
        if (!pod)
                return -ENOMEM;
        char *at = pod->data;
        pod->text[SV_POD_NAMESPACE] = pod_text(pod, &at, shared_ns, ns);
        pod->text[SV_POD_NAME] = pod_text(pod, &at, -1, name);
        pod->text[SV_POD_SERVICE_ACCOUNT] = pod_text(pod, &at, shared_sa, sa);
        pod->text[SV_POD_NODE] = pod_text(pod, &at, shared_node, node);
        for (unsigned k = 0; k < n_ips; k++)
                pod->ips[k] = (uint16_t)(pack(&at, ips[k]) - pod->data);
        pod->n_ips = (uint8_t)n_ips;
        pod->labels_at = (uint16_t)(at - pod->data);
        if (labels.data) {
                memcpy(at, labels.data, labels.len);
                pod->labels_len = labels.len;
                pod->labels_count = labels.count;
        }
        *out = pod;
        return 0;
}

int sv_pod_with_ips(const sv_pod *p, const char *const *ips, unsigned n_ips, sv_pod **out) {
        if (n_ips > SV_POD_IPS)
                n_ips = SV_POD_IPS;
        /* The addresses go before the labels, which end the block. */
        size_t head = p->labels_at, extra = 0;
        for (unsigned k = 0; k < n_ips; k++)
                extra += strlen(ips[k]) + 1;
        if (head + extra > POD_TEXTS_MAX)
                return -E2BIG;
        sv_pod *c = malloc(sizeof(*c) + head + extra + p->labels_len);
        if (!c)
                return -ENOMEM;
        memcpy(c, p, sizeof(*c) + head);
        char *at = c->data + head;
        for (unsigned k = 0; k < n_ips; k++)
                c->ips[k] = (uint16_t)(pack(&at, ips[k]) - c->data);
        c->n_ips = (uint8_t)n_ips;
        c->labels_at = (uint16_t)(at - c->data);
        memcpy(at, p->data + p->labels_at, p->labels_len);
        *out = c;
        return 0;
}

static bool text_equal(const char *a, const char *b) {
        return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Same labels in the same order (a reordering reads as a change, which
 * costs one compile and is rare). */
static bool labels_equal(const sv_labels *a, const sv_labels *b) {
        return a->len == b->len && a->count == b->count &&
               (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

bool sv_pod_same(const void *old_item, const void *new_item) {
        const sv_pod *a = old_item, *b = new_item;
        for (unsigned t = 0; t < SV_POD_TEXTS; t++)
                if (!text_equal(sv_pod_text(a, t), sv_pod_text(b, t)))
                        return false;
        sv_labels la = sv_pod_labels(a), lb = sv_pod_labels(b);
        if (a->n_ips != b->n_ips || !labels_equal(&la, &lb))
                return false;
        for (unsigned k = 0; k < a->n_ips; k++)
                if (!text_equal(sv_pod_ip(a, k), sv_pod_ip(b, k)))
                        return false;
        return true;
}

static bool ports_equal(const sv_service_port *a, unsigned n_a, const sv_service_port *b,
                        unsigned n_b) {
        if (n_a != n_b)
                return false;
        for (unsigned i = 0; i < n_a; i++)
                if (!text_equal(a[i].name, b[i].name) ||
                    strcmp(a[i].protocol, b[i].protocol) != 0 || a[i].port != b[i].port ||
                    a[i].target_port != b[i].target_port ||
                    !text_equal(a[i].target_port_name, b[i].target_port_name))
                        return false;
        return true;
}

static void ports_free(sv_service_port *ports, unsigned n) {
        for (unsigned i = 0; ports && i < n; i++) {
                free(ports[i].name);
                free(ports[i].target_port_name);
        }
        free(ports);
}

static int read_ports(json_t *arr, bool service, sv_service_port **out, unsigned *n_out,
                      sv_error *err) {
        size_t n = json_array_size(arr);
        if (n > SV_SERVICE_PORTS_MAX)
                return sv_errorf(err, -E2BIG, SV_CODE_DECODE, "more than %d ports",
                                 SV_SERVICE_PORTS_MAX);
        if (n == 0) {
                *out = NULL;
                *n_out = 0;
                return 0;
        }
        sv_service_port *ports = calloc(n, sizeof(*ports));
        if (!ports)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *p = json_array_get(arr, i);
                const char *proto = json_string_value(json_object_get(p, "protocol"));
                json_int_t port = json_integer_value(json_object_get(p, "port"));
                ports[i].name = dup_or_empty(json_string_value(json_object_get(p, "name")));
                snprintf(ports[i].protocol, sizeof(ports[i].protocol), "%s", proto ? proto : "TCP");
                ports[i].port = port > 0 && port <= 65535 ? (uint16_t)port : 0;
                json_t *tp = json_object_get(p, "targetPort");
                if (service && json_is_integer(tp) && json_integer_value(tp) > 0 &&
                    json_integer_value(tp) <= 65535)
                        ports[i].target_port = (uint16_t)json_integer_value(tp);
                else if (service && json_is_string(tp))
                        ports[i].target_port_name = strdup(json_string_value(tp));
                else if (service)
                        ports[i].target_port = ports[i].port;
                if (!ports[i].name) {
                        ports_free(ports, (unsigned)n);
                        return -ENOMEM;
                }
        }
        *out = ports;
        *n_out = (unsigned)n;
        return 0;
}

void sv_service_free(void *p) {
        sv_service *s = p;
        if (!s)
                return;
        free(s->namespace);
        free(s->name);
        ports_free(s->ports, s->n_ports);
        free(s);
}

int sv_service_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        sv_service *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        json_t *spec = json_object_get(obj, "spec");
        s->namespace = dup_or_empty(sv_meta_string(obj, "namespace"));
        s->name = dup_or_empty(sv_meta_string(obj, "name"));
        size_t i;
        json_t *ip;
        json_array_foreach (json_object_get(spec, "clusterIPs"), i, ip) {
                if (s->n_cluster_ips < SV_POD_IPS &&
                    copy_ip(json_string_value(ip), s->cluster_ips[s->n_cluster_ips]))
                        s->n_cluster_ips++;
        }
        if (s->n_cluster_ips == 0 &&
            copy_ip(json_string_value(json_object_get(spec, "clusterIP")), s->cluster_ips[0]))
                s->n_cluster_ips = 1;
        int r = read_ports(json_object_get(spec, "ports"), true, &s->ports, &s->n_ports, err);
        if (r < 0 || !s->namespace || !s->name) {
                sv_service_free(s);
                return r < 0 ? r : -ENOMEM;
        }
        *out = s;
        return 0;
}

bool sv_service_same(const void *old_item, const void *new_item) {
        const sv_service *a = old_item, *b = new_item;
        if (!text_equal(a->namespace, b->namespace) || !text_equal(a->name, b->name) ||
            a->n_cluster_ips != b->n_cluster_ips ||
            !ports_equal(a->ports, a->n_ports, b->ports, b->n_ports))
                return false;
        for (unsigned k = 0; k < a->n_cluster_ips; k++)
                if (strcmp(a->cluster_ips[k], b->cluster_ips[k]) != 0)
                        return false;
        return true;
}

void sv_slice_free(void *p) {
        sv_slice *s = p;
        if (!s)
                return;
        free(s->namespace);
        free(s->service);
        free(s->ips);
        ports_free(s->ports, s->n_ports);
        free(s);
}

/* The first address of a ready endpoint, checked, into ip. Absent "ready"
 * means ready, as the API documents. */
static bool ready_address(const json_t *ep, char ip[SV_IP_MAX]) {
        const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
        const json_t *addrs = json_object_get(ep, "addresses");
        return !json_is_false(ready) && copy_ip(json_string_value(json_array_get(addrs, 0)), ip);
}

int sv_slice_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        sv_slice *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        s->namespace = dup_or_empty(sv_meta_string(obj, "namespace"));
        s->service = dup_or_empty(
                json_string_value(json_object_get(labels, "kubernetes.io/service-name")));
        json_t *eps = json_object_get(obj, "endpoints");
        size_t n = json_array_size(eps);
        if (n > SV_SLICE_ENDPOINTS_MAX)
                n = SV_SLICE_ENDPOINTS_MAX;
        /* The ready addresses: their pointers, then their texts, in one block. */
        size_t texts = 0;
        unsigned found = 0;
        char ip[SV_IP_MAX];
        for (size_t i = 0; i < n; i++)
                if (ready_address(json_array_get(eps, i), ip)) {
                        texts += strlen(ip) + 1;
                        found++;
                }
        if (found) {
                if (!(s->ips = malloc(found * sizeof(char *) + texts))) {
                        sv_slice_free(s);
                        return -ENOMEM;
                }
                char *at = (char *)(s->ips + found);
                for (size_t i = 0; i < n && s->n_ips < found; i++)
                        if (ready_address(json_array_get(eps, i), ip))
                                s->ips[s->n_ips++] = pack(&at, ip);
        }
        int r = read_ports(json_object_get(obj, "ports"), false, &s->ports, &s->n_ports, err);
        if (r < 0 || !s->namespace || !s->service) {
                sv_slice_free(s);
                return r < 0 ? r : -ENOMEM;
        }
        *out = s;
        return 0;
}

bool sv_slice_same(const void *old_item, const void *new_item) {
        const sv_slice *a = old_item, *b = new_item;
        if (!text_equal(a->namespace, b->namespace) || !text_equal(a->service, b->service) ||
            a->n_ips != b->n_ips || !ports_equal(a->ports, a->n_ports, b->ports, b->n_ports))
                return false;
        for (unsigned k = 0; k < a->n_ips; k++)
                if (strcmp(a->ips[k], b->ips[k]) != 0)
                        return false;
        return true;
}

void sv_namespace_free(void *p) {
        sv_namespace *ns = p;
        if (!ns)
                return;
        free(ns->name);
        sv_labels_done(&ns->labels);
        free(ns);
}

int sv_namespace_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        sv_namespace *ns = calloc(1, sizeof(*ns));
        if (!ns)
                return -ENOMEM;
        ns->name = dup_or_empty(sv_meta_string(obj, "name"));
        int r = sv_labels_from_json(json_object_get(json_object_get(obj, "metadata"), "labels"),
                                    &ns->labels);
        if (r < 0 || !ns->name) {
                sv_namespace_free(ns);
                return -ENOMEM;
        }
        *out = ns;
        return 0;
}

bool sv_namespace_same(const void *old_item, const void *new_item) {
        const sv_namespace *a = old_item, *b = new_item;
        return text_equal(a->name, b->name) && labels_equal(&a->labels, &b->labels);
}

void sv_mesh_object_free(void *p) {
        sv_mesh_object *o = p;
        if (!o)
                return;
        free(o->namespace);
        free(o->name);
        free(o->uid);
        free(o->resource_version);
        free(o->creation);
        free(o->spec);
        sv_packed_text_done(&o->status);
        free(o);
}

static int mesh_transform(enum sv_mesh_kind kind, json_t *obj, void **out, sv_error *err) {
        json_t *spec = json_object_get(obj, "spec");
        if (!json_is_object(spec))
                return sv_errorf(err, -EINVAL, SV_CODE_DECODE, "object without a spec");
        sv_mesh_object *o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->kind = kind;
        o->namespace = dup_or_empty(sv_meta_string(obj, "namespace"));
        o->name = dup_or_empty(sv_meta_string(obj, "name"));
        o->uid = dup_or_empty(sv_meta_string(obj, "uid"));
        o->resource_version = dup_or_empty(sv_meta_string(obj, "resourceVersion"));
        o->creation = dup_or_empty(sv_meta_string(obj, "creationTimestamp"));
        o->generation = sv_meta_int(obj, "generation");
        /* The texts are kept with the object (see operator/memory.h). */
        _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(true);
        o->spec = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        json_t *status = json_object_get(obj, "status");
        if (json_is_object(status)) {
                _cleanup_free_ char *text = json_dumps(status, JSON_COMPACT);
                int r = text ? sv_text_pack(text, strlen(text), &o->status) : -ENOMEM;
                if (r < 0) {
                        sv_mesh_object_free(o);
                        return r == -EINVAL
                                       ? sv_errorf(err, r, SV_CODE_DECODE,
                                                   "status longer than %u bytes", SV_TEXTPACK_MAX)
                                       : r;
                }
        }
        if (!o->namespace || !o->name || !o->uid || !o->resource_version || !o->creation ||
            !o->spec) {
                sv_mesh_object_free(o);
                return -ENOMEM;
        }
        *out = o;
        return 0;
}

json_t *sv_mesh_object_spec(const sv_mesh_object *o) {
        return o->spec ? json_loads(o->spec, 0, NULL) : NULL;
}

json_t *sv_mesh_object_status(const sv_mesh_object *o) {
        _cleanup_free_ char *text = NULL;
        /* Our own pack of our own dump: it unpacks and parses, unless memory
         * ran out. */
        if (!o->status.data || sv_text_unpack(&o->status, &text) < 0)
                return NULL;
        return json_loads(text, 0, NULL);
}

bool sv_mesh_object_has_status(const sv_mesh_object *o) {
        return o->status.data != NULL;
}

int sv_policy_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        return mesh_transform(SV_KIND_SERVICE_POLICY, obj, out, err);
}

int sv_split_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        return mesh_transform(SV_KIND_TRAFFIC_SPLIT, obj, out, err);
}

void sv_node_report_free(void *p) {
        sv_node_report *r = p;
        if (!r)
                return;
        free(r->node);
        free(r->renew_time);
        sv_genmap_done(&r->programmed);
        json_decref(r->failed);
        free(r);
}

/* Annotations hold JSON text; anything unreadable counts as an empty report.
 * With keep, kept with the report until its node's next one (see
 * operator/memory.h). */
static json_t *annotation_json(json_t *obj, const char *key, bool keep) {
        _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(keep);
        json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
        const char *text = json_string_value(json_object_get(ann, key));
        json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
        if (j && !json_is_object(j)) {
                json_decref(j);
                j = NULL;
        }
        return j ? j : json_object();
}

int sv_node_report_transform(void *ud, json_t *obj, void **out, sv_error *err) {
        json_t *spec = json_object_get(obj, "spec");
        sv_node_report *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->node = dup_or_empty(json_string_value(json_object_get(spec, "holderIdentity")));
        r->renew_time = dup_or_empty(json_string_value(json_object_get(spec, "renewTime")));
        /* A heartbeat Lease has no report; a Lease of an older release is both. */
        r->has_report =
                json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                                SV_REPORT_PROGRAMMED) != NULL;
        /* Made into a table at once: not kept. */
        _cleanup_json_ json_t *programmed = annotation_json(obj, SV_REPORT_PROGRAMMED, false);
        r->failed = annotation_json(obj, SV_REPORT_FAILED, true);
        if (!r->node || !r->renew_time || !programmed || !r->failed ||
            sv_genmap_from_json(programmed, &r->programmed) < 0) {
                sv_node_report_free(r);
                return -ENOMEM;
        }
        *out = r;
        return 0;
}
