/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/macro.h"
#include "cni/netconf.h"

/* ---- helpers ----------------------------------------------------------- */

static void parse_ok(const char *s, netconf *c) {
        sv_error err = SV_ERROR_INIT;
        int r = netconf_parse(s, strlen(s), c, &err);
        if (r != 0)
                fail_msg("netconf_parse(%s): %d %s", s, r, err.message);
        assert_false(sv_error_is_set(&err));
        assert_non_null(c->root);
}

static netconf sentinel(void) {
        netconf c;
        memset(&c, 0x5a, sizeof(c));
        return c;
}

/* Parses s expecting failure with code and a message containing needle; the
 * output must be left alone. Returns the error number. */
static int parse_fails(const char *s, enum sv_code code, const char *needle) {
        netconf c = sentinel(), s0 = sentinel();
        sv_error err = SV_ERROR_INIT;
        int r = netconf_parse(s, strlen(s), &c, &err);
        if (r >= 0)
                fail_msg("accepted: %s", s);
        if (err.code != code)
                fail_msg("code %d, want %d (%s) for %s", err.code, code, err.message, s);
        if (!strstr(err.message, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
        assert_memory_equal(&c, &s0, sizeof(c));
        return r;
}

/* A config of version v with extra members (a JSON fragment, may be ""). */
static const char *conf(const char *v, const char *extra) {
        static char buf[4096];
        int w = snprintf(buf, sizeof(buf),
                         "{\"cniVersion\":\"%s\",\"name\":\"k8s-pod-network\","
                         "\"type\":\"selvedge-cni\"%s%s}",
                         v, *extra ? "," : "", extra);
        assert_true(w > 0 && (size_t)w < sizeof(buf));
        return buf;
}

/* ---- versions ---------------------------------------------------------- */

static void supported_versions(void **state) {
        const char *vs[] = {"0.4.0", "1.0.0", "1.1.0"};
        for (size_t i = 0; i < ARRAY_SIZE(vs); i++) {
                netconf c;
                parse_ok(conf(vs[i], ""), &c);
                assert_string_equal(c.cni_version, vs[i]);
                assert_string_equal(c.name, "k8s-pod-network");
                assert_true(cni_version_supported(vs[i]));
                netconf_done(&c);
                assert_null(c.root);
        }
        /* The list is NULL-terminated and holds exactly these. */
        size_t n = 0;
        while (cni_supported_versions[n])
                n++;
        assert_int_equal(n, 3);
        assert_string_equal(cni_supported_versions[0], "0.4.0");
        assert_string_equal(cni_supported_versions[1], "1.0.0");
        assert_string_equal(cni_supported_versions[2], "1.1.0");
}

static void defaults(void **state) {
        netconf c;
        parse_ok(conf("1.0.0", ""), &c);
        assert_null(c.prev_result);
        assert_int_equal(c.failure_policy, FAILURE_POLICY_FAIL);
        assert_string_equal(c.agent_socket, NETCONF_DEFAULT_AGENT_SOCKET);
        assert_string_equal(c.state_dir, NETCONF_DEFAULT_STATE_DIR);
        assert_null(c.log_file);
        assert_int_equal(c.log_level, SV_LOG_INFO);
        assert_int_equal(c.agent_timeout_ms, 2000);
        netconf_done(&c);
        netconf_done(&c); /* twice is harmless */
        netconf_done(NULL);
}

static void unsupported_versions(void **state) {
        const char *vs[] = {"0.3.1", "0.3.0",  "0.2.0",  "0.1.0", "1.2.0",   "2.0.0",
                            "1.0",   "1.0.0 ", "v1.0.0", "",      "garbage", "1.0.0-rc1"};
        for (size_t i = 0; i < ARRAY_SIZE(vs); i++) {
                char needle[64];
                (void)snprintf(needle, sizeof(needle), "incompatible CNI version \"%s\"", vs[i]);
                assert_int_equal(parse_fails(conf(vs[i], ""), SV_CODE_INCOMPATIBLE_VERSION, needle),
                                 -EINVAL);
                assert_false(cni_version_supported(vs[i]));
        }
        parse_fails("{\"name\":\"n\"}", SV_CODE_INCOMPATIBLE_VERSION, "has no cniVersion");
        parse_fails("{\"name\":\"n\",\"cniVersion\":null}", SV_CODE_INCOMPATIBLE_VERSION,
                    "has no cniVersion");
        /* Present but not a string is a config error naming the field. */
        parse_fails("{\"name\":\"n\",\"cniVersion\":1.0}", SV_CODE_INVALID_CONFIG,
                    "\"cniVersion\" must be a string");
}

static void version_cmp(void **state) {
        assert_int_equal(cni_version_cmp("1.0.0", "1.0.0"), 0);
        assert_true(cni_version_cmp("0.4.0", "1.0.0") < 0);
        assert_true(cni_version_cmp("1.0.0", "0.4.0") > 0);
        assert_true(cni_version_cmp("1.0.0", "1.1.0") < 0);
        assert_true(cni_version_cmp("1.1.0", "1.0.0") > 0);
        assert_true(cni_version_cmp("0.3.1", "0.4.0") < 0);
        assert_true(cni_version_cmp("1.1.1", "1.1.0") > 0);
        /* Numeric, not lexical. */
        assert_true(cni_version_cmp("0.10.0", "0.9.0") > 0);
        assert_true(cni_version_cmp("10.0.0", "9.9.9") > 0);
        /* Unparsable sorts lowest; two unparsable compare equal. */
        const char *bad[] = {"",
                             "1",
                             "1.0",
                             "1.0.0.0",
                             "a.b.c",
                             "1..0",
                             "1.0.",
                             ".1.0",
                             "01.0.0",
                             "1.0.0-rc1",
                             "-1.0.0",
                             "1001.0.0",
                             "1.0.0000000000000000000000000000000000000"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                if (cni_version_cmp(bad[i], "0.0.0") >= 0)
                        fail_msg("\"%s\" does not sort below 0.0.0", bad[i]);
                assert_true(cni_version_cmp("0.0.0", bad[i]) > 0);
                assert_int_equal(cni_version_cmp(bad[i], "garbage"), 0);
        }
        assert_int_equal(cni_version_cmp("1000.1000.1000", "1000.1000.1000"), 0);
}

/* ---- failurePolicy ----------------------------------------------------- */

static void failure_policy(void **state) {
        netconf c;
        parse_ok(conf("1.1.0", "\"failurePolicy\":\"Fail\""), &c);
        assert_int_equal(c.failure_policy, FAILURE_POLICY_FAIL);
        netconf_done(&c);
        parse_ok(conf("1.1.0", "\"failurePolicy\":\"Ignore\""), &c);
        assert_int_equal(c.failure_policy, FAILURE_POLICY_IGNORE);
        netconf_done(&c);
        parse_ok(conf("1.1.0", "\"failurePolicy\":null"), &c);
        assert_int_equal(c.failure_policy, FAILURE_POLICY_FAIL);
        netconf_done(&c);

        const char *bad[] = {"\"fail\"", "\"ignore\"", "\"\"", "\"Open\"", "\"Fail \""};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char extra[64];
                (void)snprintf(extra, sizeof(extra), "\"failurePolicy\":%s", bad[i]);
                parse_fails(conf("1.1.0", extra), SV_CODE_INVALID_CONFIG,
                            "\"failurePolicy\" must be \"Fail\" or \"Ignore\"");
        }
        parse_fails(conf("1.1.0", "\"failurePolicy\":true"), SV_CODE_INVALID_CONFIG,
                    "\"failurePolicy\" must be a string");
        parse_fails(conf("1.1.0", "\"failurePolicy\":\"IgnoreIgnoreIgnore\""),
                    SV_CODE_INVALID_CONFIG, "\"failurePolicy\" is longer than 16 bytes");
}

/* ---- paths ------------------------------------------------------------- */

static void paths(void **state) {
        netconf c;
        parse_ok(conf("1.0.0", "\"agentSocket\":\"/tmp/s/agent.sock\",\"stateDir\":\"/tmp/s\","
                               "\"logFile\":\"/var/log/selvedge-cni.log\""),
                 &c);
        assert_string_equal(c.agent_socket, "/tmp/s/agent.sock");
        assert_string_equal(c.state_dir, "/tmp/s");
        assert_string_equal(c.log_file, "/var/log/selvedge-cni.log");
        netconf_done(&c);

        const char *keys[] = {"agentSocket", "stateDir", "logFile"};
        const char *rel[] = {"relative/path", "./x", "", "~/x", "../x"};
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
                for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
                        char extra[128], needle[64];
                        (void)snprintf(extra, sizeof(extra), "\"%s\":\"%s\"", keys[k], rel[i]);
                        (void)snprintf(needle, sizeof(needle), "\"%s\" must be an absolute path",
                                       keys[k]);
                        parse_fails(conf("1.0.0", extra), SV_CODE_INVALID_CONFIG, needle);
                }
                char extra[64], needle[64];
                (void)snprintf(extra, sizeof(extra), "\"%s\":42", keys[k]);
                (void)snprintf(needle, sizeof(needle), "field \"%s\" must be a string", keys[k]);
                parse_fails(conf("1.0.0", extra), SV_CODE_INVALID_CONFIG, needle);
        }
}

