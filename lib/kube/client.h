/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes API client: one libcurl multi handle, so every request and
 * watch of the process shares one HTTP/2 connection where the server allows
 * it, and an idle watch costs no wakeups. Two kinds of calls:
 *   - sv_kube_request: synchronous. It drives the shared handle until its own
 *     transfer ends; streams keep receiving meanwhile, but their completions
 *     are held back until the next sv_kube_client_dispatch, so a caller never
 *     sees callbacks re-enter it.
 *   - streams (watches): bytes are handed to on_data as they arrive; on_done
 *     runs from sv_kube_client_dispatch only.
 * Nothing here logs; failures are -errno plus an sv_error. */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "kube/config.h"

typedef struct sv_kube_client sv_kube_client;
typedef struct sv_kube_stream sv_kube_stream;

typedef struct sv_kube_client_options {
        long connect_timeout_ms; /* default 5000 */
        long request_timeout_ms; /* default 30000, per synchronous request */
        const char *user_agent;  /* default "selvedge" */
} sv_kube_client_options;

/* Takes ownership of cfg (also on failure). */
int sv_kube_client_new(sv_kube_config *cfg, const sv_kube_client_options *opts,
                       sv_kube_client **out, sv_error *err);
sv_kube_client *sv_kube_client_free(sv_kube_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_kube_client *, sv_kube_client_free);

typedef struct sv_kube_response {
        long status;        /* HTTP status */
        json_t *body;       /* decoded JSON body, NULL when empty or not JSON */
        long retry_after_s; /* Retry-After in seconds, 0 when absent */
} sv_kube_response;

void sv_kube_response_done(sv_kube_response *r);

/* A synchronous request. body may be NULL; content_type defaults to
 * application/json when a body is given. Returns 0 once an HTTP response was
 * received, whatever its status; -errno (err filled, SV_CODE_TRY_AGAIN) when
 * the server could not be reached or the transfer failed. Response bodies are
 * capped at 64 MiB. */
int sv_kube_request(sv_kube_client *c, const char *method, const char *path,
                    const char *content_type, const json_t *body, sv_kube_response *out,
                    sv_error *err);

typedef struct sv_kube_stream_ops {
        /* A chunk of a 200 answer's body (other answers' bodies are not
         * passed on). A negative return aborts the stream. */
        int (*on_data)(void *userdata, const char *data, size_t len);
        /* The stream ended: result 0 when the server ended it, -errno when the
         * transfer failed; http_status 0 if no response arrived. The stream is
         * freed right after this returns. */
        void (*on_done)(void *userdata, int result, long http_status, long retry_after_s);
} sv_kube_stream_ops;

int sv_kube_stream_start(sv_kube_client *c, const char *path, const sv_kube_stream_ops *ops,
                         void *userdata, sv_kube_stream **out, sv_error *err);
/* Stops and frees a stream; on_done is not called. NULL is fine. */
void sv_kube_stream_cancel(sv_kube_stream *s);

/* Waits up to timeout_ms for network activity or one of the extra fds, then
 * returns (curl_multi_poll). */
int sv_kube_client_poll(sv_kube_client *c, struct curl_waitfd *extra, unsigned n_extra,
                        int timeout_ms);
/* Moves transfers on and runs on_done of finished streams. */
int sv_kube_client_dispatch(sv_kube_client *c);

/* Percent-encodes a query parameter value. */
int sv_kube_escape(const char *s, char **out);
