/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/httpd.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/parse.h"

/* Bytes handed to lws_write per writeable callback: lws's default service
 * buffer, so a large /metrics never queues a copy inside lws. */
#define CHUNK 4096
/* Concurrent connections (plus lws's own cancel pipe). Below the process's fd
 * limit lws switches to a sparse fd lookup instead of a table as large as the
 * limit. */
#define FD_LIMIT 64

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define TEXT_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct sv_httpd {
        struct lws_context *ctx;
        uint16_t port;
        pthread_t thread;
        bool thread_started;
        atomic_bool stopping;

        const sv_metrics *metrics;
        unsigned heartbeat_timeout_ms;
        _Atomic int64_t heartbeat_ms; /* CLOCK_MONOTONIC */

        pthread_mutex_t lock; /* guards ready and reason */
        bool ready;
        char reason[SV_HTTPD_REASON_MAX];
};

/* Per connection, zeroed by lws; holds the response being written. */
struct session {
        char *body;
        size_t len;
        size_t off;
        bool close; /* the request may carry a body we did not read */
        unsigned char buf[LWS_PRE + CHUNK];
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void session_reset(struct session *ss) {
        free(ss->body);
        ss->body = NULL;
        ss->len = ss->off = 0;
        ss->close = false;
}

int sv_httpd_parse_addr(const char *s, char host[SV_HTTPD_ADDR_MAX], uint16_t *port) {
        if (!s)
                return -EINVAL;
        const char *colon = strrchr(s, ':');
        if (!colon)
                return -EINVAL;

        const char *h = s;
        size_t n = (size_t)(colon - s);
        int family = AF_INET;
        if (s[0] == '[') {
                if (n < 2 || s[n - 1] != ']')
                        return -EINVAL;
                h = s + 1;
                n -= 2;
                family = AF_INET6;
        }
        char buf[SV_HTTPD_ADDR_MAX];
        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, h, n);
        buf[n] = '\0';

        unsigned char addr[sizeof(struct in6_addr)];
        if (inet_pton(family, buf, addr) != 1)
                return -EINVAL;
        uint64_t p;
        int r = sv_parse_uint64(colon + 1, UINT16_MAX, &p);
        if (r < 0)
                return -EINVAL;

        memcpy(host, buf, n + 1);
        *port = (uint16_t)p;
        return 0;
}

static bool healthy(sv_httpd *h) {
        int64_t age = now_ms() - atomic_load_explicit(&h->heartbeat_ms, memory_order_relaxed);
        return age <= (int64_t)h->heartbeat_timeout_ms;
}

static char *readiness(sv_httpd *h, unsigned *status) {
        pthread_mutex_lock(&h->lock);
        *status = h->ready ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
        char *body = strdup(h->ready ? "ok" : h->reason);
        pthread_mutex_unlock(&h->lock);
        return body;
}

/* Chooses status, type and body, then sends the headers; the body follows in
 * writeable callbacks. Returns nonzero to have lws close the connection. */
static int respond(sv_httpd *h, struct lws *wsi, struct session *ss, const char *path) {
        char *uri;
        int uri_len;
        int method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
        bool head = method == LWSHUMETH_HEAD;
        bool known = strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0 ||
                     strcmp(path, "/readyz") == 0;
        const char *type = TEXT_PLAIN;
        unsigned status = HTTP_STATUS_OK;
        char *body = NULL;
        size_t len = 0;

        session_reset(ss);
        if (!known) {
                status = HTTP_STATUS_NOT_FOUND;
                body = strdup("not found");
        } else if (method != LWSHUMETH_GET && !head) {
                status = HTTP_STATUS_METHOD_NOT_ALLOWED;
                body = strdup("method not allowed");
        } else if (strcmp(path, "/metrics") == 0) {
                int r = h->metrics
                                ? sv_metrics_render(h->metrics, SV_HTTPD_METRICS_MAX, &body, &len)
                                : 0;
                if (r < 0) {
                        status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
                        body = strdup("cannot render metrics");
                } else {
                        type = TEXT_METRICS;
                        if (!body)
                                body = strdup("");
                }
        } else if (strcmp(path, "/healthz") == 0) {
                bool ok = healthy(h);
                status = ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
                body = strdup(ok ? "ok" : "main loop stalled");
        } else {
                body = readiness(h, &status);
        }
        if (!body)
                return -1;
        ss->body = body;
        ss->len = strlen(body);
        /* GET and HEAD carry no body to skip; anything else might. */
        ss->close = method != LWSHUMETH_GET && !head;

        unsigned char hdr[LWS_PRE + 512];
        unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
        if (lws_add_http_common_headers(wsi, status, type, ss->len, &p, end) ||
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                         (const unsigned char *)"no-store", 8, &p, end))
                return -1;
        if (status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                        (const unsigned char *)"GET, HEAD", 9, &p, end))
                return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
                return -1;

        if (head || ss->len == 0) {
                bool close = ss->close;
                session_reset(ss);
                if (close)
                        return -1;
                return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        lws_callback_on_writable(wsi);
        return 0;
}

