/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/macro.h"
#include "cni/conflist.h"

/* As k3s writes it for flannel: the delegate, then portmap and bandwidth. */
static const char flannel[] =
        "{\n"
        "  \"name\": \"cbr0\",\n"
        "  \"cniVersion\": \"1.0.0\",\n"
        "  \"plugins\": [\n"
        "    {\"type\": \"flannel\", \"delegate\": {\"hairpinMode\": true, "
        "\"forceAddress\": true, \"isDefaultGateway\": true}},\n"
        "    {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}},\n"
        "    {\"type\": \"bandwidth\", \"capabilities\": {\"bandwidth\": true}}\n"
        "  ]\n"
        "}\n";

static const sv_cni_entry defaults = {
        .failure_policy = "Fail",
        .agent_socket = "/run/selvedge/agent.sock",
        .state_dir = "/var/lib/selvedge/cni",
};

static json_t *parse_list(const char *s) {
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_conflist_parse(s, strlen(s), &j, &err), 0);
        assert_false(sv_error_is_set(&err));
        return j;
}

static json_t *plugins(json_t *list) {
        json_t *p = json_object_get(list, "plugins");
        assert_true(json_is_array(p));
        return p;
}

static size_t count_ours(json_t *list) {
        size_t n = 0, i;
        json_t *p;
        json_array_foreach (plugins(list), i, p) {
                const char *t = json_string_value(json_object_get(p, "type"));
                n += t && strcmp(t, SV_CNI_TYPE) == 0;
        }
        return n;
}

static json_t *last(json_t *list) {
        json_t *p = plugins(list);
        return json_array_get(p, json_array_size(p) - 1);
}

static void add_to_flannel(void **state) {
        _cleanup_json_ json_t *list = parse_list(flannel);
        _cleanup_json_ json_t *orig = parse_list(flannel);
        sv_error err = SV_ERROR_INIT;

        assert_int_equal(sv_conflist_find_entry(list), -ENOENT);
        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 1);
        assert_int_equal(json_array_size(plugins(list)), 4);
        assert_int_equal(count_ours(list), 1);
        assert_int_equal(sv_conflist_find_entry(list), 3);

        json_t *e = last(list);
        assert_string_equal(json_string_value(json_object_get(e, "type")), "selvedge-cni");
        assert_string_equal(json_string_value(json_object_get(e, "failurePolicy")), "Fail");
        assert_string_equal(json_string_value(json_object_get(e, "agentSocket")),
                            "/run/selvedge/agent.sock");
        assert_string_equal(json_string_value(json_object_get(e, "stateDir")),
                            "/var/lib/selvedge/cni");
        for (size_t i = 0; i < 3; i++)
                assert_true(json_equal(json_array_get(plugins(list), i),
                                       json_array_get(plugins(orig), i)));

        /* Member order is kept: "name" stays before "cniVersion" as written. */
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        assert_int_equal(sv_conflist_dump(list, &out, &len), 0);
        assert_int_equal(strlen(out), len);
        assert_true(strncmp(out, "{\n  \"name\": \"cbr0\",\n  \"cniVersion\"", 33) == 0);
        assert_int_equal(out[len - 1], '\n');
        assert_true(strstr(out, "\"hairpinMode\": true") < strstr(out, "\"forceAddress\""));
}

static void second_add_is_a_no_op(void **state) {
        _cleanup_json_ json_t *list = parse_list(flannel);
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 1);
        _cleanup_json_ json_t *after_first = json_deep_copy(list);
        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 0);
        assert_true(json_equal(list, after_first));
        assert_int_equal(count_ours(list), 1);

        /* Also across a dump and reparse, which is what a second install sees. */
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        assert_int_equal(sv_conflist_dump(list, &out, &len), 0);
        _cleanup_json_ json_t *again = parse_list(out);
        assert_int_equal(sv_conflist_set_entry(again, &defaults, &err), 0);
}

static void changed_options_update_in_place(void **state) {
        _cleanup_json_ json_t *list = parse_list(flannel);
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 1);

        sv_cni_entry e = defaults;
        e.failure_policy = "Ignore";
        e.state_dir = "/var/lib/selvedge/cni2";
        assert_int_equal(sv_conflist_set_entry(list, &e, &err), 1);
        assert_int_equal(json_array_size(plugins(list)), 4);
        assert_int_equal(count_ours(list), 1);
        assert_string_equal(json_string_value(json_object_get(last(list), "failurePolicy")),
                            "Ignore");
        assert_string_equal(json_string_value(json_object_get(last(list), "stateDir")),
                            "/var/lib/selvedge/cni2");
        assert_int_equal(sv_conflist_set_entry(list, &e, &err), 0);
}

