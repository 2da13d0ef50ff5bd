/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fileio.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/macro.h"

/* read() that retries EINTR. */
static ssize_t read_retry(int fd, void *buf, size_t n) {
        ssize_t r;
        do
                r = read(fd, buf, n);
        while (r < 0 && errno == EINTR);
        return r;
}

int sv_read_fd_capped(int fd, size_t max, char **out, size_t *len) {
        size_t alloc = max < 4096 ? max + 1 : 4096, used = 0;
        _cleanup_free_ char *buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                if (used == alloc - 1) {
                        if (used >= max) {
                                /* Full at the cap: only EOF now keeps us in bounds. */
                                char probe;
                                ssize_t n = read_retry(fd, &probe, 1);
                                if (n < 0)
                                        return negative_errno();
                                if (n > 0)
                                        return -EFBIG;
                                break;
                        }
                        size_t next = alloc > (max + 1) / 2 ? max + 1 : alloc * 2;
                        char *p = realloc(buf, next);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = next;
                }
                ssize_t n = read_retry(fd, buf + used, alloc - 1 - used);
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                used += (size_t)n;
        }
        buf[used] = '\0';
        *out = TAKE_PTR(buf);
        *len = used;
        return 0;
}

int sv_read_file_capped(const char *path, size_t max, char **out, size_t *len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        return sv_read_fd_capped(fd, max, out, len);
}

int sv_write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int fsync_parent_dir(const char *path) {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        if (!slash)
                return 0; /* relative to cwd: nothing more we can name */
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof(dir))
                return -ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';

        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return fsync(fd) < 0 ? negative_errno() : 0;
}

int sv_atomic_file_open(sv_atomic_file *f, const char *path) {
        if (!f || !path || f->fd >= 0)
                return -EINVAL;
        size_t n = strlen(path);
        if (n >= sizeof(f->path))
                return -ENAMETOOLONG;
        char tmp[PATH_MAX];
        int k = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
        if (k < 0 || (size_t)k >= sizeof(tmp))
                return -ENAMETOOLONG;
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        f->fd = fd;
        memcpy(f->path, path, n + 1);
        memcpy(f->tmp, tmp, (size_t)k + 1);
        return 0;
}

int sv_atomic_file_write(sv_atomic_file *f, const void *data, size_t len) {
        if (!f || f->fd < 0)
                return -EBADF;
        return sv_write_all(f->fd, data, len);
}

int sv_atomic_file_commit(sv_atomic_file *f, mode_t mode) {
        if (!f || f->fd < 0)
                return -EBADF;
        int r = 0;
        if (fchmod(f->fd, mode) < 0 || fsync(f->fd) < 0)
                r = negative_errno();
        if (r >= 0 && rename(f->tmp, f->path) < 0)
                r = negative_errno();
        if (r < 0)
                return r; /* the temporary goes with sv_atomic_file_abort */
        f->tmp[0] = '\0';
        (void)close(f->fd);
        f->fd = -1;
        return fsync_parent_dir(f->path);
}

void sv_atomic_file_abort(sv_atomic_file *f) {
        if (!f)
                return;
        if (f->fd >= 0)
                (void)close(f->fd);
        f->fd = -1;
        if (f->tmp[0])
                (void)unlink(f->tmp);
        f->tmp[0] = '\0';
}

int sv_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_(sv_atomic_file_abort) sv_atomic_file f = SV_ATOMIC_FILE_INIT;
        int r = sv_atomic_file_open(&f, path);
        if (r >= 0)
                r = sv_atomic_file_write(&f, data, len);
        if (r >= 0)
                r = sv_atomic_file_commit(&f, mode);
        return r;
}