static void paths_too_long(void **state) {
        /* 1024 bytes is the cap of every path. */
        char path[1100], extra[1200];
        path[0] = '/';
        memset(path + 1, 'd', 1023);
        path[1024] = '\0';
        netconf c;
        (void)snprintf(extra, sizeof(extra), "\"stateDir\":\"%s\"", path);
        parse_ok(conf("1.0.0", extra), &c);
        assert_int_equal(strlen(c.state_dir), 1024);
        netconf_done(&c);
        path[1024] = 'd';
        path[1025] = '\0';
        (void)snprintf(extra, sizeof(extra), "\"stateDir\":\"%s\"", path);
        parse_fails(conf("1.0.0", extra), SV_CODE_INVALID_CONFIG,
                    "field \"stateDir\" is longer than 1024 bytes");
}

/* A long relative path is quoted in part, never cut inside a character. */
static void relative_path_quoted_safely(void **state) {
        for (size_t lead = 0; lead < 3; lead++) {
                /* "é" (2 bytes) repeated, shifted by `lead` ASCII bytes so that
                 * byte 128 falls on each position within a character. */
                char path[700], extra[800];
                size_t n = 0;
                for (size_t i = 0; i < lead; i++)
                        path[n++] = 'x';
                while (n < 600) {
                        path[n++] = '\xc3';
                        path[n++] = '\xa9';
                }
                path[n] = '\0';
                (void)snprintf(extra, sizeof(extra), "\"stateDir\":\"%s\"", path);
                netconf c = sentinel();
                sv_error err = SV_ERROR_INIT;
                const char *doc = conf("1.0.0", extra);
                assert_int_equal(netconf_parse(doc, strlen(doc), &c, &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
                assert_non_null(strstr(err.message, "\"stateDir\" must be an absolute path, got"));
                assert_non_null(strstr(err.message, "...\""));
                assert_true(strlen(err.message) < 200);
                _cleanup_json_ json_t *valid = json_string(err.message);
                if (!valid)
                        fail_msg("message is not valid UTF-8 (lead %zu)", lead);
        }
        /* Short ones are quoted whole. */
        parse_fails(conf("1.0.0", "\"logFile\":\"log/\u00e9t\u00e9.log\""), SV_CODE_INVALID_CONFIG,
                    "\"logFile\" must be an absolute path, got \"log/\xc3\xa9t\xc3\xa9.log\"");
}

static void agent_socket_length(void **state) {
        /* sun_path: 107 bytes and a NUL fit, 108 do not. */
        char sock[200], extra[300];
        sock[0] = '/';
        memset(sock + 1, 's', 106);
        sock[107] = '\0';
        netconf c;
        (void)snprintf(extra, sizeof(extra), "\"agentSocket\":\"%s\"", sock);
        parse_ok(conf("1.0.0", extra), &c);
        assert_int_equal(strlen(c.agent_socket), 107);
        netconf_done(&c);

        sock[107] = 's';
        sock[108] = '\0';
        (void)snprintf(extra, sizeof(extra), "\"agentSocket\":\"%s\"", sock);
        parse_fails(conf("1.0.0", extra), SV_CODE_INVALID_CONFIG,
                    "\"agentSocket\" is longer than 107 bytes");
}

/* ---- logLevel, agentTimeoutMs ------------------------------------------ */

static void log_level(void **state) {
        const struct {
                const char *s;
                enum sv_log_level level;
        } ok[] = {{"debug", SV_LOG_DEBUG},
                  {"info", SV_LOG_INFO},
                  {"warn", SV_LOG_WARN},
                  {"error", SV_LOG_ERROR}};
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                char extra[64];
                (void)snprintf(extra, sizeof(extra), "\"logLevel\":\"%s\"", ok[i].s);
                netconf c;
                parse_ok(conf("0.4.0", extra), &c);
                assert_int_equal(c.log_level, ok[i].level);
                netconf_done(&c);
        }
        const char *bad[] = {"DEBUG", "warning", "trace", ""};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char extra[64];
                (void)snprintf(extra, sizeof(extra), "\"logLevel\":\"%s\"", bad[i]);
                parse_fails(conf("0.4.0", extra), SV_CODE_INVALID_CONFIG,
                            "\"logLevel\" must be debug, info, warn or error");
        }
        parse_fails(conf("0.4.0", "\"logLevel\":3"), SV_CODE_INVALID_CONFIG,
                    "\"logLevel\" must be a string");
}

