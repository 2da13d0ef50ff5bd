/* SPDX-License-Identifier: Apache-2.0 */
/* sv_addrbook: addresses to workloads and Services for telemetry labels. */
#include <string.h>

#include "../cmocka-prelude.h"
#include "json/json.h"
#include "operator/addrbook.h"

/* The book of a state given as text; the state is dropped at once: the book
 * keeps what it needs. */
static sv_addrbook *book_of(const char *text) {
        json_t *state = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_json_parse(text, strlen(text), 1 << 16, &state, &err), 0);
        sv_addrbook *ab = NULL;
        assert_int_equal(sv_addrbook_build(state, &ab), 0);
        json_decref(state);
        return ab;
}

static void lookups(void **s) {
        const char *text =
                "{\"identities\": {\"prod/web\": [\"10.0.0.2\"], \"dev/default\": [\"10.0.0.3\"]},"
                " \"services\": ["
                "  {\"namespace\": \"prod\", \"name\": \"a-web\", \"clusterIPs\": [\"10.96.0.1\"],"
                "   \"endpoints\": [\"10.0.0.2\"]},"
                "  {\"namespace\": \"prod\", \"name\": \"b-web\", \"clusterIPs\": [\"10.96.0.2\"],"
                "   \"endpoints\": [\"10.0.0.2\"]},"
                "  {\"namespace\": \"prod\", \"name\": \"all\", \"clusterIPs\": [\"10.96.0.3\"],"
                "   \"endpoints\": [\"10.0.0.2\", \"10.0.0.4\"]}]}";
        sv_addrbook *ab = book_of(text);
        assert_string_equal(sv_addrbook_workload(ab, "10.0.0.2"), "prod/web");
        assert_string_equal(sv_addrbook_workload(ab, "10.0.0.9"), "unknown");
        assert_string_equal(sv_addrbook_workload(ab, NULL), "unknown");
        assert_string_equal(sv_addrbook_service(ab, "10.96.0.2"), "prod/b-web");
        /* an endpoint of three Services: the most specific (fewest endpoints),
         * then the first in name order */
        assert_string_equal(sv_addrbook_service(ab, "10.0.0.2"), "prod/a-web");
        assert_string_equal(sv_addrbook_service(ab, "10.0.0.4"), "prod/all");
        assert_string_equal(sv_addrbook_service(ab, "10.96.0.3"), "prod/all");
        assert_string_equal(sv_addrbook_service(ab, "10.0.0.3"), "none");
        sv_addrbook_free(ab);
        assert_null(sv_addrbook_free(NULL));
        assert_string_equal(sv_addrbook_workload(NULL, "10.0.0.2"), "unknown");
}

/* Addresses are compared as addresses, not texts; what is not one is unknown. */
static void address_forms(void **s) {
        const char *text = "{\"identities\": {\"prod/web\": [\"fd00::2\", \"10.0.0.7\"],"
                           "  \"prod/x\": [\"not-an-ip\", 7], \"dev/default\": [\"10.0.0.8\"]},"
                           " \"services\": [{\"namespace\": \"prod\", \"name\": \"web\","
                           "  \"clusterIPs\": [\"fd00:96::1\"], \"endpoints\": [\"fd00::2\"]}]}";
        sv_addrbook *ab = book_of(text);
        assert_string_equal(sv_addrbook_workload(ab, "fd00:0:0::2"), "prod/web");
        assert_string_equal(sv_addrbook_workload(ab, "FD00::2"), "prod/web");
        assert_string_equal(sv_addrbook_workload(ab, "10.0.0.7"), "prod/web");
        assert_string_equal(sv_addrbook_workload(ab, "10.0.0.8"), "dev/default");
        assert_string_equal(sv_addrbook_workload(ab, "::ffff:10.0.0.8"), "dev/default");
        assert_string_equal(sv_addrbook_workload(ab, "not-an-ip"), "unknown");
        assert_string_equal(sv_addrbook_workload(ab, ""), "unknown");
        assert_string_equal(sv_addrbook_service(ab, "fd00:96:0::1"), "prod/web");
        assert_string_equal(sv_addrbook_service(ab, "fd00::2"), "prod/web");
        assert_string_equal(sv_addrbook_service(ab, "10.0.0.7"), "none");
        sv_addrbook_free(ab);
}

/* The node's own pods (localPods): the clients whose connections telemetry
 * counts on this node. */
static void local_pods(void **s) {
        const char *text =
                "{\"identities\": {\"prod/web\": [\"10.0.0.2\", \"10.0.0.5\", \"fd00::5\"]},"
                " \"localPods\": [{\"namespace\": \"prod\", \"name\": \"web-1\","
                "   \"ips\": [\"10.0.0.5\", \"fd00::5\"]},"
                "  {\"namespace\": \"prod\", \"name\": \"odd\", \"ips\": [\"nope\", 7]}]}";
        sv_addrbook *ab = book_of(text);
        assert_true(sv_addrbook_is_local(ab, "10.0.0.5"));
        assert_true(sv_addrbook_is_local(ab, "FD00:0::5"));
        assert_false(sv_addrbook_is_local(ab, "10.0.0.2")); /* a pod of another node */
        assert_false(sv_addrbook_is_local(ab, "nope"));
        assert_false(sv_addrbook_is_local(ab, NULL));
        assert_false(sv_addrbook_is_local(NULL, "10.0.0.5"));
        sv_addrbook_free(ab);
}

int main(void) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(lookups),
                                           cmocka_unit_test(address_forms),
                                           cmocka_unit_test(local_pods)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
