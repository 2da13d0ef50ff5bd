/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "base/clock.h"
#include "base/fileio.h"
#include "base/strbuf.h"
#include "json/json.h"

#define REQUEST_TIMEOUT_MS 1000

struct sv_agent {
        int fd;
        char *path;
};

void sv_attachment_free(void *p) {
        sv_attachment *a = p;
        if (!a)
                return;
        free(a->chain);
        free(a->namespace);
        free(a->name);
        free(a);
}

int sv_attachment_from_record(const json_t *record, sv_attachment **out, sv_error *err) {
        const char *chain = NULL, *ns = NULL, *name = NULL;
        json_t *ips = NULL, *rec = (json_t *)record;
        int r;
        if ((r = sv_json_get_string(rec, "chain", true, 64, &chain, err)) < 0 ||
            (r = sv_json_get_string(rec, "namespace", true, 63, &ns, err)) < 0 ||
            (r = sv_json_get_string(rec, "name", true, 253, &name, err)) < 0 ||
            (r = sv_json_get_array(rec, "ips", true, 8, &ips, err)) < 0)
                return r;
        sv_attachment *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->chain = strdup(chain);
        a->namespace = strdup(ns);
        a->name = strdup(name);
        if (!a->chain || !a->namespace || !a->name) {
                sv_attachment_free(a);
                return -ENOMEM;
        }
        size_t i;
        json_t *ip;
        json_array_foreach (ips, i, ip) {
                const char *s = json_string_value(ip);
                unsigned char buf[16];
                if (!s || strlen(s) >= SV_IP_MAX ||
                    (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1)) {
                        sv_attachment_free(a);
                        return sv_errorf(err, -EINVAL, SV_CODE_DECODE,
                                         "ips[%zu] is not an IP address", i);
                }
                if (a->n_ips < SV_POD_IPS)
                        memcpy(a->ips[a->n_ips++], s, strlen(s) + 1);
        }
        *out = a;
        return 0;
}

int sv_attachments_load(const char *state_dir, sv_hashmap *attachments, unsigned *skipped) {
        char dir[4096];
        int n = snprintf(dir, sizeof(dir), "%s/pods", state_dir);
        if (n < 0 || (size_t)n >= sizeof(dir))
                return -ENAMETOOLONG;
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                char path[4400];
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                _cleanup_free_ char *text = NULL;
                size_t tlen = 0;
                _cleanup_json_ json_t *rec = NULL;
                sv_attachment *a = NULL;
                sv_error err = SV_ERROR_INIT;
                if (sv_read_file_capped(path, SV_AGENT_REQUEST_MAX, &text, &tlen) < 0 ||
                    sv_json_parse(text, tlen, SV_AGENT_REQUEST_MAX, &rec, &err) < 0 ||
                    sv_attachment_from_record(rec, &a, &err) < 0) {
                        (*skipped)++;
                        continue;
                }
                void *old = NULL;
                r = sv_hashmap_put(attachments, a->chain, a, &old);
                sv_attachment_free(old);
                if (r < 0) {
                        sv_attachment_free(a);
                        break;
                }
                r = 0;
        }
        closedir(d);
        return r;
}

int sv_agent_listen(const char *path, sv_agent **out, sv_error *err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG,
                                 "agent socket path too long: %s", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        const char *dir = dirname(copy);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return sv_errorf(err, -errno, SV_CODE_IO, "creating %s: %m", dir);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return sv_errorf(err, negative_errno(), SV_CODE_IO, "socket: %m");
        /* A socket left by a previous instance would make bind fail. */
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                (void)unlink(path);
        mode_t old = umask(0177);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return sv_errorf(err, negative_errno(), SV_CODE_IO, "binding %s: %m", path);
        if (listen(fd, 64) < 0)
                return sv_errorf(err, negative_errno(), SV_CODE_IO, "listen on %s: %m", path);
        sv_agent *a = calloc(1, sizeof(*a));
        if (!a || !(a->path = strdup(path))) {
                free(a);
                return -ENOMEM;
        }
        a->fd = TAKE_FD(fd);
        *out = a;
        return 0;
}

sv_agent *sv_agent_free(sv_agent *a) {
        if (!a)
                return NULL;
        safe_close(a->fd);
        (void)unlink(a->path);
        free(a->path);
        free(a);
        return NULL;
}

int sv_agent_fd(const sv_agent *a) {
        return a->fd;
}

static int read_request(int fd, sv_strbuf *sb) {
        int64_t deadline = sv_monotonic_ms() + REQUEST_TIMEOUT_MS;
        char buf[4096];
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0)
                        return 0; /* the plugin shut down its writing side */
                if (n > 0) {
                        int r = sv_strbuf_append(sb, buf, (size_t)n);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return negative_errno();
                int64_t left = deadline - sv_monotonic_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
                        return negative_errno();
        }
}

int sv_agent_accept(sv_agent *a, int *conn, json_t **request, sv_error *err) {
        _cleanup_close_ int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0)
                return sv_errorf(err, -EPERM, SV_CODE_INVALID_CONFIG,
                                 "refused a connection from uid %u", (unsigned)cred.uid);
        _cleanup_(sv_strbuf_done) sv_strbuf sb = SV_STRBUF_INIT(SV_AGENT_REQUEST_MAX);
        int r = read_request(fd, &sb);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "reading a request: %s", strerror(-r));
        json_t *req = NULL;
        r = sv_json_parse(sv_strbuf_str(&sb), sb.len, SV_AGENT_REQUEST_MAX, &req, err);
        if (r < 0)
                return r;
        if (!json_is_object(req)) {
                json_decref(req);
                return sv_errorf(err, -EINVAL, SV_CODE_DECODE, "a request must be an object");
        }
        *conn = TAKE_FD(fd);
        *request = req;
        return 0;
}

void sv_agent_reply(int conn, json_t *answer) {
        _cleanup_close_ int fd = conn;
        _cleanup_free_ char *text = json_dumps(answer, JSON_COMPACT);
        if (!text)
                return;
        /* The plugin waits with its own deadline; a slow or gone reader is its
         * problem, not a reason to block the operator. */
        (void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
}
