/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/netconf.h"

#include <string.h>

#include "base/parse.h"

const char *const cni_supported_versions[] = {"0.4.0", "1.0.0", "1.1.0", NULL};

bool cni_version_supported(const char *v) {
        for (size_t i = 0; cni_supported_versions[i]; i++)
                if (strcmp(v, cni_supported_versions[i]) == 0)
                        return true;
        return false;
}

static int parse_version(const char *v, uint64_t parts[3]) {
        char buf[32];
        if (strlen(v) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, v, strlen(v) + 1);
        char *p = buf;
        for (int i = 0; i < 3; i++) {
                char *dot = strchr(p, '.');
                if ((i < 2) != (dot != NULL))
                        return -EINVAL;
                if (dot)
                        *dot = '\0';
                int r = sv_parse_uint64(p, 1000, &parts[i]);
                if (r < 0)
                        return r;
                p = dot ? dot + 1 : p;
        }
        return 0;
}

int cni_version_cmp(const char *a, const char *b) {
        uint64_t pa[3], pb[3];
        bool oka = parse_version(a, pa) == 0, okb = parse_version(b, pb) == 0;
        if (!oka || !okb)
                return (int)oka - (int)okb;
        for (int i = 0; i < 3; i++)
                if (pa[i] != pb[i])
                        return pa[i] < pb[i] ? -1 : 1;
        return 0;
}

static int check_path(const char *key, const char *v, sv_error *err) {
        if (v[0] != '/') {
                /* Quote at most 128 bytes, cut on a UTF-8 character boundary:
                 * a message cut inside a character is not valid UTF-8, and
                 * the plugin could not print its error JSON. */
                size_t n = strlen(v);
                const char *more = "";
                if (n > 128) {
                        n = 128;
                        while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
                                n--;
                        more = "...";
                }
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "\"%s\" must be an absolute path, got \"%.*s%s\"", key, (int)n, v,
                                 more);
        }
        return 0;
}

/* The plugin prints err->message in its error JSON, which must be valid UTF-8.
 * jansson's own messages quote the input near the error and may end in half
 * a character (an invalid escape followed by a non-ASCII byte); such a message
 * keeps its ASCII, and every other byte becomes '?'. */
static void scrub_message(sv_error *err) {
        if (!err)
                return;
        json_t *s = json_string(err->message);
        if (s) {
                json_decref(s);
                return;
        }
        for (char *p = err->message; *p; p++)
                if ((unsigned char)*p >= 0x80)
                        *p = '?';
}

static int parse(const char *buf, size_t len, netconf *out, sv_error *err) {
        _cleanup_json_ json_t *root = NULL;
        int r = sv_json_parse(buf, len, NETCONF_MAX_BYTES, &root, err);
        if (r < 0) {
                sv_error_prefix(err, "network configuration: ");
                return r;
        }
        if (!json_is_object(root))
                return sv_errorf(err, -EINVAL, SV_CODE_DECODE,
                                 "network configuration must be a JSON object");

        netconf c = {
                .failure_policy = FAILURE_POLICY_FAIL,
                .agent_socket = NETCONF_DEFAULT_AGENT_SOCKET,
                .state_dir = NETCONF_DEFAULT_STATE_DIR,
                .log_level = SV_LOG_INFO,
                .agent_timeout_ms = 2000,
        };
        /* A config without cniVersion is 0.1.0 by the spec, which we do not speak. */
        r = sv_json_get_string(root, "cniVersion", false, 32, &c.cni_version, err);
        if (r == -ENOENT)
                return sv_errorf(err, -EINVAL, SV_CODE_INCOMPATIBLE_VERSION,
                                 "network configuration has no cniVersion (0.1.0 implied); "
                                 "selvedge-cni supports 0.4.0, 1.0.0 and 1.1.0");
        if (r < 0)
                return r;
        if (!cni_version_supported(c.cni_version))
                return sv_errorf(err, -EINVAL, SV_CODE_INCOMPATIBLE_VERSION,
                                 "incompatible CNI version \"%s\": selvedge-cni supports 0.4.0, "
                                 "1.0.0 and 1.1.0",
                                 c.cni_version);
        r = sv_json_get_string(root, "name", true, 256, &c.name, err);
        if (r < 0)
                return r;

        r = sv_json_get_object(root, "prevResult", false, &c.prev_result, err);
        if (r < 0 && r != -ENOENT)
                return r;

        const char *policy = NULL;
        r = sv_json_get_string(root, "failurePolicy", false, 16, &policy, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (policy) {
                if (strcmp(policy, "Fail") == 0)
                        c.failure_policy = FAILURE_POLICY_FAIL;
                else if (strcmp(policy, "Ignore") == 0)
                        c.failure_policy = FAILURE_POLICY_IGNORE;
                else
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "\"failurePolicy\" must be \"Fail\" or \"Ignore\", got "
                                         "\"%s\"",
                                         policy);
        }

        const struct {
                const char *key;
                const char **dst;
        } paths[] = {
                {"agentSocket", &c.agent_socket},
                {"stateDir", &c.state_dir},
                {"logFile", &c.log_file},
        };
        for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
                r = sv_json_get_string(root, paths[i].key, false, 1024, paths[i].dst, err);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (*paths[i].dst && (r = check_path(paths[i].key, *paths[i].dst, err)) < 0)
                        return r;
        }
        /* sun_path holds 108 bytes including the NUL. */
        if (strlen(c.agent_socket) > 107)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "\"agentSocket\" is longer than 107 bytes");

        const char *level = NULL;
        r = sv_json_get_string(root, "logLevel", false, 16, &level, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (level && sv_log_level_from_string(level, &c.log_level) < 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "\"logLevel\" must be debug, info, warn or error, got \"%s\"",
                                 level);

        uint64_t timeout;
        r = sv_json_get_uint(root, "agentTimeoutMs", false, 30000, &timeout, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0) {
                if (timeout == 0)
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "\"agentTimeoutMs\" must be from 1 to 30000");
                c.agent_timeout_ms = (int)timeout;
        }

        c.root = TAKE_PTR(root);
        *out = c;
        return 0;
}

int netconf_parse(const char *buf, size_t len, netconf *out, sv_error *err) {
        int r = parse(buf, len, out, err);
        if (r < 0)
                scrub_message(err);
        return r;
}

void netconf_done(netconf *c) {
        if (!c)
                return;
        json_decref(c->root);
        *c = (netconf){0};
}
