/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/macro.h"
#include "cni/env.h"
#include "json/json.h"

/* ---- a fake environment ------------------------------------------------ */

#define FAKE_ENV_MAX 16

static struct {
        const char *key;
        const char *value;
} fake_env[FAKE_ENV_MAX];

static int reset_env(void **state) {
        memset(fake_env, 0, sizeof(fake_env));
        return 0;
}

static void set_env(const char *key, const char *value) {
        for (size_t i = 0; i < FAKE_ENV_MAX; i++)
                if (!fake_env[i].key || strcmp(fake_env[i].key, key) == 0) {
                        fake_env[i].key = key;
                        fake_env[i].value = value;
                        return;
                }
        fail_msg("fake environment full");
}

static void unset_env(const char *key) {
        for (size_t i = 0; i < FAKE_ENV_MAX; i++)
                if (fake_env[i].key && strcmp(fake_env[i].key, key) == 0)
                        fake_env[i].value = NULL;
}

static char *fake_getenv(const char *key) {
        for (size_t i = 0; i < FAKE_ENV_MAX && fake_env[i].key; i++)
                if (strcmp(fake_env[i].key, key) == 0)
                        return (char *)fake_env[i].value;
        return NULL;
}

/* A complete ADD environment as a Kubernetes runtime sends it. */
static void set_add_env(void) {
        set_env("CNI_COMMAND", "ADD");
        set_env("CNI_CONTAINERID", "0123456789abcdef");
        set_env("CNI_NETNS", "/var/run/netns/cni-1234");
        set_env("CNI_IFNAME", "eth0");
        set_env("CNI_PATH", "/opt/cni/bin");
        set_env("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;"
                            "K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef;K8S_POD_UID=5f1c-42");
}

/* The sentinel that must survive a failed call. */
static cni_env sentinel(void) {
        cni_env e;
        memset(&e, 0x5a, sizeof(e));
        return e;
}

static void assert_untouched(const cni_env *e) {
        cni_env s = sentinel();
        assert_memory_equal(e, &s, sizeof(s));
}

/* Reads the fake env expecting failure with SV_CODE_INVALID_ENV and a message
 * containing `needle`; the output must be left alone. */
