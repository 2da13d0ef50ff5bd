/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../cmocka-prelude.h"
#include "../testutil.h"
#include "base/fileio.h"
#include "base/macro.h"
#include "kube/config.h"

#define CA_PEM "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"

static char *saved_home;

static int make_dir(void **state) {
        if (sv_test_dir_make(state) < 0)
                return -1;
        /* Tests choose these themselves. */
        unsetenv("KUBECONFIG");
        unsetenv("KUBERNETES_SERVICE_HOST");
        unsetenv("KUBERNETES_SERVICE_PORT");
        return 0;
}

static int remove_dir(void **state) {
        int r = sv_test_dir_remove(state);
        if (saved_home)
                setenv("HOME", saved_home, 1);
        return r;
}

static void path_in(void **state, const char *name, char *out, size_t n) {
        snprintf(out, n, "%s/%s", (char *)*state, name);
}

static void write_in(void **state, const char *name, const char *content) {
        char path[PATH_MAX];
        path_in(state, name, path, sizeof(path));
        assert_int_equal(sv_write_file_atomic(path, content, strlen(content), 0600), 0);
}

static void mkdir_in(void **state, const char *name) {
        char path[PATH_MAX];
        path_in(state, name, path, sizeof(path));
        assert_int_equal(mkdir(path, 0700), 0);
}

static char *b64(const char *s) {
        static const char abc[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *in = (const unsigned char *)s;
        size_t n = strlen(s), o = 0;
        char *out = malloc((n + 2) / 3 * 4 + 1);
        assert_non_null(out);
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)in[i] << 16;
                if (i + 1 < n)
                        v |= (unsigned)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                out[o++] = abc[v >> 18 & 63];
                out[o++] = abc[v >> 12 & 63];
                out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
                out[o++] = i + 2 < n ? abc[v & 63] : '=';
        }
        out[o] = '\0';
        return out;
}

/* Loads the files named in names (':'-separated, relative to the test dir). */
static int load(void **state, const char *names, const char *context, sv_kube_config **out,
                sv_error *err) {
        char list[4 * PATH_MAX] = "";
        size_t used = 0;
        const char *p = names;
        while (*p) {
                const char *end = strchrnul(p, ':');
                int n = snprintf(list + used, sizeof(list) - used, "%s%s/%.*s", used ? ":" : "",
                                 (char *)*state, (int)(end - p), p);
                assert_true(n > 0 && (size_t)n < sizeof(list) - used);
                used += (size_t)n;
                p = *end ? end + 1 : end;
        }
        return sv_kube_config_from_kubeconfig(list, context, out, err);
}

/* A single-context kubeconfig with the given cluster and user bodies. */
static char *simple(const char *cluster, const char *user) {
        char *s = NULL;
        assert_true(asprintf(&s,
                             "apiVersion: v1\n"
                             "kind: Config\n"
                             "current-context: main\n"
                             "contexts:\n"
                             "- name: main\n"
                             "  context: {cluster: c, user: u}\n"
                             "clusters:\n"
                             "- name: c\n"
                             "  cluster:\n%s"
                             "users:\n"
                             "- name: u\n"
                             "  user:\n%s",
                             cluster, user) > 0);
        return s;
}

/* Loads simple(cluster, user) and expects failure with a message holding want. */
static void expect_error(void **state, const char *cluster, const char *user, const char *want) {
        _cleanup_free_ char *yaml = simple(cluster, user);
        write_in(state, "bad", yaml);
        sv_kube_config *cfg = (sv_kube_config *)0x1;
        sv_error err = SV_ERROR_INIT;
        assert_true(load(state, "bad", NULL, &cfg, &err) < 0);
        assert_ptr_equal(cfg, (sv_kube_config *)0x1);
        if (!strstr(err.message, want))
                fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
        assert_true(err.code == SV_CODE_INVALID_CONFIG || err.code == SV_CODE_IO);
}

