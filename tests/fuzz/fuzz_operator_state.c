/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the persisted state as the operator reads it back at start
 * (sv_state_parse: JSON, a version-1 state converted) and what it makes of
 * it before the API server answers: the nftables model rendered (and its
 * text), the telemetry address book built and looked up. A state file is
 * checked on write, but a node's disk is not trusted to keep it whole. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "operator/addrbook.h"
#include "operator/backend.h"
#include "operator/compile.h"
#include "operator/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok) {
        if (!ok)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *state = NULL;
        sv_error err = SV_ERROR_INIT;
        if (sv_state_parse((const char *)data, size, &state, &err) < 0) {
                check(sv_error_is_set(&err) && state == NULL);
                return 0;
        }
        check(json_integer_value(json_object_get(state, "version")) == SV_STATE_VERSION);

        for (int deny = 0; deny < 2; deny++) {
                sv_render_config cfg = {.default_deny = deny,
                                        .dns_service = "kube-system/kube-dns",
                                        .nflog_group = 70};
                sv_ruleset *rs = NULL;
                sv_error rerr = SV_ERROR_INIT;
                if (sv_render(state, &cfg, &rs, &rerr) == 0) {
                        char *text = NULL;
                        check(sv_ruleset_text(rs, &text) == 0 && text);
                        free(text);
                        sv_ruleset_free(rs);
                } else {
                        check(rs == NULL && sv_error_is_set(&rerr));
                }
        }

        sv_addrbook *ab = NULL;
        if (sv_addrbook_build(state, &ab) == 0) {
                /* Every address of an identity names a workload. */
                const char *id;
                json_t *ips, *ip;
                size_t i;
                json_object_foreach (json_object_get(state, "identities"), id, ips) {
                        json_array_foreach (ips, i, ip) {
                                const char *name = sv_addrbook_workload(ab, json_string_value(ip));
                                check(name != NULL);
                        }
                }
                check(strcmp(sv_addrbook_service(ab, "not-an-address"), "none") == 0);
                sv_addrbook_free(ab);
        }
        json_decref(state);
        return 0;
}
