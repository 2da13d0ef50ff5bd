/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/macro.h"
#include "cni/prevresult.h"

/* ---- helpers ----------------------------------------------------------- */

static json_t *load(const char *s) {
        json_error_t jerr;
        json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                fail_msg("bad test JSON at %d:%d: %s: %s", jerr.line, jerr.column, jerr.text, s);
        return j;
}

static void addrs_ok(const char *doc, const char *ifname, pod_addrs *a) {
        _cleanup_json_ json_t *j = load(doc);
        sv_error err = SV_ERROR_INIT;
        int r = prevresult_pod_addrs(j, ifname, a, &err);
        if (r != 0)
                fail_msg("prevresult_pod_addrs: %d %s", r, err.message);
        assert_false(sv_error_is_set(&err));
}

static pod_addrs sentinel(void) {
        pod_addrs a;
        memset(&a, 0x5a, sizeof(a));
        return a;
}

/* Expects failure with SV_CODE_INVALID_CONFIG, a message containing needle,
 * and the output untouched. Returns the error number. */
static int addrs_fail(const char *doc, const char *ifname, const char *needle) {
        _cleanup_json_ json_t *j = load(doc);
        pod_addrs a = sentinel(), s0 = sentinel();
        sv_error err = SV_ERROR_INIT;
        int r = prevresult_pod_addrs(j, ifname, &a, &err);
        if (r >= 0)
                fail_msg("accepted: %s", doc);
        if (err.code != SV_CODE_INVALID_CONFIG)
                fail_msg("code %d (%s) for %s", err.code, err.message, doc);
        if (!strstr(err.message, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
        assert_memory_equal(&a, &s0, sizeof(a));
        return r;
}

static void assert_v4(const struct in_addr *a, const char *want) {
        char buf[INET_ADDRSTRLEN];
        assert_non_null(inet_ntop(AF_INET, a, buf, sizeof(buf)));
        assert_string_equal(buf, want);
}

static void assert_v6(const struct in6_addr *a, const char *want) {
        char buf[INET6_ADDRSTRLEN];
        assert_non_null(inet_ntop(AF_INET6, a, buf, sizeof(buf)));
        assert_string_equal(buf, want);
}

/* What the bridge plugin returns for a dual-stack pod: the bridge, the host
 * veth, the pod's eth0 (in the sandbox), and one address of each family on
 * eth0. The host veth is deliberately named like the pod side too in
 * host_named_like_pod below. */
static const char bridge_result[] =
        "{\"cniVersion\":\"1.0.0\","
        "\"interfaces\":["
        "{\"name\":\"cni0\",\"mac\":\"0a:58:0a:2a:00:01\"},"
        "{\"name\":\"veth1a2b3c4d\",\"mac\":\"6e:1f:2d:3c:4b:5a\"},"
        "{\"name\":\"eth0\",\"mac\":\"0a:58:0a:2a:00:07\","
        "\"sandbox\":\"/var/run/netns/cni-0f1e2d3c\"}],"
        "\"ips\":["
        "{\"interface\":2,\"address\":\"10.42.0.7/24\",\"gateway\":\"10.42.0.1\"},"
        "{\"interface\":2,\"address\":\"fd00:42::7/64\",\"gateway\":\"fd00:42::1\"}],"
        "\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"::/0\"}],"
        "\"dns\":{}}";

/* ---- well-formed results ----------------------------------------------- */

static void bridge_dual_stack(void **state) {
        pod_addrs a;
        addrs_ok(bridge_result, "eth0", &a);
        assert_int_equal(a.n4, 1);
        assert_int_equal(a.n6, 1);
        assert_v4(&a.v4[0], "10.42.0.7");
        assert_v6(&a.v6[0], "fd00:42::7");

        _cleanup_json_ json_t *list = pod_addrs_to_json(&a);
        assert_true(json_is_array(list));
        assert_int_equal(json_array_size(list), 2);
        assert_string_equal(json_string_value(json_array_get(list, 0)), "10.42.0.7");
        assert_string_equal(json_string_value(json_array_get(list, 1)), "fd00:42::7");
}

/* 0.4.0 results carry "version" on each ip; it is ignored. */
static void version_040(void **state) {
        pod_addrs a;
        addrs_ok("{\"cniVersion\":\"0.4.0\","
                 "\"interfaces\":[{\"name\":\"cni0\"},{\"name\":\"vethx\"},"
                 "{\"name\":\"eth0\",\"sandbox\":\"/proc/1/ns/net\"}],"
                 "\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.1.2.3/16\","
                 "\"gateway\":\"10.1.0.1\"}]}",
                 "eth0", &a);
        assert_int_equal(a.n4, 1);
        assert_int_equal(a.n6, 0);
        assert_v4(&a.v4[0], "10.1.2.3");
}

/* The primary plugin may not say which interface an address is on. */
static void ips_without_interface(void **state) {
        pod_addrs a;
        addrs_ok("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"192.168.1.5/32\"},"
                 "{\"address\":\"2001:db8::5/128\"},{\"address\":\"192.168.1.6/0\"}]}",
                 "eth0", &a);
        assert_int_equal(a.n4, 2);
        assert_int_equal(a.n6, 1);
        assert_v4(&a.v4[0], "192.168.1.5");
        assert_v4(&a.v4[1], "192.168.1.6");
        assert_v6(&a.v6[0], "2001:db8::5");

        /* Mixed: indexed addresses of another interface are skipped, unindexed kept. */
        addrs_ok("{\"interfaces\":[{\"name\":\"net1\",\"sandbox\":\"/x\"}],"
                 "\"ips\":[{\"interface\":0,\"address\":\"10.9.9.9/24\"},"
                 "{\"address\":\"10.0.0.9/24\",\"interface\":null}]}",
                 "eth0", &a);
        assert_int_equal(a.n4, 1);
        assert_int_equal(a.n6, 0);
        assert_v4(&a.v4[0], "10.0.0.9");
}

/* The host side carrying the pod's ifname (no sandbox) is not the pod's. */
static void host_named_like_pod(void **state) {
        pod_addrs a;
        addrs_ok("{\"interfaces\":["
                 "{\"name\":\"eth0\",\"mac\":\"aa:aa:aa:aa:aa:aa\"},"
                 "{\"name\":\"eth0\",\"mac\":\"bb:bb:bb:bb:bb:bb\",\"sandbox\":\"\"},"
                 "{\"name\":\"eth0\",\"mac\":\"cc:cc:cc:cc:cc:cc\",\"sandbox\":\"/run/netns/p\"}],"
                 "\"ips\":[{\"interface\":0,\"address\":\"172.16.0.1/16\"},"
                 "{\"interface\":1,\"address\":\"172.16.0.2/16\"},"
                 "{\"interface\":2,\"address\":\"172.16.0.3/16\"},"
                 "{\"interface\":0,\"address\":\"fe80::1/64\"}]}",
                 "eth0", &a);
        assert_int_equal(a.n4, 1);
        assert_int_equal(a.n6, 0);
        assert_v4(&a.v4[0], "172.16.0.3");
}

/* Another ifname: the pod's second interface, from a multi-interface result. */
static void other_ifname(void **state) {
        pod_addrs a;
        addrs_ok("{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/n\"},"
                 "{\"name\":\"net1\",\"sandbox\":\"/n\"}],"
                 "\"ips\":[{\"interface\":0,\"address\":\"10.0.0.1/24\"},"
                 "{\"interface\":1,\"address\":\"10.1.0.1/24\"},"
                 "{\"interface\":1,\"address\":\"fd01::1/64\"}]}",
                 "net1", &a);
        assert_int_equal(a.n4, 1);
        assert_int_equal(a.n6, 1);
        assert_v4(&a.v4[0], "10.1.0.1");
        assert_v6(&a.v6[0], "fd01::1");
}

static void limits_of_a_family(void **state) {
        /* Eight of each family are fine. */
        char doc[2048];
        size_t n = 0;
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{\"ips\":[");
        for (int i = 0; i < POD_ADDRS_MAX; i++)
                n += (size_t)snprintf(
                        doc + n, sizeof(doc) - n,
                        "{\"address\":\"10.0.0.%d/24\"},{\"address\":\"fd00::%d/64\"},", i + 1,
                        i + 1);
        assert_true(n < sizeof(doc) - 64);
        /* ...then one more v4 is too many. */
        char ok[2048];
        memcpy(ok, doc, n);
        ok[n - 1] = ']';
        ok[n] = '}';
        ok[n + 1] = '\0';
        pod_addrs a;
        addrs_ok(ok, "eth0", &a);
        assert_int_equal(a.n4, POD_ADDRS_MAX);
        assert_int_equal(a.n6, POD_ADDRS_MAX);
        assert_v4(&a.v4[7], "10.0.0.8");
        assert_v6(&a.v6[7], "fd00::8");

        (void)snprintf(doc + n, sizeof(doc) - n, "{\"address\":\"10.0.0.99/24\"}]}");
        assert_int_equal(addrs_fail(doc, "eth0", "more than 8 addresses of one family"), -E2BIG);
        (void)snprintf(doc + n, sizeof(doc) - n, "{\"address\":\"fd00::99/64\"}]}");
        assert_int_equal(addrs_fail(doc, "eth0", "more than 8 addresses of one family"), -E2BIG);
}

/* ---- malformed results ------------------------------------------------- */

static void interface_index_out_of_range(void **state) {
        addrs_fail("{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/n\"}],"
                   "\"ips\":[{\"interface\":1,\"address\":\"10.0.0.1/24\"}]}",
                   "eth0", "prevResult: ips[0].interface 1 names no entry of interfaces");
        addrs_fail("{\"ips\":[{\"interface\":0,\"address\":\"10.0.0.1/24\"}]}", "eth0",
                   "ips[0].interface 0 names no entry of interfaces");
        addrs_fail("{\"interfaces\":[],\"ips\":[{\"address\":\"10.0.0.2/24\"},"
                   "{\"interface\":5,\"address\":\"10.0.0.1/24\"}]}",
                   "eth0", "ips[1].interface 5 names no entry");
        /* Beyond any list we accept, negative, or not a number. */
        const char *bad[] = {"64", "-1", "1.0", "\"0\"", "true", "99999999999999999999"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char doc[256];
                (void)snprintf(doc, sizeof(doc),
                               "{\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/n\"}],"
                               "\"ips\":[{\"interface\":%s,\"address\":\"10.0.0.1/24\"}]}",
                               bad[i]);
                json_error_t jerr;
                _cleanup_json_ json_t *probe = json_loads(doc, 0, &jerr);
                if (!probe)
                        continue; /* jansson refuses the number itself */
                addrs_fail(doc, "eth0", "prevResult: field \"interface\" must be an integer");
        }
}

static void bad_addresses(void **state) {
        const char *bad[] = {
                "10.0.0.1",       /* no prefix */
                "10.0.0.1/",      /* empty prefix */
                "10.0.0.1/33",    /* v4 prefix too long */
                "10.0.0.1/-1",    /* negative */
                "10.0.0.1/+8",    /* sign */
                "10.0.0.1/ 8",    /* space */
                "10.0.0.1/1000",  /* four digits */
                "10.0.0.1/8/8",   /* two slashes */
                "fd00::1/129",    /* v6 prefix too long */
                "fd00::1",        /* no prefix */
                "garbage/24",     /* not an address */
                "10.0.0.256/24",  /* octet out of range */
                "10.0.0/24",      /* short */
                "/24",            /* no address */
                "",               /* empty */
                "fd00:::1/64",    /* bad v6 */
                " 10.0.0.1/24",   /* leading space */
                "10.0.0.1 /24",   /* space before slash */
                "fe80::1%eth0/64" /* zone */
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char doc[256], needle[128];
                (void)snprintf(doc, sizeof(doc),
                               "{\"ips\":[{\"address\":\"10.9.0.1/24\"},{\"address\":\"%s\"}]}",
                               bad[i]);
                (void)snprintf(needle, sizeof(needle),
                               "prevResult: ips[1].address \"%s\" is not an address/prefix",
                               bad[i]);
                addrs_fail(doc, "eth0", needle);
        }
        /* Upper bounds of the prefix are inclusive. */
        pod_addrs a;
        addrs_ok("{\"ips\":[{\"address\":\"10.0.0.1/32\"},{\"address\":\"::1/128\"},"
                 "{\"address\":\"::ffff:10.0.0.2/96\"}]}",
                 "eth0", &a);
        assert_int_equal(a.n4, 1);
        assert_int_equal(a.n6, 2);
        assert_v6(&a.v6[1], "::ffff:10.0.0.2");
        /* An address longer than any CIDR is refused by length. */
        addrs_fail("{\"ips\":[{\"address\":"
                   "\"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000/64\"}]}",
                   "eth0", "prevResult: field \"address\" is longer than 64 bytes");
        addrs_fail("{\"ips\":[{\"address\":"
                   "\"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000/64\"}]}",
                   "eth0", "is not an address/prefix");
}

static void bad_shapes(void **state) {
        addrs_fail("{\"ips\":{}}", "eth0", "prevResult: field \"ips\" must be a list");
        addrs_fail("{\"ips\":[],\"interfaces\":{}}", "eth0",
                   "prevResult: field \"interfaces\" must be a list");
        addrs_fail("{\"ips\":[{\"gateway\":\"10.0.0.1\"}]}", "eth0",
                   "prevResult: required field \"address\" is missing");
        addrs_fail("{\"ips\":[\"10.0.0.1/24\"]}", "eth0",
                   "prevResult: required field \"address\" is missing");
        addrs_fail("{\"ips\":[{\"address\":42}]}", "eth0",
                   "prevResult: field \"address\" must be a string");

        /* More list entries than any real result has. */
        char doc[4096];
        size_t n = (size_t)snprintf(doc, sizeof(doc), "{\"ips\":[");
        for (int i = 0; i < 65; i++)
                n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s{}", i ? "," : "");
        (void)snprintf(doc + n, sizeof(doc) - n, "]}");
        addrs_fail(doc, "eth0", "prevResult: field \"ips\" has more than 64 items");
}

static void no_addresses(void **state) {
        const char *docs[] = {
                "{}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":[]}",
                "{\"ips\":null}",
                /* Only the host side or another interface has addresses. */
                "{\"interfaces\":[{\"name\":\"eth0\"},{\"name\":\"net1\",\"sandbox\":\"/n\"}],"
                "\"ips\":[{\"interface\":0,\"address\":\"10.0.0.1/24\"},"
                "{\"interface\":1,\"address\":\"10.0.0.2/24\"}]}",
                /* Interface entries that are not objects or have no name. */
                "{\"interfaces\":[1,{\"sandbox\":\"/n\"},{\"name\":7,\"sandbox\":\"/n\"}],"
                "\"ips\":[{\"interface\":0,\"address\":\"10.0.0.1/24\"},"
                "{\"interface\":1,\"address\":\"10.0.0.2/24\"},"
                "{\"interface\":2,\"address\":\"10.0.0.3/24\"}]}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
                assert_int_equal(addrs_fail(docs[i], "eth0",
                                            "prevResult has no IP address for interface \"eth0\": "
                                            "selvedge-cni must follow a plugin that assigns "
                                            "addresses"),
                                 -EINVAL);

        /* The bridge result names nothing for another interface. */
        addrs_fail(bridge_result, "net1", "no IP address for interface \"net1\"");

        /* No prevResult at all reads as no addresses. */
        pod_addrs a = sentinel(), s0 = sentinel();
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(prevresult_pod_addrs(NULL, "eth0", &a, &err), -EINVAL);
        assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
        assert_memory_equal(&a, &s0, sizeof(a));
}

static void empty_to_json(void **state) {
        pod_addrs a = {0};
        _cleanup_json_ json_t *list = pod_addrs_to_json(&a);
        assert_true(json_is_array(list));
        assert_int_equal(json_array_size(list), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(bridge_dual_stack),
                cmocka_unit_test(version_040),
                cmocka_unit_test(ips_without_interface),
                cmocka_unit_test(host_named_like_pod),
                cmocka_unit_test(other_ifname),
                cmocka_unit_test(limits_of_a_family),
                cmocka_unit_test(interface_index_out_of_range),
                cmocka_unit_test(bad_addresses),
                cmocka_unit_test(bad_shapes),
                cmocka_unit_test(no_addresses),
                cmocka_unit_test(empty_to_json),
        };
        return cmocka_run_group_tests_name("cni/prevresult", tests, NULL, NULL);
}