static void embedded_data(void **state) {
        _cleanup_free_ char *ca = b64(CA_PEM), *cert = b64(CERT_PEM), *key = b64(KEY_PEM);
        _cleanup_free_ char *cluster = NULL, *user = NULL;
        assert_true(asprintf(&cluster,
                             "    server: https://api.example.test:6443/\n"
                             "    certificate-authority-data: %s\n",
                             ca) > 0);
        assert_true(asprintf(&user,
                             "    client-certificate-data: %s\n"
                             "    client-key-data: |\n      %s\n",
                             cert, key) > 0);
        _cleanup_free_ char *yaml = simple(cluster, user);
        write_in(state, "config", yaml);

        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(load(state, "config", NULL, &cfg, &err), 0);
        assert_string_equal(cfg->server, "https://api.example.test:6443");
        assert_int_equal(cfg->ca_pem_len, strlen(CA_PEM));
        assert_string_equal(cfg->ca_pem, CA_PEM);
        assert_string_equal(cfg->cert_pem, CERT_PEM);
        assert_int_equal(cfg->cert_pem_len, strlen(CERT_PEM));
        assert_string_equal(cfg->key_pem, KEY_PEM); /* the block scalar's newline is allowed */
        assert_null(cfg->token);
        assert_null(cfg->token_file);
        assert_false(cfg->insecure_skip_tls_verify);
}

static void file_references_are_relative_to_the_kubeconfig(void **state) {
        mkdir_in(state, "sub");
        write_in(state, "ca.crt", CA_PEM);
        write_in(state, "sub/client.crt", CERT_PEM);
        write_in(state, "key.pem", KEY_PEM);
        write_in(state, "sub/token", "from-file\n");
        char key_path[PATH_MAX];
        path_in(state, "key.pem", key_path, sizeof(key_path));
        _cleanup_free_ char *user = NULL;
        assert_true(asprintf(&user,
                             "    client-certificate: client.crt\n"
                             "    client-key: %s\n"
                             "    tokenFile: token\n",
                             key_path) > 0);
        _cleanup_free_ char *yaml = simple("    server: https://10.0.0.1\n"
                                           "    certificate-authority: ../ca.crt\n",
                                           user);
        write_in(state, "sub/config", yaml);

        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(load(state, "sub/config", NULL, &cfg, &err), 0);
        assert_string_equal(cfg->server, "https://10.0.0.1");
        assert_string_equal(cfg->ca_pem, CA_PEM);
        assert_string_equal(cfg->cert_pem, CERT_PEM);
        assert_string_equal(cfg->key_pem, KEY_PEM);
        assert_string_equal(cfg->token, "from-file");
        char want[PATH_MAX];
        path_in(state, "sub/token", want, sizeof(want));
        assert_string_equal(cfg->token_file, want);

        /* A kubeconfig named by a relative path: references still resolve, and
         * the kept token path is absolute. */
        char cwd[PATH_MAX];
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir((char *)*state), 0);
        _cleanup_(sv_kube_config_freep) sv_kube_config *rel = NULL;
        int r = sv_kube_config_from_kubeconfig("sub/config", NULL, &rel, &err);
        assert_int_equal(chdir(cwd), 0);
        assert_int_equal(r, 0);
        assert_string_equal(rel->ca_pem, CA_PEM);
        assert_string_equal(rel->token_file, want);
}

/* a: no current-context; context dev -> c1/u1; cluster c1.
 * b: current-context dev; dev -> c2/u2 and other -> c2/u1; c1, c2; user u1. */
#define MERGE_A                                                                                    \
        "contexts:\n"                                                                              \
        "- {name: dev, context: {cluster: c1, user: u1}}\n"                                        \
        "clusters:\n"                                                                              \
        "- {name: c1, cluster: {server: 'https://a.test'}}\n"
#define MERGE_B                                                                                    \
        "current-context: dev\n"                                                                   \
        "contexts:\n"                                                                              \
        "- {name: dev, context: {cluster: c2, user: u2}}\n"                                        \
        "- {name: other, context: {cluster: c2, user: u1}}\n"                                      \
        "clusters:\n"                                                                              \
        "- {name: c1, cluster: {server: 'https://b.test'}}\n"                                      \
        "- {name: c2, cluster: {server: 'https://b2.test', insecure-skip-tls-verify: true}}\n"     \
        "users:\n"                                                                                 \
        "- {name: u1, user: {token: tok-b}}\n"