static void expect_env_error(const char *needle) {
        cni_env e = sentinel();
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(cni_env_read(fake_getenv, &e, &err), -EINVAL);
        assert_int_equal(err.code, SV_CODE_INVALID_ENV);
        if (!strstr(err.message, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
        assert_untouched(&e);
}

static void expect_env_ok(cni_env *e) {
        sv_error err = SV_ERROR_INIT;
        int r = cni_env_read(fake_getenv, e, &err);
        if (r != 0)
                fail_msg("cni_env_read: %d %s", r, err.message);
        assert_false(sv_error_is_set(&err));
}

/* ---- verbs and required variables -------------------------------------- */

static void add_full(void **state) {
        set_add_env();
        cni_env e;
        expect_env_ok(&e);
        assert_int_equal(e.verb, VERB_ADD);
        assert_string_equal(e.command, "ADD");
        assert_string_equal(e.container_id, "0123456789abcdef");
        assert_string_equal(e.netns, "/var/run/netns/cni-1234");
        assert_string_equal(e.ifname, "eth0");
        assert_string_equal(e.pod_namespace, "prod");
        assert_string_equal(e.pod_name, "web-0");
        assert_string_equal(e.pod_uid, "5f1c-42");
}

static void add_without_args(void **state) {
        set_add_env();
        unset_env("CNI_ARGS");
        unset_env("CNI_PATH");
        cni_env e;
        expect_env_ok(&e);
        assert_string_equal(e.pod_namespace, "");
        assert_string_equal(e.pod_name, "");
        assert_string_equal(e.pod_uid, "");
        set_env("CNI_ARGS", "");
        expect_env_ok(&e);
        assert_string_equal(e.pod_name, "");
}

static void command_missing_or_unknown(void **state) {
        set_add_env();
        unset_env("CNI_COMMAND");
        expect_env_error("CNI_COMMAND is not set");
        set_env("CNI_COMMAND", "");
        expect_env_error("CNI_COMMAND is not set");
        set_env("CNI_COMMAND", "add");
        expect_env_error("unknown CNI_COMMAND \"add\"");
        set_env("CNI_COMMAND", "DELETE");
        expect_env_error("unknown CNI_COMMAND");
        set_env("CNI_COMMAND", "ADD ");
        expect_env_error("unknown CNI_COMMAND");
}

static void add_and_check_require_everything(void **state) {
        const char *verbs[] = {"ADD", "CHECK"};
        for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
                reset_env(NULL);
                set_add_env();
                set_env("CNI_COMMAND", verbs[i]);
                cni_env e;
                expect_env_ok(&e);
                assert_int_equal(e.verb, i == 0 ? VERB_ADD : VERB_CHECK);

                unset_env("CNI_CONTAINERID");
                expect_env_error("CNI_CONTAINERID is not set");
                set_env("CNI_CONTAINERID", "abc");
                unset_env("CNI_IFNAME");
                expect_env_error("CNI_IFNAME is not set");
                set_env("CNI_IFNAME", "eth0");
                unset_env("CNI_NETNS");
                expect_env_error("CNI_NETNS is not set");
                set_env("CNI_NETNS", "");
                expect_env_error("CNI_NETNS is not set");
                set_env("CNI_NETNS", "var/run/netns/x");
                expect_env_error("CNI_NETNS must be an absolute path");
                set_env("CNI_NETNS", "/proc/1/ns/net");
                expect_env_ok(&e);
        }
}

static void netns_too_long(void **state) {
        set_add_env();
        char ns[1100];
        ns[0] = '/';
        memset(ns + 1, 'n', 1024);
        ns[1025] = '\0'; /* 1025 bytes */
        set_env("CNI_NETNS", ns);
        expect_env_error("CNI_NETNS must be an absolute path of at most 1024 bytes");
        ns[1024] = '\0'; /* exactly 1024 */
        cni_env e;
        expect_env_ok(&e);
        assert_int_equal(strlen(e.netns), 1024);
}

static void del_netns_optional(void **state) {
        set_add_env();
        set_env("CNI_COMMAND", "DEL");
        unset_env("CNI_NETNS");
        cni_env e = sentinel();
        expect_env_ok(&e);
        assert_int_equal(e.verb, VERB_DEL);
        assert_null(e.netns);
        assert_string_equal(e.container_id, "0123456789abcdef");
        assert_string_equal(e.ifname, "eth0");
        assert_string_equal(e.pod_name, "web-0");

        /* An empty CNI_NETNS is the same as none. */
        set_env("CNI_NETNS", "");
        expect_env_ok(&e);
        assert_null(e.netns);

        /* Given, it must still be absolute. */
        set_env("CNI_NETNS", "netns");
        expect_env_error("absolute path");

        /* DEL still needs the container id and the ifname. */
        unset_env("CNI_NETNS");
        unset_env("CNI_CONTAINERID");
        expect_env_error("CNI_CONTAINERID is not set");
        set_env("CNI_CONTAINERID", "abc");
        unset_env("CNI_IFNAME");
        expect_env_error("CNI_IFNAME is not set");
}

static void status_gc_version_need_nothing(void **state) {
        const struct {
                const char *name;
                enum cni_verb verb;
        } verbs[] = {{"STATUS", VERB_STATUS}, {"GC", VERB_GC}, {"VERSION", VERB_VERSION}};
        for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
                reset_env(NULL);
                set_env("CNI_COMMAND", verbs[i].name);
                cni_env e = sentinel();
                expect_env_ok(&e);
                assert_int_equal(e.verb, verbs[i].verb);
                assert_string_equal(e.command, verbs[i].name);
                assert_null(e.container_id);
                assert_null(e.netns);
                assert_null(e.ifname);
                assert_string_equal(e.pod_name, "");

                /* What the runtime may still pass is not looked at. */
                set_env("CNI_CONTAINERID", "-bad");
                set_env("CNI_IFNAME", "this-is-far-too-long");
                set_env("CNI_ARGS", "garbage");
                expect_env_ok(&e);
                assert_null(e.container_id);
        }
}

/* ---- container id ------------------------------------------------------ */