static int write_chunk(struct lws *wsi, struct session *ss) {
        if (!ss->body)
                return 0;
        size_t n = ss->len - ss->off;
        if (n > CHUNK)
                n = CHUNK;
        bool last = ss->off + n == ss->len;
        memcpy(ss->buf + LWS_PRE, ss->body + ss->off, n);
        if (lws_write(wsi, ss->buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
            (int)n)
                return -1;
        ss->off += n;
        if (!last) {
                lws_callback_on_writable(wsi);
                return 0;
        }
        bool close = ss->close;
        session_reset(ss);
        if (close)
                return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
        struct session *ss = user;

        switch (reason) {
        case LWS_CALLBACK_HTTP:
                return respond(lws_context_user(lws_get_context(wsi)), wsi, ss, in);
        case LWS_CALLBACK_HTTP_WRITEABLE:
                return write_chunk(wsi, ss);
        case LWS_CALLBACK_HTTP_BODY:
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
                return 0;
        case LWS_CALLBACK_CLOSED_HTTP:
        case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
                if (ss)
                        session_reset(ss);
                break;
        default:
                break;
        }
        return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
        {.name = "http", .callback = callback, .per_session_data_size = sizeof(struct session)},
        {0},
};

static void *serve(void *arg) {
        sv_httpd *h = arg;
        /* lws_service sleeps in poll until a socket, an lws timer or
         * lws_cancel_service wakes it; stop sets the flag before cancelling. */
        while (!atomic_load(&h->stopping))
                if (lws_service(h->ctx, 0) < 0)
                        break;
        return NULL;
}

/* lws reports no cause when it cannot bind (and errno is not kept), so a
 * trial bind with lws's options tells the caller why: -EADDRINUSE, -EACCES,
 * -EADDRNOTAVAIL. */
static int try_bind(bool v6, const unsigned char *addr, uint16_t port) {
        struct sockaddr_storage ss = {0};
        socklen_t len;
        if (v6) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
                len = sizeof(*sin6);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
                len = sizeof(*sin);
        }
        _cleanup_close_ int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&ss, len) < 0)
                return negative_errno();
        return 0;
}

sv_httpd *sv_httpd_stop(sv_httpd *h) {
        if (!h)
                return NULL;
        if (h->thread_started) {
                atomic_store(&h->stopping, true);
                lws_cancel_service(h->ctx);
                pthread_join(h->thread, NULL);
        }
        /* The service thread is gone, so destroying here cannot race it. */
        if (h->ctx)
                lws_context_destroy(h->ctx);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
}

int sv_httpd_start(const sv_httpd_config *cfg, sv_httpd **out) {
        unsigned char addr[sizeof(struct in6_addr)];
        if (!cfg || !out || !cfg->addr || cfg->heartbeat_timeout_ms == 0)
                return -EINVAL;
        bool v6 = strchr(cfg->addr, ':') != NULL;
        /* Numeric only: lws would also take an interface name, and a name
         * lookup could bind something other than what the operator wrote. */
        if (inet_pton(v6 ? AF_INET6 : AF_INET, cfg->addr, addr) != 1)
                return -EINVAL;

        int r = try_bind(v6, addr, cfg->port);
        if (r < 0)
                return r;

        _cleanup_(sv_httpd_stopp) sv_httpd *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        pthread_mutex_init(&h->lock, NULL);
        snprintf(h->reason, sizeof(h->reason), "starting");
        h->metrics = cfg->metrics;
        h->heartbeat_timeout_ms = cfg->heartbeat_timeout_ms;
        atomic_store(&h->heartbeat_ms, now_ms());

        lws_set_log_level(LLL_ERR, NULL);

        struct lws_context_creation_info info = {
                .options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                           (v6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6),
                .fd_limit_per_thread = FD_LIMIT,
                .user = h,
        };
        h->ctx = lws_create_context(&info);
        if (!h->ctx)
                return -ENOMEM;

        info.port = cfg->port;
        info.iface = cfg->addr;
        info.protocols = protocols;
        info.vhost_name = "selvedge";
        /* Lost a race for the port since try_bind, or listen failed. */
        struct lws_vhost *vh = lws_create_vhost(h->ctx, &info);
        if (!vh)
                return -EADDRNOTAVAIL;
        int port = lws_get_vhost_listen_port(vh);
        if (port <= 0 || port > UINT16_MAX)
                return -EADDRNOTAVAIL;
        h->port = (uint16_t)port;

        /* The thread inherits this mask: signals stay with the threads that
         * expect them (the main loop's handlers or signalfd). */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&h->thread, NULL, serve, h);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return -r;
        h->thread_started = true;

        *out = TAKE_PTR(h);
        return 0;
}

uint16_t sv_httpd_port(const sv_httpd *h) {
        return h ? h->port : 0;
}

void sv_httpd_heartbeat(sv_httpd *h) {
        if (h)
                atomic_store_explicit(&h->heartbeat_ms, now_ms(), memory_order_relaxed);
}

void sv_httpd_set_ready(sv_httpd *h, bool ready, const char *reason) {
        if (!h)
                return;
        pthread_mutex_lock(&h->lock);
        h->ready = ready;
        snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "not ready");
        pthread_mutex_unlock(&h->lock);
}