static void entry_stays_last_and_single(void **state) {
        /* Someone appended after us, and a stale copy sits in the middle. */
        _cleanup_json_ json_t *list =
                parse_list("{\"cniVersion\":\"1.0.0\",\"name\":\"cbr0\",\"plugins\":["
                           "{\"type\":\"flannel\"},"
                           "{\"type\":\"selvedge-cni\",\"failurePolicy\":\"Fail\","
                           "\"agentSocket\":\"/run/selvedge/agent.sock\",\"stateDir\":\"/var/lib/"
                           "selvedge/cni\"},"
                           "{\"type\":\"portmap\"},"
                           "{\"type\":\"selvedge-cni\",\"failurePolicy\":\"Ignore\","
                           "\"agentSocket\":\"/old\",\"stateDir\":\"/old\"},"
                           "{\"type\":\"bandwidth\"}]}");
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 1);
        assert_int_equal(json_array_size(plugins(list)), 4);
        assert_int_equal(count_ours(list), 1);
        assert_int_equal(sv_conflist_find_entry(list), 3);
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(plugins(list), 2), "type")),
                "bandwidth");
        assert_string_equal(json_string_value(json_object_get(last(list), "agentSocket")),
                            "/run/selvedge/agent.sock");

        /* Last but not alone (two copies): still a change. */
        _cleanup_json_ json_t *twice =
                parse_list("{\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"},"
                           "{\"type\":\"selvedge-cni\",\"failurePolicy\":\"Fail\","
                           "\"agentSocket\":\"/run/selvedge/agent.sock\",\"stateDir\":\"/var/lib/"
                           "selvedge/cni\"},"
                           "{\"type\":\"selvedge-cni\",\"failurePolicy\":\"Fail\","
                           "\"agentSocket\":\"/run/selvedge/agent.sock\",\"stateDir\":\"/var/lib/"
                           "selvedge/cni\"}"
                           "]}");
        assert_int_equal(sv_conflist_set_entry(twice, &defaults, &err), 1);
        assert_int_equal(json_array_size(plugins(twice)), 2);
}

static void conf_becomes_conflist(void **state) {
        const char *s = "{\"cniVersion\":\"0.4.0\",\"name\":\"mynet\",\"type\":\"bridge\","
                        "\"bridge\":\"cni0\",\"isGateway\":true,\"ipMasq\":true,"
                        "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.22.0.0/16\"}}";
        _cleanup_json_ json_t *conf = NULL, *list = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_cni_conf_parse(s, strlen(s), &conf, &err), 0);
        assert_int_equal(sv_conflist_from_conf(conf, &list, &err), 0);

        assert_string_equal(json_string_value(json_object_get(list, "cniVersion")), "0.4.0");
        assert_string_equal(json_string_value(json_object_get(list, "name")), "mynet");
        assert_int_equal(json_array_size(plugins(list)), 1);
        json_t *p = json_array_get(plugins(list), 0);
        assert_null(json_object_get(p, "cniVersion"));
        assert_null(json_object_get(p, "name"));
        assert_string_equal(json_string_value(json_object_get(p, "type")), "bridge");
        assert_true(json_equal(json_object_get(p, "ipam"), json_object_get(conf, "ipam")));
        assert_int_equal(json_object_size(p), json_object_size(conf) - 2);
        /* The source is not modified. */
        assert_non_null(json_object_get(conf, "name"));

        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 1);
        assert_int_equal(sv_conflist_find_entry(list), 1);

        char *name = NULL;
        assert_int_equal(sv_cni_conflist_name_for("10-bridge.conf", &name), 0);
        assert_string_equal(name, "10-bridge.conflist");
        free(name);
        assert_int_equal(sv_cni_conflist_name_for("99-loop.json", &name), 0);
        assert_string_equal(name, "99-loop.conflist");
        free(name);
        assert_int_equal(sv_cni_conflist_name_for("10-flannel.conflist", &name), -EINVAL);
}

static void remove_restores(void **state) {
        _cleanup_json_ json_t *list = parse_list(flannel);
        _cleanup_json_ json_t *orig = parse_list(flannel);
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_conflist_set_entry(list, &defaults, &err), 1);
        assert_int_equal(sv_conflist_remove_entry(list), 1);
        assert_true(json_equal(list, orig));
        assert_int_equal(sv_conflist_remove_entry(list), 0);
        assert_int_equal(sv_conflist_find_entry(list), -ENOENT);
}