static void merge_first_file_wins(void **state) {
        write_in(state, "a", MERGE_A);
        write_in(state, "b", MERGE_B);
        sv_error err = SV_ERROR_INIT;

        /* current-context from b (a has none), context and cluster from a,
         * user from b (only b has it); the missing file is skipped. */
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        assert_int_equal(load(state, "a:missing:b", NULL, &cfg, &err), 0);
        assert_string_equal(cfg->server, "https://a.test");
        assert_string_equal(cfg->token, "tok-b");
        assert_false(cfg->insecure_skip_tls_verify);

        /* b first: its dev context names a user no file defines. */
        sv_kube_config *none = NULL;
        assert_int_equal(load(state, "b:a", NULL, &none, &err), -ENOENT);
        assert_null(none);
        assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
        assert_non_null(strstr(err.message, "user \"u2\" (of context \"dev\") not found"));

        _cleanup_(sv_kube_config_freep) sv_kube_config *other = NULL;
        sv_error_clear(&err);
        assert_int_equal(load(state, "b:a", "other", &other, &err), 0);
        assert_string_equal(other->server, "https://b2.test");
        assert_true(other->insecure_skip_tls_verify);
        assert_string_equal(other->token, "tok-b");

        /* The same through $KUBECONFIG. */
        char list[2 * PATH_MAX + 8];
        snprintf(list, sizeof(list), "%s/a:%s/b", (char *)*state, (char *)*state);
        setenv("KUBECONFIG", list, 1);
        _cleanup_(sv_kube_config_freep) sv_kube_config *env = NULL;
        assert_int_equal(sv_kube_config_load(NULL, &env, &err), 0);
        unsetenv("KUBECONFIG");
        assert_string_equal(env->server, "https://a.test");
}

static void home_default(void **state) {
        mkdir_in(state, ".kube");
        _cleanup_free_ char *yaml = simple("    server: https://home.test\n", "    token: t\n");
        write_in(state, ".kube/config", yaml);
        setenv("HOME", (char *)*state, 1);
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_kube_config_load(NULL, &cfg, &err), 0);
        assert_string_equal(cfg->server, "https://home.test");
        assert_string_equal(cfg->token, "t");

        /* An explicit list wins over the in-cluster environment. */
        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        char path[PATH_MAX];
        path_in(state, ".kube/config", path, sizeof(path));
        _cleanup_(sv_kube_config_freep) sv_kube_config *flag = NULL;
        assert_int_equal(sv_kube_config_load(path, &flag, &err), 0);
        assert_string_equal(flag->server, "https://home.test");
        /* Without one, in-cluster is chosen; here its files do not exist. */
        sv_kube_config *none = NULL;
        assert_true(sv_kube_config_load(NULL, &none, &err) < 0);
        assert_int_equal(err.code, SV_CODE_IO);
        assert_non_null(strstr(err.message, "/var/run/secrets/kubernetes.io/serviceaccount"));
}

static void missing_context_and_files(void **state) {
        _cleanup_free_ char *yaml = simple("    server: https://x.test\n", "    token: t\n");
        write_in(state, "config", yaml);
        char path[PATH_MAX];
        path_in(state, "config", path, sizeof(path));

        sv_kube_config *cfg = (sv_kube_config *)0x1;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(load(state, "config", "foo", &cfg, &err), -ENOENT);
        assert_ptr_equal(cfg, (sv_kube_config *)0x1);
        assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
        char want[PATH_MAX + 64];
        snprintf(want, sizeof(want), "kubeconfig %s: context \"foo\" not found", path);
        assert_string_equal(err.message, want);

        sv_error_clear(&err);
        write_in(state, "nocurrent", "clusters: []\n");
        assert_int_equal(load(state, "nocurrent", NULL, &cfg, &err), -ENOENT);
        assert_non_null(strstr(err.message, "current-context"));

        sv_error_clear(&err);
        assert_int_equal(load(state, "gone:also-gone", NULL, &cfg, &err), -ENOENT);
        assert_non_null(strstr(err.message, "no such file"));

        /* A context naming an undefined cluster. */
        sv_error_clear(&err);
        write_in(state, "nocluster",
                 "current-context: x\ncontexts: [{name: x, context: {cluster: "
                 "nope}}]\n");
        assert_int_equal(load(state, "nocluster", NULL, &cfg, &err), -ENOENT);
        assert_non_null(strstr(err.message, "cluster \"nope\" (of context \"x\") not found"));
        assert_ptr_equal(cfg, (sv_kube_config *)0x1);
}

static void http_refused(void **state) {
        expect_error(state, "    server: http://api.example.test:8080\n", "    token: t\n",
                     "plain http");
        expect_error(state, "    server: HTTP://api.example.test\n", "    token: t\n",
                     "plain http");
        expect_error(state, "    server: api.example.test:6443\n", "    token: t\n",
                     "not an https:// URL");
        expect_error(state, "    server: 'https://'\n", "    token: t\n", "not an https:// URL");
        expect_error(state, "    server: https://a b\n", "    token: t\n", "not an https:// URL");
        expect_error(state, "    certificate-authority-data: eA==\n", "    token: t\n",
                     "no \"server\" set");
}

