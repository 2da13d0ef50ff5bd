/* SPDX-License-Identifier: Apache-2.0 */
/* What the operator keeps of each kind it watches: compact structs made by
 * the informers' transforms, never the full objects. At 10,000 pods the
 * difference is tens of megabytes against a 10 MB budget. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "operator/genmap.h"
#include "operator/labels.h"
#include "operator/textpack.h"

#define SV_IP_MAX 46 /* INET6_ADDRSTRLEN */
#define SV_POD_IPS 2 /* dual stack */
#define SV_SERVICE_PORTS_MAX 64
#define SV_SLICE_ENDPOINTS_MAX 1000

/* One allocation of a 24-byte head and the pod's texts: its name, addresses
 * and labels' data in the block, located by 16-bit offsets; namespace,
 * service account and node by the index of their shared copy
 * (sv_pod_texts_free), or in the block too. With pointers the head was 72
 * bytes: at 10,000 pods each 16 bytes less of a block is 0.16 MB. Read it
 * through the accessors; sv_pod_free frees it. */
enum { SV_POD_NAMESPACE, SV_POD_NAME, SV_POD_SERVICE_ACCOUNT, SV_POD_NODE, SV_POD_TEXTS };
typedef struct sv_pod {
        uint32_t labels_len, labels_count;
        uint16_t text[SV_POD_TEXTS]; /* offset in data, or SV_POD_SHARED | shared index */
        uint16_t ips[SV_POD_IPS];    /* offsets in data */
        uint16_t labels_at;          /* offset in data; the labels end the block */
        uint8_t n_ips;
        char data[];
} sv_pod;

const char *sv_pod_text(const sv_pod *p, unsigned which);
static inline const char *sv_pod_namespace(const sv_pod *p) {
        return sv_pod_text(p, SV_POD_NAMESPACE);
}
static inline const char *sv_pod_name(const sv_pod *p) {
        return sv_pod_text(p, SV_POD_NAME);
}
static inline const char *sv_pod_service_account(const sv_pod *p) {
        return sv_pod_text(p, SV_POD_SERVICE_ACCOUNT);
}
static inline const char *sv_pod_node(const sv_pod *p) {
        return sv_pod_text(p, SV_POD_NODE);
}
static inline const char *sv_pod_ip(const sv_pod *p, unsigned k) {
        return p->data + p->ips[k];
}
/* The labels, borrowed from the block. */
static inline sv_labels sv_pod_labels(const sv_pod *p) {
        return (sv_labels){.data = p->labels_len ? (char *)(p->data + p->labels_at) : NULL,
                           .len = p->labels_len,
                           .count = p->labels_count};
}
/* A copy of p with other addresses (a pod the CNI plugin attached before its
 * status has them): 0 or -ENOMEM / -E2BIG; *out only on success. */
int sv_pod_with_ips(const sv_pod *p, const char *const *ips, unsigned n_ips, sv_pod **out);

typedef struct sv_service_port {
        char *name;
        char protocol[8];
        uint16_t port;
        uint16_t target_port; /* 0 when named */
        char *target_port_name;
} sv_service_port;

typedef struct sv_service {
        char *namespace, *name;
        char cluster_ips[SV_POD_IPS][SV_IP_MAX];
        unsigned n_cluster_ips;
        sv_service_port *ports;
        unsigned n_ports;
} sv_service;

typedef struct sv_slice {
        char *namespace, *service; /* service: label kubernetes.io/service-name */
        char **ips;                /* ready endpoints; one block with their texts */
        unsigned n_ips;
        sv_service_port *ports; /* name, protocol, port (target side) */
        unsigned n_ports;
} sv_slice;

typedef struct sv_namespace {
        char *name;
        sv_labels labels;
} sv_namespace;

enum sv_mesh_kind { SV_KIND_SERVICE_POLICY, SV_KIND_TRAFFIC_SPLIT };

/* A ServicePolicy or TrafficSplit. Spec and status are kept as compact JSON
 * text and parsed when used (the spec once per compile, the status by the
 * leader once per status pass): as jansson trees a spec costs ~3.5 KB and
 * five conditions ~6 KB, against 0.2 and 0.7 KB of text, and a cluster has
 * thousands of them. */
typedef struct sv_mesh_object {
        enum sv_mesh_kind kind;
        char *namespace, *name, *uid, *resource_version, *creation;
        int64_t generation;
        char *spec; /* keys sorted: equal specs are equal texts */
        /* Packed (operator/textpack.h): read rarely, kept for as long as
         * the object. data is NULL when the object has no status. */
        sv_packed_text status;
        /* The leader's status pass: digest of the inputs (verdict, rollout)
         * under which this copy's status was found current, 0 when never.
         * A new copy (any change, a relist) starts at 0. */
        uint64_t status_current_for;
} sv_mesh_object;

/* A node's report of what it has programmed (see docs/operator.md). */
/* One of a node's report Leases (operator/report.h): its heartbeat
 * (renew_time set), its report (has_report), or, from a release before
 * 7 Dec 2026, both. */
typedef struct sv_node_report {
        char *node;
        char *renew_time;     /* "" when the Lease has none */
        bool has_report;      /* the Lease carries the programmed annotation */
        sv_genmap programmed; /* {"uid": generation} */
        json_t *failed;       /* {"uid": "message"} */
} sv_node_report;

int sv_pod_transform(void *ud, json_t *obj, void **out, sv_error *err);
void sv_pod_free(void *p);
bool sv_pod_same(const void *old_item, const void *new_item);
/* Frees the namespaces, service accounts and node names that pods share
 * (call once no pod is left). */
void sv_pod_texts_free(void);
int sv_service_transform(void *ud, json_t *obj, void **out, sv_error *err);
void sv_service_free(void *p);
bool sv_service_same(const void *old_item, const void *new_item);
int sv_slice_transform(void *ud, json_t *obj, void **out, sv_error *err);
void sv_slice_free(void *p);
bool sv_slice_same(const void *old_item, const void *new_item);
int sv_namespace_transform(void *ud, json_t *obj, void **out, sv_error *err);
void sv_namespace_free(void *p);
bool sv_namespace_same(const void *old_item, const void *new_item);
int sv_policy_transform(void *ud, json_t *obj, void **out, sv_error *err);
int sv_split_transform(void *ud, json_t *obj, void **out, sv_error *err);
void sv_mesh_object_free(void *p);
static inline void sv_mesh_object_freep(sv_mesh_object **p) {
        sv_mesh_object_free(*p);
}
/* The spec of o parsed (a new reference); NULL only when memory ran out. */
json_t *sv_mesh_object_spec(const sv_mesh_object *o);
/* The stored status of o parsed (a new reference), or NULL when it has none. */
json_t *sv_mesh_object_status(const sv_mesh_object *o);
bool sv_mesh_object_has_status(const sv_mesh_object *o);
int sv_node_report_transform(void *ud, json_t *obj, void **out, sv_error *err);
void sv_node_report_free(void *p);

const char *sv_mesh_kind_name(enum sv_mesh_kind k);
