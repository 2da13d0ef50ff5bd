/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin's side of the hand-off to the node agent (selvedge-operator):
 * one JSON request and one JSON answer over the agent's Unix socket. The
 * protocol is in docs/cni.md. */
#pragma once

#include "base/error.h"
#include "json/json.h"

#define AGENT_RESPONSE_MAX (64 * 1024)

/* Sends request, waits at most timeout_ms for the whole exchange. The answer
 * must be a JSON object with "ok": true; otherwise the call fails with the
 * agent's "error" text. Errors are SV_CODE_TRY_AGAIN: the agent may be
 * starting or restarting. */
int agent_call(const char *socket_path, int timeout_ms, json_t *request, json_t **response,
               sv_error *err);
