/* SPDX-License-Identifier: Apache-2.0 */
/* The cached items' "same" checks: an update that changes nothing an item
 * keeps is the same item (the informer then drops it and nothing compiles);
 * any change of what it keeps is not. */
#include <string.h>

#include "../cmocka-prelude.h"
#include "json/json.h"
#include "operator/objects.h"

typedef int (*transform_fn)(void *, json_t *, void **, sv_error *);

static void *item_of(transform_fn transform, const char *text) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_json_parse(text, strlen(text), 1 << 16, &j, &err) < 0)
                fail_msg("test JSON %s: %s", text, err.message);
        void *item = NULL;
        if (transform(NULL, j, &item, &err) < 0)
                fail_msg("transform %s: %s", text, err.message);
        json_decref(j);
        return item;
}

#define POD_META                                                                                   \
        "\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\",\"labels\":{\"app\":\"web\"}}"
#define POD_SPEC "\"spec\":{\"nodeName\":\"n1\",\"serviceAccountName\":\"web\"}"
#define POD_STATUS "\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.42.0.5\"}]"

static const char *const pod_base = "{" POD_META "," POD_SPEC ",\"status\":{" POD_STATUS "}}";

/* Each differs from pod_base in one thing the item keeps. */
static const char *const pod_changes[] = {
        "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\",\"labels\":{\"app\":\"api\"}}"
        "," POD_SPEC ",\"status\":{" POD_STATUS "}}",
        "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\",\"labels\":{\"app\":\"web\","
        "\"v\":\"2\"}}," POD_SPEC ",\"status\":{" POD_STATUS "}}",
        "{" POD_META
        ",\"spec\":{\"nodeName\":\"n2\",\"serviceAccountName\":\"web\"},\"status\":{" POD_STATUS
        "}}",
        "{" POD_META
        ",\"spec\":{\"nodeName\":\"n1\",\"serviceAccountName\":\"admin\"},\"status\":{" POD_STATUS
        "}}",
        "{" POD_META "," POD_SPEC
        ",\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.42.0.6\"}]}}",
        "{" POD_META "," POD_SPEC ",\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.42."
        "0.5\"},{\"ip\":\"fd00::5\"}]}}",
        /* Finished: its address may be another pod's now. */
        "{" POD_META "," POD_SPEC
        ",\"status\":{\"phase\":\"Succeeded\",\"podIPs\":[{\"ip\":\"10.42.0.5\"}]}}",
        "{" POD_META
        ",\"spec\":{\"nodeName\":\"n1\",\"serviceAccountName\":\"web\",\"hostNetwork\":true},"
        "\"status\":{" POD_STATUS "}}",
};

static void pod_status_noise_is_same(void **state) {
        void *a = item_of(sv_pod_transform, pod_base);
        void *b = item_of(
                sv_pod_transform,
                "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\",\"labels\":{\"app\":"
                "\"web\"},\"resourceVersion\":\"99\",\"annotations\":{\"x\":\"y\"}}," POD_SPEC
                ",\"status\":{" POD_STATUS ",\"conditions\":[{\"type\":\"Ready\",\"status\":"
                "\"True\"}],\"containerStatuses\":[{\"name\":\"main\",\"ready\":true}]}}");
        assert_true(sv_pod_same(a, b));
        assert_true(sv_pod_same(b, a));
        sv_pod_free(a);
        sv_pod_free(b);
}

static void pod_changes_are_not_same(void **state) {
        void *a = item_of(sv_pod_transform, pod_base);
        for (size_t i = 0; i < sizeof(pod_changes) / sizeof(pod_changes[0]); i++) {
                void *b = item_of(sv_pod_transform, pod_changes[i]);
                if (sv_pod_same(a, b) || sv_pod_same(b, a))
                        fail_msg("change %zu reads as the same pod: %s", i, pod_changes[i]);
                sv_pod_free(b);
        }
        sv_pod_free(a);
}

#define SVC(ips, ports)                                                                            \
        "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\"},\"spec\":{\"clusterIPs\":" ips    \
        ",\"ports\":" ports "},\"status\":{\"loadBalancer\":{}}}"