static void malformed_is_refused(void **state) {
        const struct {
                const char *in;
                enum sv_code code;
                const char *msg;
        } cases[] = {
                {"{\"name\":\"x\",\"plugins\":[", SV_CODE_DECODE, "invalid JSON"},
                {"not json", SV_CODE_DECODE, "invalid JSON"},
                {"[]", SV_CODE_INVALID_CONFIG, "must be a JSON object"},
                {"{\"name\":\"x\",\"plugins\":{\"type\":\"bridge\"}}", SV_CODE_INVALID_CONFIG,
                 "field \"plugins\" must be a list"},
                {"{\"name\":\"x\"}", SV_CODE_INVALID_CONFIG, "required field \"plugins\""},
                {"{\"name\":\"x\",\"plugins\":[]}", SV_CODE_INVALID_CONFIG, "empty list"},
                {"{\"name\":\"x\",\"plugins\":[{\"type\":\"bridge\"},{\"mtu\":1400}]}",
                 SV_CODE_INVALID_CONFIG, "plugin 1 in \"plugins\": required field \"type\""},
                {"{\"name\":\"x\",\"plugins\":[{\"type\":\"\"}]}", SV_CODE_INVALID_CONFIG,
                 "field \"type\" is empty"},
                {"{\"name\":\"x\",\"plugins\":[\"bridge\"]}", SV_CODE_INVALID_CONFIG,
                 "plugin 0 in \"plugins\" is not an object"},
                {"{\"plugins\":[{\"type\":\"bridge\"}]}", SV_CODE_INVALID_CONFIG,
                 "required field \"name\""},
                {"{\"name\":\"x\",\"name\":\"y\",\"plugins\":[{\"type\":\"b\"}]}", SV_CODE_DECODE,
                 "duplicate"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                json_t *j = (json_t *)0x1;
                sv_error err = SV_ERROR_INIT;
                int r = sv_conflist_parse(cases[i].in, strlen(cases[i].in), &j, &err);
                assert_true(r < 0);
                assert_ptr_equal(j, (json_t *)0x1);
                assert_int_equal(err.code, cases[i].code);
                if (!strstr(err.message, cases[i].msg))
                        fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].msg, err.message);
        }

        /* A single-plugin conf needs a type too. */
        json_t *j = NULL;
        sv_error err = SV_ERROR_INIT;
        const char *conf = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"bridge\":\"cni0\"}";
        assert_int_equal(sv_cni_conf_parse(conf, strlen(conf), &j, &err), -ENOENT);
        assert_non_null(strstr(err.message, "\"type\""));

        /* Oversized input is refused before parsing. */
        size_t big = SV_CNI_CONFIG_MAX_BYTES + 1;
        _cleanup_free_ char *buf = malloc(big);
        assert_non_null(buf);
        memset(buf, ' ', big);
        sv_error_clear(&err);
        assert_int_equal(sv_conflist_parse(buf, big, &j, &err), -EFBIG);
}

static void bad_options_are_refused(void **state) {
        _cleanup_json_ json_t *list = parse_list(flannel);
        sv_error err = SV_ERROR_INIT;
        sv_cni_entry e = defaults;
        e.failure_policy = "Maybe";
        assert_int_equal(sv_conflist_set_entry(list, &e, &err), -EINVAL);
        assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
        assert_non_null(strstr(err.message, "Fail or Ignore"));
        assert_int_equal(json_array_size(plugins(list)), 3); /* untouched */

        sv_error_clear(&err);
        e = defaults;
        e.agent_socket = "run/agent.sock";
        assert_int_equal(sv_cni_entry_validate(&e, &err), -EINVAL);
        assert_non_null(strstr(err.message, "absolute"));
}

static void primary_is_first_in_byte_order(void **state) {
        const char *names[] = {"99-loopback.conf",    "10-flannel.conflist",
                               ".10-hidden.conflist", "10-flannel.conflist.tmp.Ab12Cd",
                               "05-cilium.conf.bak",  "README",
                               "10-Bridge.json",      "10-flannel.conflist~"};
        /* 'B' (0x42) sorts before 'f' (0x66), as in Go's sort.Strings. */
        assert_int_equal(sv_cni_pick_primary(names, ARRAY_SIZE(names)), 6);
        assert_int_equal(sv_cni_pick_primary(names, 2), 1);
        assert_int_equal(sv_cni_pick_primary(names + 2, 4), -ENOENT);
        assert_int_equal(sv_cni_pick_primary(names, 0), -ENOENT);

        assert_true(sv_cni_is_config_name("00-a.json"));
        assert_false(sv_cni_is_config_name(".conflist"));
        assert_true(sv_cni_is_conflist_name("10-calico.conflist"));
        assert_false(sv_cni_is_conflist_name("10-bridge.conf"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(add_to_flannel),
                cmocka_unit_test(second_add_is_a_no_op),
                cmocka_unit_test(changed_options_update_in_place),
                cmocka_unit_test(entry_stays_last_and_single),
                cmocka_unit_test(conf_becomes_conflist),
                cmocka_unit_test(remove_restores),
                cmocka_unit_test(malformed_is_refused),
                cmocka_unit_test(bad_options_are_refused),
                cmocka_unit_test(primary_is_first_in_byte_order),
        };
        return cmocka_run_group_tests_name("cni/conflist", tests, NULL, NULL);
}