static void agent_timeout(void **state) {
        const struct {
                const char *v;
                int ms;
        } ok[] = {{"1", 1}, {"2000", 2000}, {"30000", 30000}, {"null", 2000}};
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                char extra[64];
                (void)snprintf(extra, sizeof(extra), "\"agentTimeoutMs\":%s", ok[i].v);
                netconf c;
                parse_ok(conf("1.1.0", extra), &c);
                assert_int_equal(c.agent_timeout_ms, ok[i].ms);
                netconf_done(&c);
        }
        parse_fails(conf("1.1.0", "\"agentTimeoutMs\":0"), SV_CODE_INVALID_CONFIG,
                    "\"agentTimeoutMs\" must be from 1 to 30000");
        const char *bad[] = {"30001", "-1", "1.5", "\"100\"", "true", "9223372036854775807", "[]"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char extra[64];
                (void)snprintf(extra, sizeof(extra), "\"agentTimeoutMs\":%s", bad[i]);
                parse_fails(conf("1.1.0", extra), SV_CODE_INVALID_CONFIG,
                            "field \"agentTimeoutMs\" must be an integer from 0 to 30000");
        }
}

/* ---- the document ------------------------------------------------------ */

static void not_an_object(void **state) {
        const char *docs[] = {
                "[]", "[{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}]", "\"x\"", "42", "null", "true"};
        for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
                parse_fails(docs[i], SV_CODE_DECODE, "network configuration must be a JSON object");
}