static void service_same(void **state) {
        void *a = item_of(
                sv_service_transform,
                SVC("[\"10.43.0.10\"]", "[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}]"));
        void *same = item_of(
                sv_service_transform,
                "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\",\"resourceVersion\":\"7\"},"
                "\"spec\":{\"clusterIPs\":[\"10.43.0.10\"],\"ports\":[{\"name\":\"http\",\"port\":"
                "80,"
                "\"targetPort\":8080}]},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"1.2.3."
                "4\"}]}}}");
        assert_true(sv_service_same(a, same));
        const char *const changes[] = {
                SVC("[\"10.43.0.11\"]", "[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}]"),
                SVC("[\"10.43.0.10\"]", "[{\"name\":\"http\",\"port\":81,\"targetPort\":8080}]"),
                SVC("[\"10.43.0.10\"]", "[{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\"}]"),
                SVC("[\"10.43.0.10\"]",
                    "[{\"name\":\"http\",\"port\":80,\"targetPort\":8080,\"protocol\":\"UDP\"}]"),
                SVC("[\"10.43.0.10\"]", "[{\"name\":\"http\",\"port\":80,\"targetPort\":8080},"
                                        "{\"name\":\"admin\",\"port\":9000}]"),
        };
        for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
                void *b = item_of(sv_service_transform, changes[i]);
                if (sv_service_same(a, b))
                        fail_msg("change %zu reads as the same Service: %s", i, changes[i]);
                sv_service_free(b);
        }
        sv_service_free(a);
        sv_service_free(same);
}

#define SLICE(endpoints)                                                                           \
        "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-x\",\"labels\":{"                    \
        "\"kubernetes.io/service-name\":\"web\"}},\"ports\":[{\"name\":\"http\",\"port\":8080}],"  \
        "\"endpoints\":" endpoints "}"

static void slice_same(void **state) {
        void *a =
                item_of(sv_slice_transform,
                        SLICE("[{\"addresses\":[\"10.42.0.5\"],\"conditions\":{\"ready\":true}},"
                              "{\"addresses\":[\"10.42.0.6\"],\"conditions\":{\"ready\":false}}]"));
        /* Other conditions and fields than readiness and addresses. */
        void *same = item_of(sv_slice_transform,
                             SLICE("[{\"addresses\":[\"10.42.0.5\"],\"conditions\":{\"ready\":true,"
                                   "\"serving\":true},\"nodeName\":\"n1\"},{\"addresses\":["
                                   "\"10.42.0.6\"],\"conditions\":{\"ready\":false,\"terminating\":"
                                   "true}}]"));
        assert_true(sv_slice_same(a, same));
        void *ready =
                item_of(sv_slice_transform,
                        SLICE("[{\"addresses\":[\"10.42.0.5\"],\"conditions\":{\"ready\":true}},"
                              "{\"addresses\":[\"10.42.0.6\"],\"conditions\":{\"ready\":true}}]"));
        assert_false(sv_slice_same(a, ready));
        void *moved =
                item_of(sv_slice_transform,
                        SLICE("[{\"addresses\":[\"10.42.0.7\"],\"conditions\":{\"ready\":true}}]"));
        assert_false(sv_slice_same(a, moved));
        sv_slice_free(a);
        sv_slice_free(same);
        sv_slice_free(ready);
        sv_slice_free(moved);
}

static void namespace_same(void **state) {
        void *a = item_of(sv_namespace_transform,
                          "{\"metadata\":{\"name\":\"shop\",\"labels\":{\"env\":\"prod\"}}}");
        void *same = item_of(sv_namespace_transform,
                             "{\"metadata\":{\"name\":\"shop\",\"labels\":{\"env\":\"prod\"}},"
                             "\"status\":{\"phase\":\"Active\"}}");
        void *relabelled =
                item_of(sv_namespace_transform,
                        "{\"metadata\":{\"name\":\"shop\",\"labels\":{\"env\":\"dev\"}}}");
        assert_true(sv_namespace_same(a, same));
        assert_false(sv_namespace_same(a, relabelled));
        sv_namespace_free(a);
        sv_namespace_free(same);
        sv_namespace_free(relabelled);
}

