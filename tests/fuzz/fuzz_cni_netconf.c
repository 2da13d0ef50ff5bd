/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes what the CNI plugin reads from the runtime: the network configuration
 * on stdin (netconf_parse), the pod addresses in its prevResult, and the same
 * bytes as CNI_ARGS. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cni/env.h"
#include "cni/netconf.h"
#include "cni/prevresult.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failure must say why, in valid UTF-8: the plugin prints the message in
 * its error JSON, which jansson refuses to build otherwise. */
static void check_error(const sv_error *err) {
        if (!sv_error_is_set(err))
                __builtin_trap();
        json_t *s = json_string(err->message);
        if (!s)
                __builtin_trap();
        json_decref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        netconf conf;
        sv_error err = SV_ERROR_INIT;
        if (netconf_parse((const char *)data, size, &conf, &err) == 0) {
                if (conf.prev_result) {
                        pod_addrs a;
                        sv_error perr = SV_ERROR_INIT;
                        if (prevresult_pod_addrs(conf.prev_result, "eth0", &a, &perr) == 0) {
                                _cleanup_json_ json_t *list = pod_addrs_to_json(&a);
                                if (!list || json_array_size(list) != a.n4 + a.n6 ||
                                    a.n4 > POD_ADDRS_MAX || a.n6 > POD_ADDRS_MAX)
                                        __builtin_trap();
                        } else {
                                check_error(&perr);
                        }
                }
                (void)cni_version_cmp(conf.cni_version, "1.1.0");
                netconf_done(&conf);
        } else {
                check_error(&err);
        }

        /* The raw bytes as CNI_ARGS, cut at the first NUL like an env var. */
        static char args[CNI_ARGS_MAX + 1];
        size_t n = size < CNI_ARGS_MAX ? size : CNI_ARGS_MAX;
        memcpy(args, data, n);
        args[n] = '\0';
        cni_env env = {0};
        sv_error aerr = SV_ERROR_INIT;
        if (cni_args_parse(args, &env, &aerr) == 0) {
                if (strlen(env.pod_namespace) > K8S_NAME_MAX ||
                    strlen(env.pod_name) > K8S_NAME_MAX ||
                    strlen(env.pod_uid) >= sizeof(env.pod_uid))
                        __builtin_trap();
        } else {
                check_error(&aerr);
                if (aerr.code != SV_CODE_INVALID_ENV)
                        __builtin_trap();
        }
        return 0;
}