static void not_json(void **state) {
        const char *docs[] = {"",
                              "{",
                              "{\"cniVersion\":\"1.0.0\",}",
                              "cniVersion: 1.0.0",
                              "{\"cniVersion\":\"1.0.0\",\"name\":\"n\"} {}",
                              "{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}}"};
        for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
                parse_fails(docs[i], SV_CODE_DECODE, "network configuration: invalid JSON");
        /* Duplicate keys are ambiguous and refused. */
        parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"name\":\"b\"}", SV_CODE_DECODE,
                    "network configuration: invalid JSON");
        parse_fails("{\"cniVersion\":\"1.0.0\",\"cniVersion\":\"1.0.0\",\"name\":\"a\"}",
                    SV_CODE_DECODE, "duplicate");
}

/* jansson quotes the input near a syntax error and can end its quote in the
 * middle of a character; the message must still be valid UTF-8. */
static void decode_error_is_utf8(void **state) {
        const char *docs[] = {
                "{\"cniVersion\":\"1.0.0\",\"name\":\"x\\\xc3\xa9\"}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"\xc3\xa9\xc3\xa9\\\xe2\x82\xac\"}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"\xff\"}",
                "{\"\xc3\xa9\xc3\xa9\":\xc3\xa9}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
                netconf c = sentinel();
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(netconf_parse(docs[i], strlen(docs[i]), &c, &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_DECODE);
                assert_non_null(
                        strstr(err.message, "network configuration: invalid JSON at line 1"));
                _cleanup_json_ json_t *valid = json_string(err.message);
                if (!valid)
                        fail_msg("message is not valid UTF-8: %s", err.message);
        }
}

static void too_big(void **state) {
        netconf c = sentinel(), s0 = sentinel();
        sv_error err = SV_ERROR_INIT;
        static char big[NETCONF_MAX_BYTES + 1];
        memset(big, ' ', sizeof(big));
        const char *doc = conf("1.0.0", "");
        memcpy(big, doc, strlen(doc));
        assert_int_equal(netconf_parse(big, sizeof(big), &c, &err), -EFBIG);
        assert_int_equal(err.code, SV_CODE_DECODE);
        assert_non_null(strstr(err.message, "exceeds the limit"));
        assert_memory_equal(&c, &s0, sizeof(c));

        /* Exactly at the limit is fine (trailing whitespace is allowed). */
        netconf d;
        sv_error err2 = SV_ERROR_INIT;
        assert_int_equal(netconf_parse(big, NETCONF_MAX_BYTES, &d, &err2), 0);
        netconf_done(&d);
}

static void name_required(void **state) {
        parse_fails("{\"cniVersion\":\"1.0.0\"}", SV_CODE_INVALID_CONFIG,
                    "required field \"name\" is missing");
        parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":null}", SV_CODE_INVALID_CONFIG,
                    "required field \"name\" is missing");
        parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":7}", SV_CODE_INVALID_CONFIG,
                    "field \"name\" must be a string");
        parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"a\\u0000b\"}", SV_CODE_DECODE,
                    "invalid JSON");
}