static void bad_base64_and_caps(void **state) {
        expect_error(state,
                     "    server: https://x.test\n"
                     "    certificate-authority-data: 'not base64!'\n",
                     "    token: t\n",
                     "cluster \"c\": \"certificate-authority-data\" is not valid "
                     "base64");
        expect_error(state, "    server: https://x.test\n",
                     "    client-certificate-data: Zm9v\n    client-key-data: Zm9\n",
                     "\"client-key-data\" is not valid base64");

        /* A blob over 256 KiB. */
        size_t n = SV_KUBE_CONFIG_BLOB_MAX / 3 * 4 + 8;
        _cleanup_free_ char *big = malloc(n + 64);
        assert_non_null(big);
        int off = snprintf(big, 64, "    server: https://x.test\n    certificate-authority-data: ");
        memset(big + off, 'A', n);
        memcpy(big + off + n, "\n", 2);
        expect_error(state, big, "    token: t\n", "decodes to more than 262144 bytes");

        /* A file over 1 MiB. */
        char path[PATH_MAX];
        path_in(state, "huge", path, sizeof(path));
        size_t hn = SV_KUBE_CONFIG_FILE_MAX + 1;
        _cleanup_free_ char *huge = malloc(hn);
        assert_non_null(huge);
        memset(huge, '#', hn);
        assert_int_equal(sv_write_file_atomic(path, huge, hn, 0600), 0);
        sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(load(state, "huge", NULL, &cfg, &err), -EFBIG);
        assert_non_null(strstr(err.message, "larger than 1048576 bytes"));
}

static void invalid_configs(void **state) {
        const char *ok = "    server: https://x.test\n";
        expect_error(state, ok, "    exec: {command: aws}\n", "\"exec\" is set");
        expect_error(state, ok, "    username: admin\n    password: x\n", "\"username\" is set");
        expect_error(state, "    server: https://x.test\n    proxy-url: http://p:3128\n",
                     "    token: t\n", "\"proxy-url\" is set");
        expect_error(state, ok, "    client-certificate-data: Zm9v\n",
                     "client certificate is set without a client key");
        expect_error(state, ok, "    token: \"a\\r\\nX-Evil: 1\"\n", "HTTP header");
        expect_error(state, ok, "    token: t\n    token: u\n", "\"token\" appears more than once");
        expect_error(state, ok, "    token: [t]\n", "\"token\" must be a string");
        expect_error(state, ok, "    tokenFile: absent\n", "\"tokenFile\"");
        expect_error(state,
                     "    server: https://x.test\n"
                     "    certificate-authority: ca\n"
                     "    certificate-authority-data: Zm9v\n",
                     "    token: t\n", "both");
        expect_error(state,
                     "    server: https://x.test\n"
                     "    certificate-authority-data: Zm9v\n"
                     "    insecure-skip-tls-verify: true\n",
                     "    token: t\n", "insecure-skip-tls-verify and a certificate authority");
        expect_error(state, "    server: https://x.test\n    insecure-skip-tls-verify: 'true'\n",
                     "    token: t\n", "must be true or false");
        expect_error(state, "    server: https://x.test\n    certificate-authority: nothere\n",
                     "    token: t\n", "nothere");

        sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        write_in(state, "syntax", "clusters: [\n  - {name: a\n");
        assert_int_equal(load(state, "syntax", NULL, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err.message, "invalid YAML at line"));

        sv_error_clear(&err);
        write_in(state, "dup",
                 "current-context: a\ncontexts:\n- {name: a, context: {cluster: "
                 "c}}\n- {name: a, context: {cluster: d}}\n");
        assert_int_equal(load(state, "dup", NULL, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err.message, "context \"a\" is defined twice"));

        sv_error_clear(&err);
        write_in(state, "scalar", "just a string\n");
        assert_int_equal(load(state, "scalar", NULL, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err.message, "must be a YAML mapping"));

        /* libyaml is quadratic in nesting depth and ~160 bytes a node: both
         * are capped before the document is built. */
        char path[PATH_MAX];
        path_in(state, "deep", path, sizeof(path));
        size_t depth = 500000;
        _cleanup_free_ char *deep = malloc(2 * depth + 4);
        assert_non_null(deep);
        memcpy(deep, "a: ", 3);
        memset(deep + 3, '[', depth);
        memset(deep + 3 + depth, ']', depth);
        assert_int_equal(sv_write_file_atomic(path, deep, 2 * depth + 3, 0600), 0);
        sv_error_clear(&err);
        assert_int_equal(load(state, "deep", NULL, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err.message, "nested deeper than 64 levels"));

        path_in(state, "wide", path, sizeof(path));
        size_t items = 100001;
        _cleanup_free_ char *wide = malloc(2 * items + 8);
        assert_non_null(wide);
        memcpy(wide, "a: [", 4);
        for (size_t i = 0; i < items; i++)
                memcpy(wide + 4 + 2 * i, "1,", 2);
        wide[4 + 2 * items - 1] = ']';
        assert_int_equal(sv_write_file_atomic(path, wide, 4 + 2 * items, 0600), 0);
        sv_error_clear(&err);
        assert_int_equal(load(state, "wide", NULL, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err.message, "more than 100000 YAML nodes"));

        /* A broken file later in the list fails the load, as in client-go. */
        _cleanup_free_ char *yaml = simple(ok, "    token: t\n");
        write_in(state, "good", yaml);
        sv_error_clear(&err);
        assert_int_equal(load(state, "good:syntax", NULL, &cfg, &err), -EINVAL);
        assert_null(cfg);
}