static void container_id_rules(void **state) {
        const char *good[] = {
                "a", "0", "abc123", "A.b-c_d", "0123456789abcdef0123456789abcdef", "x--..__"};
        const char *bad[] = {"",     "-abc",  ".abc",  "_abc", "ab c", "ab/c",
                             "ab:c", "ab\tc", "ab\nc", "ab@c", "ab$c", "\xc3\xa9t\xc3\xa9"};
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(cni_validate_container_id(good[i], &err), 0);
                assert_false(sv_error_is_set(&err));
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(cni_validate_container_id(bad[i], &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
                assert_non_null(strstr(err.message, "container id"));
        }
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(cni_validate_container_id(NULL, &err), -EINVAL);
        assert_string_equal(err.message, "container id is empty");

        char longid[300];
        memset(longid, 'a', 256);
        longid[256] = '\0';
        assert_int_equal(cni_validate_container_id(longid, NULL), 0);
        longid[256] = 'a';
        longid[257] = '\0';
        sv_error err2 = SV_ERROR_INIT;
        assert_int_equal(cni_validate_container_id(longid, &err2), -EINVAL);
        assert_non_null(strstr(err2.message, "longer than 256"));
}

static void container_id_in_env(void **state) {
        set_add_env();
        set_env("CNI_CONTAINERID", "");
        expect_env_error("container id is empty");
        set_env("CNI_CONTAINERID", "-leading-dash");
        expect_env_error("must start with a letter or digit");
        set_env("CNI_CONTAINERID", "abc/def");
        expect_env_error("invalid character at position 3");
}

/* ---- interface name ---------------------------------------------------- */

static void ifname_rules(void **state) {
        const char *good[] = {"eth0", "e",        "net1", "123456789012345",
                              "a.b",  "veth-x_y", "...",  ".a"};
        const char *bad[] = {"",       ".",     "..",    "1234567890123456",
                             "eth/0",  "eth:0", "eth 0", "eth\t0",
                             "eth0\n", " eth0", "e\x01"};
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                sv_error err = SV_ERROR_INIT;
                if (cni_validate_ifname(good[i], &err) != 0)
                        fail_msg("\"%s\" refused: %s", good[i], err.message);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(cni_validate_ifname(bad[i], &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
                assert_non_null(strstr(err.message, "interface name"));
        }
        assert_int_equal(cni_validate_ifname(NULL, NULL), -EINVAL);
}

static void ifname_in_env(void **state) {
        set_add_env();
        set_env("CNI_IFNAME", "123456789012345");
        cni_env e;
        expect_env_ok(&e);
        assert_string_equal(e.ifname, "123456789012345");
        set_env("CNI_IFNAME", "1234567890123456");
        expect_env_error("is longer than 15 characters");
        set_env("CNI_IFNAME", ".");
        expect_env_error("cannot be \".\" or \"..\"");
        set_env("CNI_IFNAME", "..");
        expect_env_error("cannot be \".\" or \"..\"");
        set_env("CNI_IFNAME", "a/b");
        expect_env_error("contains '/'");
        set_env("CNI_IFNAME", "a:b");
        expect_env_error("contains '/'");
        set_env("CNI_IFNAME", "a b");
        expect_env_error("whitespace");
        set_env("CNI_IFNAME", "");
        expect_env_error("interface name is empty");
}

/* ---- CNI_ARGS ---------------------------------------------------------- */

static void args_kubernetes(void **state) {
        cni_env e = {0};
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(cni_args_parse("K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1;"
                                        "K8S_POD_UID=6d1a2b3c-0000-4000-8000-000000000001",
                                        &e, &err),
                         0);
        assert_string_equal(e.pod_namespace, "kube-system");
        assert_string_equal(e.pod_name, "coredns-1");
        assert_string_equal(e.pod_uid, "6d1a2b3c-0000-4000-8000-000000000001");
        assert_false(sv_error_is_set(&err));

        /* K8S_POD_INFRA_CONTAINER_ID is known even without IgnoreUnknown. */
        cni_env f = {0};
        assert_int_equal(cni_args_parse("K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_NAME=x", &f, &err),
                         0);
        assert_string_equal(f.pod_name, "x");

        /* NULL and "" are "no args"; a trailing ';' is tolerated; empty values are fine. */
        cni_env g = {0};
        assert_int_equal(cni_args_parse(NULL, &g, &err), 0);
        assert_int_equal(cni_args_parse("", &g, &err), 0);
        assert_int_equal(cni_args_parse("K8S_POD_NAME=y;", &g, &err), 0);
        assert_string_equal(g.pod_name, "y");
        assert_int_equal(cni_args_parse("K8S_POD_NAMESPACE=", &g, &err), 0);
        assert_string_equal(g.pod_namespace, "");
        assert_false(sv_error_is_set(&err));
}

static void args_ignore_unknown(void **state) {
        const char *ok[] = {
                "IgnoreUnknown=1;FOO=bar;K8S_POD_NAME=p",
                "FOO=bar;K8S_POD_NAME=p;IgnoreUnknown=1",
                "FOO=bar;IgnoreUnknown=true;K8S_POD_NAME=p",
                "IgnoreUnknown=TRUE;K8S_POD_NAME=p;FOO=bar;BAZ=",
                /* The last IgnoreUnknown wins, as in the Go tooling. */
                "IgnoreUnknown=0;FOO=bar;IgnoreUnknown=1;K8S_POD_NAME=p",
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                cni_env e = {0};
                sv_error err = SV_ERROR_INIT;
                if (cni_args_parse(ok[i], &e, &err) != 0)
                        fail_msg("\"%s\" refused: %s", ok[i], err.message);
                assert_string_equal(e.pod_name, "p");
        }

        const char *bad[] = {
                "FOO=bar",
                "K8S_POD_NAME=p;FOO=bar",
                "IgnoreUnknown=0;FOO=bar",
                "IgnoreUnknown=yes;FOO=bar",
                "IgnoreUnknown=1;FOO=bar;IgnoreUnknown=0",
                "k8s_pod_name=p", /* keys are case-sensitive */
                "=x",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                cni_env e = sentinel();
                sv_error err = SV_ERROR_INIT;
                if (cni_args_parse(bad[i], &e, &err) != -EINVAL)
                        fail_msg("\"%s\" accepted", bad[i]);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
                assert_non_null(strstr(err.message, "unknown key"));
                assert_non_null(strstr(err.message, "IgnoreUnknown=1"));
                assert_untouched(&e);
        }
}

static void args_unknown_in_env(void **state) {
        set_add_env();
        set_env("CNI_ARGS", "K8S_POD_NAMESPACE=a;SOMETHING=1");
        expect_env_error("CNI_ARGS: unknown key \"SOMETHING\"");
}

static void args_malformed(void **state) {
        const char *bad[] = {"K8S_POD_NAME", "K8S_POD_NAME=p;junk", "K8S_POD_NAME=p;;FOO=1", ";",
                             "IgnoreUnknown=1;novalue"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                cni_env e = sentinel();
                sv_error err = SV_ERROR_INIT;
                if (cni_args_parse(bad[i], &e, &err) != -EINVAL)
                        fail_msg("\"%s\" accepted", bad[i]);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
                assert_non_null(strstr(err.message, "is not KEY=VALUE"));
                assert_untouched(&e);
        }

        set_add_env();
        set_env("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME");
        expect_env_error("CNI_ARGS: \"K8S_POD_NAME\" is not KEY=VALUE");
}

static void args_too_long(void **state) {
        /* A value one byte over each field's capacity. */
        static char args[512];
        const struct {
                const char *key;
                size_t cap;
        } fields[] = {{"K8S_POD_NAMESPACE", K8S_NAME_MAX + 1},
                      {"K8S_POD_NAME", K8S_NAME_MAX + 1},
                      {"K8S_POD_UID", sizeof(((cni_env *)0)->pod_uid)}};
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                size_t klen = strlen(fields[i].key);
                memcpy(args, fields[i].key, klen);
                args[klen] = '=';
                memset(args + klen + 1, 'v', fields[i].cap - 1);
                args[klen + 1 + fields[i].cap - 1] = '\0';
                cni_env e = {0};
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(cni_args_parse(args, &e, &err), 0); /* at the limit */

                /* One more byte, after a valid field that must not leak out. */
                char over[600];
                int w = snprintf(over, sizeof(over), "K8S_POD_INFRA_CONTAINER_ID=c;%sv", args);
                assert_true(w > 0 && (size_t)w < sizeof(over));
                cni_env f = sentinel();
                assert_int_equal(cni_args_parse(over, &f, &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
                assert_non_null(strstr(err.message, fields[i].key));
                assert_non_null(strstr(err.message, "is longer than"));
                assert_untouched(&f);
        }
}

static void args_whole_string_too_long(void **state) {
        static char args[CNI_ARGS_MAX + 2];
        const char prefix[] = "IgnoreUnknown=1;PAD=";
        memcpy(args, prefix, sizeof(prefix) - 1);
        memset(args + sizeof(prefix) - 1, 'x', CNI_ARGS_MAX - (sizeof(prefix) - 1));
        args[CNI_ARGS_MAX] = '\0';
        cni_env e = {0};
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(cni_args_parse(args, &e, &err), 0); /* exactly the cap */

        args[CNI_ARGS_MAX] = 'x';
        args[CNI_ARGS_MAX + 1] = '\0';
        cni_env f = sentinel();
        assert_int_equal(cni_args_parse(args, &f, &err), -EINVAL);
        assert_int_equal(err.code, SV_CODE_INVALID_ENV);
        assert_non_null(strstr(err.message, "CNI_ARGS is longer than 4096"));
        assert_untouched(&f);
}

/* A later key failing leaves the earlier keys' values unwritten too. */
static void args_failure_writes_nothing(void **state) {
        const char *bad[] = {
                "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;FOO=1",
                "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;junk",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                cni_env e = {0};
                memcpy(e.pod_namespace, "old", 4);
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(cni_args_parse(bad[i], &e, &err), -EINVAL);
                assert_string_equal(e.pod_namespace, "old");
                assert_string_equal(e.pod_name, "");
        }
}

/* Failure after CNI_ARGS in cni_env_read leaves the output alone. */
static void env_failure_writes_nothing(void **state) {
        set_add_env();
        static char args[400];
        int w = snprintf(args, sizeof(args), "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=%0300d", 0);
        assert_true(w > 0 && (size_t)w < sizeof(args));
        set_env("CNI_ARGS", args);
        expect_env_error("K8S_POD_NAME is longer than 253 characters");
}

/* Quoted runtime bytes never make the message invalid UTF-8: the plugin's
 * error JSON could not carry it. */
static void assert_message_ascii(const sv_error *err) {
        for (const char *p = err->message; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        fail_msg("byte 0x%02x in message \"%s\"", (unsigned char)*p, err->message);
        _cleanup_json_ json_t *s = json_string(err->message);
        assert_non_null(s);
}

static void messages_quote_safely(void **state) {
        set_add_env();
        const struct {
                const char *key, *value, *quoted;
        } cases[] = {
                {"CNI_COMMAND", "\xff\xfe", "unknown CNI_COMMAND \"\\xff\\xfe\""},
                /* 31 ASCII bytes then a 2-byte character: the cut at 32 splits it. */
                {"CNI_COMMAND", "ADDDDDDDDDDDDDDDDDDDDDDDDDDDDDD\xc3\xa9",
                 "unknown CNI_COMMAND \"ADDDDDDDDDDDDDDDDDDDDDDDDDDDDDD\\xc3\""},
                {"CNI_COMMAND", "AD\tD", "unknown CNI_COMMAND \"AD\\x09D\""},
                {"CNI_IFNAME", "e\xff", "interface name \"e\\xff\" contains"},
                {"CNI_IFNAME", "eth\n", "interface name \"eth\\x0a\" contains"},
                {"CNI_IFNAME", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                 "interface name \"\\xc3\\xa9"},
                {"CNI_ARGS", "\xff=1", "CNI_ARGS: unknown key \"\\xff\""},
                {"CNI_ARGS", "IgnoreUnknown=1;\x01\x02", "CNI_ARGS: \"\\x01\\x02\" is not"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                reset_env(NULL);
                set_add_env();
                set_env(cases[i].key, cases[i].value);
                cni_env e = sentinel();
                sv_error err = SV_ERROR_INIT;
                assert_int_equal(cni_env_read(fake_getenv, &e, &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
                assert_message_ascii(&err);
                if (!strstr(err.message, cases[i].quoted))
                        fail_msg("message \"%s\" lacks \"%s\"", err.message, cases[i].quoted);
                assert_untouched(&e);
        }

        /* A long quoted key is capped (64 bytes, escaped: 256 characters). */
        static char args[200];
        memset(args, '\x80', 150);
        memcpy(args + 150, "=1", 3);
        cni_env e = {0};
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(cni_args_parse(args, &e, &err), -EINVAL);
        assert_message_ascii(&err);
        assert_non_null(strstr(err.message, "\\x80\" (set IgnoreUnknown=1"));
        assert_true(strlen(err.message) < SV_ERROR_MESSAGE_MAX - 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(add_full, reset_env),
                cmocka_unit_test_setup(add_without_args, reset_env),
                cmocka_unit_test_setup(command_missing_or_unknown, reset_env),
                cmocka_unit_test_setup(add_and_check_require_everything, reset_env),
                cmocka_unit_test_setup(netns_too_long, reset_env),
                cmocka_unit_test_setup(del_netns_optional, reset_env),
                cmocka_unit_test_setup(status_gc_version_need_nothing, reset_env),
                cmocka_unit_test_setup(container_id_rules, reset_env),
                cmocka_unit_test_setup(container_id_in_env, reset_env),
                cmocka_unit_test_setup(ifname_rules, reset_env),
                cmocka_unit_test_setup(ifname_in_env, reset_env),
                cmocka_unit_test_setup(args_kubernetes, reset_env),
                cmocka_unit_test_setup(args_ignore_unknown, reset_env),
                cmocka_unit_test_setup(args_unknown_in_env, reset_env),
                cmocka_unit_test_setup(args_malformed, reset_env),
                cmocka_unit_test_setup(args_too_long, reset_env),
                cmocka_unit_test_setup(args_whole_string_too_long, reset_env),
                cmocka_unit_test_setup(args_failure_writes_nothing, reset_env),
                cmocka_unit_test_setup(env_failure_writes_nothing, reset_env),
                cmocka_unit_test_setup(messages_quote_safely, reset_env),
        };
        return cmocka_run_group_tests_name("cni/env", tests, NULL, NULL);
}
