/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "cni/guard.h"

/* Creates path and its missing parents. The directories almost always exist:
 * try the path itself first, and walk up only when a parent is missing. */
static int mkdir_p(const char *path, mode_t mode) {
        if (mkdir(path, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return negative_errno();
        char buf[PATH_MAX];
        size_t n = strlen(path);
        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char saved = *p;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *p = saved;
                if (!saved)
                        return 0;
        }
}

static int pods_dir(const char *dir, char *out, size_t n) {
        int w = snprintf(out, n, "%s/pods", dir);
        return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int record_path(const char *dir, const char *chain, char *out, size_t n) {
        int w = snprintf(out, n, "%s/pods/%s.json", dir, chain);
        return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int state_prepare(const char *dir) {
        char pods[PATH_MAX];
        int r = pods_dir(dir, pods, sizeof(pods));
        return r < 0 ? r : mkdir_p(pods, 0700);
}

int state_lock(const char *dir, bool exclusive, int *fd) {
        char path[PATH_MAX];
        int w = snprintf(path, sizeof(path), "%s/lock", dir);
        if (w < 0 || (size_t)w >= sizeof(path))
                return -ENAMETOOLONG;
        _cleanup_close_ int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lfd < 0)
                return negative_errno();
        while (flock(lfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
                if (errno != EINTR)
                        return negative_errno();
        *fd = TAKE_FD(lfd);
        return 0;
}

int state_write(const char *dir, const char *chain, json_t *record) {
        char path[PATH_MAX];
        int r = record_path(dir, chain, path, sizeof(path));
        if (r < 0)
                return r;
        _cleanup_free_ char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        return sv_write_file_atomic(path, text, strlen(text), 0600);
}

int state_read(const char *dir, const char *chain, json_t **out) {
        char path[PATH_MAX];
        int r = record_path(dir, chain, path, sizeof(path));
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t len;
        if ((r = sv_read_file_capped(path, STATE_RECORD_MAX, &text, &len)) < 0)
                return r;
        json_t *j = NULL;
        if ((r = sv_json_parse(text, len, STATE_RECORD_MAX, &j, NULL)) < 0)
                return r;
        *out = j;
        return 0;
}

int state_remove(const char *dir, const char *chain) {
        char path[PATH_MAX];
        int r = record_path(dir, chain, path, sizeof(path));
        if (r < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

int state_list(const char *dir, int (*fn)(const char *chain, void *userdata), void *userdata) {
        char pods[PATH_MAX];
        int r = pods_dir(dir, pods, sizeof(pods));
        if (r < 0)
                return r;
        _cleanup_(closedirp) DIR *d = opendir(pods);
        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                const char *dot = strrchr(de->d_name, '.');
                size_t n = dot ? (size_t)(dot - de->d_name) : 0;
                /* Only our own records: pod_<hash>.json; temp files are skipped. */
                if (!dot || strcmp(dot, ".json") != 0 || n >= GUARD_CHAIN_MAX ||
                    strncmp(de->d_name, GUARD_CHAIN_PREFIX, strlen(GUARD_CHAIN_PREFIX)) != 0)
                        continue;
                char chain[GUARD_CHAIN_MAX];
                memcpy(chain, de->d_name, n);
                chain[n] = '\0';
                if ((r = fn(chain, userdata)) < 0)
                        return r;
        }
        return errno ? negative_errno() : 0;
}