static void json_and_anchors(void **state) {
        write_in(state, "json",
                 "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"j\","
                 "\"contexts\":[{\"name\":\"j\",\"context\":{\"cluster\":\"c\",\"user\":\"u\"}}],"
                 "\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"https://j.test\"}}],"
                 "\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"jt\"}}]}");
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(load(state, "json", NULL, &cfg, &err), 0);
        assert_string_equal(cfg->server, "https://j.test");
        assert_string_equal(cfg->token, "jt");

        write_in(state, "anchors",
                 "current-context: a\n"
                 "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
                 "clusters: [{name: c, cluster: &c {server: 'https://k.test'}}]\n"
                 "users: [{name: u, user: {token: ~}}]\n"
                 "extra: *c\n");
        _cleanup_(sv_kube_config_freep) sv_kube_config *anc = NULL;
        assert_int_equal(load(state, "anchors", NULL, &anc, &err), 0);
        assert_string_equal(anc->server, "https://k.test");
        assert_null(anc->token); /* null is unset */
}

static void token_file_reload(void **state) {
        write_in(state, "token", "first\n");
        _cleanup_free_ char *yaml =
                simple("    server: https://x.test\n", "    token: inline\n    tokenFile: token\n");
        write_in(state, "config", yaml);
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(load(state, "config", NULL, &cfg, &err), 0);
        assert_string_equal(cfg->token, "first"); /* the file wins over the inline token */

        bool changed = false;
        assert_int_equal(sv_kube_config_reload_token(cfg, &changed), 0);
        assert_false(changed);

        write_in(state, "token", "second \t\r\n\n");
        assert_int_equal(sv_kube_config_reload_token(cfg, &changed), 0);
        assert_true(changed);
        assert_string_equal(cfg->token, "second");

        /* Failures keep the old token and leave changed alone. */
        char path[PATH_MAX];
        path_in(state, "token", path, sizeof(path));
        assert_int_equal(unlink(path), 0);
        changed = true;
        assert_int_equal(sv_kube_config_reload_token(cfg, &changed), -ENOENT);
        assert_true(changed);
        assert_string_equal(cfg->token, "second");
        write_in(state, "token", " \n");
        assert_int_equal(sv_kube_config_reload_token(cfg, &changed), -ENODATA);
        assert_string_equal(cfg->token, "second");
        write_in(state, "token", "two words\n");
        assert_int_equal(sv_kube_config_reload_token(cfg, &changed), -EINVAL);
        assert_string_equal(cfg->token, "second");

        /* An unreadable file at load time falls back to the inline token. */
        assert_int_equal(unlink(path), 0);
        _cleanup_(sv_kube_config_freep) sv_kube_config *fb = NULL;
        assert_int_equal(load(state, "config", NULL, &fb, &err), 0);
        assert_string_equal(fb->token, "inline");
        assert_string_equal(fb->token_file, path);
        write_in(state, "token", "third");
        assert_int_equal(sv_kube_config_reload_token(fb, &changed), 0);
        assert_true(changed);
        assert_string_equal(fb->token, "third");

        /* No token file: nothing to do. */
        _cleanup_free_ char *plain = simple("    server: https://x.test\n", "    token: t\n");
        write_in(state, "plain", plain);
        _cleanup_(sv_kube_config_freep) sv_kube_config *p = NULL;
        assert_int_equal(load(state, "plain", NULL, &p, &err), 0);
        changed = true;
        assert_int_equal(sv_kube_config_reload_token(p, &changed), 0);
        assert_false(changed);
        assert_null(sv_kube_config_free(NULL));
}