static void prev_result(void **state) {
        netconf c;
        parse_ok(conf("1.0.0", "\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[]}"), &c);
        assert_non_null(c.prev_result);
        assert_true(json_is_object(c.prev_result));
        assert_true(json_is_array(json_object_get(c.prev_result, "ips")));
        netconf_done(&c);
        parse_ok(conf("1.0.0", "\"prevResult\":null"), &c);
        assert_null(c.prev_result);
        netconf_done(&c);

        const char *bad[] = {"[]", "\"x\"", "1", "true"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char extra[64];
                (void)snprintf(extra, sizeof(extra), "\"prevResult\":%s", bad[i]);
                parse_fails(conf("1.0.0", extra), SV_CODE_INVALID_CONFIG,
                            "field \"prevResult\" must be an object");
        }
}

/* Unknown members, runtimeConfig, args and cni.dev/ keys pass through. */
static void unknown_fields_pass(void **state) {
        netconf c;
        parse_ok(conf("1.1.0", "\"runtimeConfig\":{\"portMappings\":[]},\"args\":{\"cni\":{}},"
                               "\"cni.dev/valid-attachments\":[{\"containerID\":\"a\","
                               "\"ifname\":\"eth0\"}],\"somethingElse\":[1,2,3]"),
                 &c);
        assert_true(json_is_array(json_object_get(c.root, "cni.dev/valid-attachments")));
        netconf_done(&c);
}

/* A full 1.0.0 config as a runtime sends it, all fields set. */
static void full_config(void **state) {
        static const char doc[] =
                "{\n"
                "  \"cniVersion\": \"1.0.0\",\n"
                "  \"name\": \"cbr0\",\n"
                "  \"type\": \"selvedge-cni\",\n"
                "  \"failurePolicy\": \"Ignore\",\n"
                "  \"agentSocket\": \"/run/selvedge/agent.sock\",\n"
                "  \"stateDir\": \"/var/lib/selvedge/cni\",\n"
                "  \"logFile\": \"/var/log/selvedge-cni.log\",\n"
                "  \"logLevel\": \"debug\",\n"
                "  \"agentTimeoutMs\": 500,\n"
                "  \"prevResult\": {\n"
                "    \"cniVersion\": \"1.0.0\",\n"
                "    \"interfaces\": [{\"name\": \"eth0\", \"sandbox\": \"/var/run/netns/x\"}],\n"
                "    \"ips\": [{\"address\": \"10.42.0.7/24\", \"interface\": 0}]\n"
                "  }\n"
                "}\n";
        netconf c;
        parse_ok(doc, &c);
        assert_string_equal(c.cni_version, "1.0.0");
        assert_string_equal(c.name, "cbr0");
        assert_int_equal(c.failure_policy, FAILURE_POLICY_IGNORE);
        assert_string_equal(c.agent_socket, "/run/selvedge/agent.sock");
        assert_string_equal(c.state_dir, "/var/lib/selvedge/cni");
        assert_string_equal(c.log_file, "/var/log/selvedge-cni.log");
        assert_int_equal(c.log_level, SV_LOG_DEBUG);
        assert_int_equal(c.agent_timeout_ms, 500);
        assert_non_null(c.prev_result);
        netconf_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(supported_versions),
                cmocka_unit_test(defaults),
                cmocka_unit_test(unsupported_versions),
                cmocka_unit_test(version_cmp),
                cmocka_unit_test(failure_policy),
                cmocka_unit_test(paths),
                cmocka_unit_test(paths_too_long),
                cmocka_unit_test(relative_path_quoted_safely),
                cmocka_unit_test(agent_socket_length),
                cmocka_unit_test(log_level),
                cmocka_unit_test(agent_timeout),
                cmocka_unit_test(not_an_object),
                cmocka_unit_test(not_json),
                cmocka_unit_test(decode_error_is_utf8),
                cmocka_unit_test(too_big),
                cmocka_unit_test(name_required),
                cmocka_unit_test(prev_result),
                cmocka_unit_test(unknown_fields_pass),
                cmocka_unit_test(full_config),
        };
        return cmocka_run_group_tests_name("cni/netconf", tests, NULL, NULL);
}