static void pod_texts_are_shared(void **state) {
        sv_pod *a = item_of(sv_pod_transform, pod_base);
        sv_pod *b = item_of(sv_pod_transform, pod_changes[0]); /* same namespace, node, account */
        assert_ptr_equal(sv_pod_namespace(a), sv_pod_namespace(b));
        assert_ptr_equal(sv_pod_service_account(a), sv_pod_service_account(b));
        assert_ptr_equal(sv_pod_node(a), sv_pod_node(b));
        assert_string_equal(sv_pod_namespace(a), "shop");
        sv_pod_free(a);
        sv_pod_free(b);
        /* Past the cap of shared texts, pods keep their own copies. */
        for (int i = 0; i < 5000; i++) {
                char text[256];
                snprintf(text, sizeof(text),
                         "{\"metadata\":{\"namespace\":\"ns-%d\",\"name\":\"p\"},\"spec\":{"
                         "\"nodeName\":\"n1\",\"serviceAccountName\":\"sa-%d\"}}",
                         i, i);
                sv_pod *p = item_of(sv_pod_transform, text);
                char want[32];
                snprintf(want, sizeof(want), "ns-%d", i);
                assert_string_equal(sv_pod_namespace(p), want);
                snprintf(want, sizeof(want), "sa-%d", i);
                assert_string_equal(sv_pod_service_account(p), want);
                assert_string_equal(sv_pod_node(p), "n1");
                assert_string_equal(sv_pod_name(p), "p");
                sv_pod_free(p);
        }
        sv_pod_texts_free();
}

/* A pod the CNI plugin attached before its status has addresses: the copy
 * has the attachment's addresses and everything else of the pod. */
static void pod_with_other_ips(void **state) {
        sv_pod *p = item_of(sv_pod_transform,
                            "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\","
                            "\"labels\":{\"app\":\"web\",\"tier\":\"front\"}},"
                            "\"spec\":{\"nodeName\":\"n1\"},\"status\":{}}");
        assert_int_equal(p->n_ips, 0);
        const char *ips[] = {"10.1.2.3", "fd00::3"};
        sv_pod *c = NULL;
        assert_int_equal(sv_pod_with_ips(p, ips, 2, &c), 0);
        assert_int_equal(c->n_ips, 2);
        assert_string_equal(sv_pod_ip(c, 0), "10.1.2.3");
        assert_string_equal(sv_pod_ip(c, 1), "fd00::3");
        assert_string_equal(sv_pod_name(c), "web-1");
        assert_string_equal(sv_pod_namespace(c), "shop");
        assert_string_equal(sv_pod_service_account(c), "default");
        sv_labels l = sv_pod_labels(c);
        assert_int_equal(l.count, 2);
        assert_string_equal(sv_labels_get(&l, "tier"), "front");
        assert_false(sv_pod_same(p, c));
        sv_pod_free(c);
        sv_pod_free(p);
        sv_pod_texts_free();
}

/* Texts past what 15-bit offsets reach are refused, not truncated. */
static void pod_too_long_is_refused(void **state) {
        char name[40000];
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        _cleanup_json_ json_t *obj =
                json_pack("{s:{s:s,s:s}}", "metadata", "namespace", "shop", "name", name);
        assert_non_null(obj);
        void *item = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_pod_transform(NULL, obj, &item, &err), -E2BIG);
        assert_null(item);
        assert_non_null(strstr(err.message, "longer"));
        sv_pod_texts_free();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(pod_with_other_ips),
                cmocka_unit_test(pod_too_long_is_refused),
                cmocka_unit_test(pod_status_noise_is_same),
                cmocka_unit_test(pod_changes_are_not_same),
                cmocka_unit_test(service_same),
                cmocka_unit_test(slice_same),
                cmocka_unit_test(namespace_same),
                cmocka_unit_test(pod_texts_are_shared),
        };
        int failed = cmocka_run_group_tests_name("operator/objects", tests, NULL, NULL);
        sv_pod_texts_free();
        return failed;
}
