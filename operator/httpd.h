/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's HTTP endpoint (libwebsockets), in a thread of its own:
 *   GET|HEAD /metrics  the registry, text/plain; version=0.0.4
 *   GET|HEAD /healthz  200 "ok" while the main loop calls sv_httpd_heartbeat
 *   GET|HEAD /readyz   200 "ok" once sv_httpd_set_ready(h, true, ...), else
 *                      503 with the reason given
 * Other paths are 404, other methods on these paths 405. The thread sleeps in
 * lws's poll between requests; stop wakes it through lws_cancel_service.
 * The heartbeat and readiness calls are safe from any thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"
#include "operator/metrics.h"

#define SV_HTTPD_ADDR_MAX 64           /* a numeric address, NUL included */
#define SV_HTTPD_REASON_MAX 256        /* readiness reason, longer is cut */
#define SV_HTTPD_METRICS_MAX (8 << 20) /* rendered /metrics; more is a 500 */

typedef struct sv_httpd sv_httpd;

typedef struct sv_httpd_config {
        const char *addr; /* numeric IPv4 or IPv6 address, the only one bound */
        uint16_t port;    /* 0: the kernel picks one, see sv_httpd_port */
        /* Rendered on /metrics, may be NULL (empty text). Its series must all
         * be registered before sv_httpd_start; it must outlive the server. */
        const sv_metrics *metrics;
        unsigned heartbeat_timeout_ms; /* /healthz fails after this long */
} sv_httpd_config;

/* Splits "--metrics-addr" values: "127.0.0.1:9464", "[::1]:9464". The host
 * must be a numeric address (no name lookup, so what is bound is what was
 * written); port 0 is allowed. -EINVAL on anything else. */
int sv_httpd_parse_addr(const char *s, char host[SV_HTTPD_ADDR_MAX], uint16_t *port);

/* Binds, listens and starts the server thread. Not ready until
 * sv_httpd_set_ready; the heartbeat clock starts now. Process-wide effects of
 * lws: its log level is set to errors only, and SIGPIPE is ignored. */
int sv_httpd_start(const sv_httpd_config *cfg, sv_httpd **out);

/* The port actually bound (the kernel's choice when the config said 0). */
uint16_t sv_httpd_port(const sv_httpd *h);

void sv_httpd_heartbeat(sv_httpd *h);

/* reason is copied; it is the 503 body while not ready (NULL: "not ready"). */
void sv_httpd_set_ready(sv_httpd *h, bool ready, const char *reason);

/* Stops the thread, joins it, closes every connection and frees h. Accepts
 * NULL; returns NULL. */
sv_httpd *sv_httpd_stop(sv_httpd *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_httpd *, sv_httpd_stop);
#define _cleanup_httpd_ _cleanup_(sv_httpd_stopp)
