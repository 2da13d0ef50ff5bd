/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/agent.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "base/fileio.h"
#include "base/strbuf.h"

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; -ETIMEDOUT when it passes. */
static int wait_fd(int fd, short events, long long deadline) {
        for (;;) {
                long long left = deadline - now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = events};
                int n = poll(&p, 1, (int)left);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return negative_errno();
        }
}

static int exchange(const char *socket_path, int timeout_ms, const char *req, sv_strbuf *resp) {
        long long deadline = now_ms() + timeout_ms;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                if (errno != EINPROGRESS && errno != EAGAIN)
                        return negative_errno();
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
        }

        size_t len = strlen(req), off = 0;
        while (off < len) {
                ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return negative_errno();
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                off += (size_t)n;
        }
        (void)shutdown(fd, SHUT_WR);

        char buf[4096];
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0)
                        return 0;
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return negative_errno();
                        int r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                int r = sv_strbuf_append(resp, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

int agent_call(const char *socket_path, int timeout_ms, json_t *request, json_t **response,
               sv_error *err) {
        _cleanup_free_ char *req = json_dumps(request, JSON_COMPACT);
        if (!req)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");

        sv_strbuf resp = SV_STRBUF_INIT(AGENT_RESPONSE_MAX);
        int r = exchange(socket_path, timeout_ms, req, &resp);
        if (r < 0) {
                sv_strbuf_done(&resp);
                return sv_errorf(err, r, SV_CODE_TRY_AGAIN,
                                 "mesh agent at %s did not answer: %s (is selvedge-operator "
                                 "running on this node?)",
                                 socket_path, strerror(-r));
        }
        _cleanup_json_ json_t *j = NULL;
        r = sv_json_parse(sv_strbuf_str(&resp), resp.len, AGENT_RESPONSE_MAX, &j, NULL);
        sv_strbuf_done(&resp);
        if (r < 0 || !json_is_object(j))
                return sv_errorf(err, r < 0 ? r : -EPROTO, SV_CODE_TRY_AGAIN,
                                 "mesh agent at %s sent an answer that is not a JSON object",
                                 socket_path);
        if (!json_is_true(json_object_get(j, "ok"))) {
                const char *why = json_string_value(json_object_get(j, "error"));
                return sv_errorf(err, -EPROTO, SV_CODE_TRY_AGAIN, "mesh agent refused: %.200s",
                                 why ? why : "no reason given");
        }
        if (response)
                *response = TAKE_PTR(j);
        return 0;
}