static void write_service_account(void **state, const char *token, const char *ca) {
        mkdir_in(state, "var");
        mkdir_in(state, "var/run");
        mkdir_in(state, "var/run/secrets");
        mkdir_in(state, "var/run/secrets/kubernetes.io");
        mkdir_in(state, "var/run/secrets/kubernetes.io/serviceaccount");
        if (token)
                write_in(state, "var/run/secrets/kubernetes.io/serviceaccount/token", token);
        if (ca)
                write_in(state, "var/run/secrets/kubernetes.io/serviceaccount/ca.crt", ca);
}

static void in_cluster(void **state) {
        write_service_account(state, "sa-token\n", CA_PEM);
        sv_kube_config *none = (sv_kube_config *)0x1;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_kube_config_in_cluster(*state, &none, &err), -ENOENT);
        assert_int_equal(err.code, SV_CODE_INVALID_ENV);
        assert_ptr_equal(none, (sv_kube_config *)0x1);

        setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = NULL;
        assert_int_equal(sv_kube_config_in_cluster(*state, &cfg, &err), 0);
        assert_string_equal(cfg->server, "https://[fd00:10:96::1]:443");
        assert_string_equal(cfg->token, "sa-token");
        assert_string_equal(cfg->ca_pem, CA_PEM);
        assert_int_equal(cfg->ca_pem_len, strlen(CA_PEM));
        char want[PATH_MAX];
        path_in(state, "var/run/secrets/kubernetes.io/serviceaccount/token", want, sizeof(want));
        assert_string_equal(cfg->token_file, want);
        assert_null(cfg->cert_pem);

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
        _cleanup_(sv_kube_config_freep) sv_kube_config *v4 = NULL;
        assert_int_equal(sv_kube_config_in_cluster(*state, &v4, &err), 0);
        assert_string_equal(v4->server, "https://10.96.0.1:6443");

        const char *bad_hosts[] = {"fd00::1::2", "a/b", "[::1]", "host name", "evil@host"};
        for (size_t i = 0; i < ARRAY_SIZE(bad_hosts); i++) {
                setenv("KUBERNETES_SERVICE_HOST", bad_hosts[i], 1);
                sv_error_clear(&err);
                assert_int_equal(sv_kube_config_in_cluster(*state, &none, &err), -EINVAL);
                assert_int_equal(err.code, SV_CODE_INVALID_ENV);
        }
        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "0", 1);
        assert_int_equal(sv_kube_config_in_cluster(*state, &none, &err), -EINVAL);
        assert_ptr_equal(none, (sv_kube_config *)0x1);
}

static void in_cluster_needs_ca_and_token(void **state) {
        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        write_service_account(state, "sa-token", NULL);
        sv_kube_config *none = NULL;
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_kube_config_in_cluster(*state, &none, &err), -ENOENT);
        assert_int_equal(err.code, SV_CODE_IO);
        assert_non_null(strstr(err.message, "ca.crt"));

        write_in(state, "var/run/secrets/kubernetes.io/serviceaccount/ca.crt", CA_PEM);
        write_in(state, "var/run/secrets/kubernetes.io/serviceaccount/token", "\n");
        sv_error_clear(&err);
        assert_int_equal(sv_kube_config_in_cluster(*state, &none, &err), -ENODATA);
        assert_non_null(strstr(err.message, "empty"));
        assert_null(none);
}

int main(void) {
        saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(embedded_data, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(file_references_are_relative_to_the_kubeconfig,
                                                make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(merge_first_file_wins, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(home_default, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(missing_context_and_files, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(http_refused, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(bad_base64_and_caps, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(invalid_configs, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(json_and_anchors, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(token_file_reload, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(in_cluster, make_dir, remove_dir),
                cmocka_unit_test_setup_teardown(in_cluster_needs_ca_and_token, make_dir,
                                                remove_dir),
        };
        int r = cmocka_run_group_tests_name("kube/config", tests, NULL, NULL);
        free(saved_home);
        return r;
}
