/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/env.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/macro.h"

static const struct {
        const char *name;
        enum cni_verb verb;
} verbs[] = {
        {"ADD", VERB_ADD},       {"DEL", VERB_DEL}, {"CHECK", VERB_CHECK},
        {"STATUS", VERB_STATUS}, {"GC", VERB_GC},   {"VERSION", VERB_VERSION},
};

/* Messages quote what the runtime passed, which may be any bytes; the error
 * JSON needs valid UTF-8 (jansson refuses anything else, and the plugin would
 * then exit without a result). Copies at most max bytes of s, each byte
 * outside printable ASCII as \xNN. buf holds 4 * max + 1. */
static const char *printable(const char *s, size_t max, char *buf) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        for (size_t i = 0; i < max && s[i]; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c < 0x7f) {
                        buf[o++] = (char)c;
                        continue;
                }
                buf[o++] = '\\';
                buf[o++] = 'x';
                buf[o++] = hex[c >> 4];
                buf[o++] = hex[c & 0xf];
        }
        buf[o] = '\0';
        return buf;
}

#define QUOTE_MAX 64

int cni_validate_container_id(const char *id, sv_error *err) {
        size_t n = id ? strlen(id) : 0;
        if (n == 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV, "container id is empty");
        if (n > 256)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "container id is longer than 256 characters");
        if (!isalnum((unsigned char)id[0]))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "container id must start with a letter or digit");
        for (size_t i = 1; i < n; i++) {
                unsigned char c = (unsigned char)id[i];
                if (!isalnum(c) && c != '_' && c != '.' && c != '-')
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                         "container id contains an invalid character at "
                                         "position %zu",
                                         i);
        }
        return 0;
}

int cni_validate_ifname(const char *name, sv_error *err) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV, "interface name is empty");
        char q[4 * QUOTE_MAX + 1];
        if (n > 15)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "interface name \"%s\" is longer than 15 characters",
                                 printable(name, 32, q));
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "interface name cannot be \".\" or \"..\"");
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
                    !isprint((unsigned char)*p))
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                         "interface name \"%s\" contains '/', ':', whitespace "
                                         "or a control character",
                                         printable(name, 15, q));
        return 0;
}

static int copy_value(const char *key, const char *v, size_t n, char *dst, size_t cap,
                      sv_error *err) {
        if (n >= cap)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "CNI_ARGS: %s is longer than %zu characters", key, cap - 1);
        memcpy(dst, v, n);
        dst[n] = '\0';
        return 0;
}

int cni_args_parse(const char *args, cni_env *out, sv_error *err) {
        if (!args || !*args)
                return 0;
        size_t total = strlen(args);
        if (total > CNI_ARGS_MAX)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "CNI_ARGS is longer than %d characters", CNI_ARGS_MAX);

        /* Two passes: IgnoreUnknown may come after an unknown key. As in the
         * Go tooling its last value counts, so only the first pass sets it.
         * The values go to a copy: out is written only on success. */
        bool ignore_unknown = false;
        cni_env e = *out;
        for (int pass = 0; pass < 2; pass++) {
                const char *p = args;
                while (*p) {
                        const char *end = strchr(p, ';');
                        size_t len = end ? (size_t)(end - p) : strlen(p);
                        const char *eq = memchr(p, '=', len);
                        char q[4 * QUOTE_MAX + 1];
                        if (!eq)
                                return sv_errorf(
                                        err, -EINVAL, SV_CODE_INVALID_ENV,
                                        "CNI_ARGS: \"%s\" is not KEY=VALUE",
                                        printable(p, len < QUOTE_MAX ? len : QUOTE_MAX, q));
                        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
                        const char *v = eq + 1;
#define KEY_IS(k) (klen == strlen(k) && memcmp(p, k, klen) == 0)
                        int r = 0;
                        if (KEY_IS("IgnoreUnknown")) {
                                if (pass == 0)
                                        ignore_unknown =
                                                (vlen == 1 && v[0] == '1') ||
                                                (vlen == 4 && strncasecmp(v, "true", 4) == 0);
                        } else if (pass == 0) {
                                /* first pass only looks for IgnoreUnknown */
                        } else if (KEY_IS("K8S_POD_NAMESPACE")) {
                                r = copy_value("K8S_POD_NAMESPACE", v, vlen, e.pod_namespace,
                                               sizeof(e.pod_namespace), err);
                        } else if (KEY_IS("K8S_POD_NAME")) {
                                r = copy_value("K8S_POD_NAME", v, vlen, e.pod_name,
                                               sizeof(e.pod_name), err);
                        } else if (KEY_IS("K8S_POD_UID")) {
                                r = copy_value("K8S_POD_UID", v, vlen, e.pod_uid, sizeof(e.pod_uid),
                                               err);
                        } else if (KEY_IS("K8S_POD_INFRA_CONTAINER_ID")) {
                                /* the container id already arrives as CNI_CONTAINERID */
                        } else if (!ignore_unknown) {
                                return sv_errorf(
                                        err, -EINVAL, SV_CODE_INVALID_ENV,
                                        "CNI_ARGS: unknown key \"%s\" (set "
                                        "IgnoreUnknown=1 to allow it)",
                                        printable(p, klen < QUOTE_MAX ? klen : QUOTE_MAX, q));
                        }
#undef KEY_IS
                        if (r < 0)
                                return r;
                        p = end ? end + 1 : p + len;
                }
        }
        *out = e;
        return 0;
}

int cni_env_read(char *(*getenv_fn)(const char *), cni_env *out, sv_error *err) {
        cni_env e = {0};
        e.command = getenv_fn("CNI_COMMAND");
        if (!e.command || !*e.command)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "CNI_COMMAND is not set: selvedge-cni is a CNI plugin run by "
                                 "the container runtime (or run `selvedge-cni install`)");
        size_t i;
        for (i = 0; i < ARRAY_SIZE(verbs); i++)
                if (strcmp(e.command, verbs[i].name) == 0)
                        break;
        if (i == ARRAY_SIZE(verbs)) {
                char q[4 * QUOTE_MAX + 1];
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV, "unknown CNI_COMMAND \"%s\"",
                                 printable(e.command, 32, q));
        }
        e.verb = verbs[i].verb;
        if (e.verb == VERB_STATUS || e.verb == VERB_GC || e.verb == VERB_VERSION) {
                *out = e;
                return 0;
        }

        int r;
        e.container_id = getenv_fn("CNI_CONTAINERID");
        if (!e.container_id)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV, "CNI_CONTAINERID is not set");
        if ((r = cni_validate_container_id(e.container_id, err)) < 0)
                return r;
        e.ifname = getenv_fn("CNI_IFNAME");
        if (!e.ifname)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV, "CNI_IFNAME is not set");
        if ((r = cni_validate_ifname(e.ifname, err)) < 0)
                return r;
        e.netns = getenv_fn("CNI_NETNS");
        if (e.netns && !*e.netns)
                e.netns = NULL;
        if (!e.netns && e.verb != VERB_DEL)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV, "CNI_NETNS is not set");
        if (e.netns && (e.netns[0] != '/' || strlen(e.netns) > 1024))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "CNI_NETNS must be an absolute path of at most 1024 bytes");
        if ((r = cni_args_parse(getenv_fn("CNI_ARGS"), &e, err)) < 0)
                return r;
        *out = e;
        return 0;
}
