/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reads and crash-safe writes of whole files. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads all of fd (a pipe, a socket or a file) up to max bytes. On success
 * *out is a NUL-terminated heap buffer and *len its length. More than max
 * bytes is -EFBIG. */
int sv_read_fd_capped(int fd, size_t max, char **out, size_t *len);

int sv_read_file_capped(const char *path, size_t max, char **out, size_t *len);

#include <limits.h>

#include "base/macro.h"

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. Readers see the old or the
 * new content, never a mix, even across a power cut. */
int sv_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The same in steps, for content made as it is written: open, write any
 * number of times, then commit (puts it in place) or abort (removes the
 * temporary; the cleanup, which accepts a committed or never opened file). */
typedef struct sv_atomic_file {
        int fd; /* -1 when none is open */
        char path[PATH_MAX];
        char tmp[PATH_MAX]; /* "" when there is no temporary to remove */
} sv_atomic_file;
#define SV_ATOMIC_FILE_INIT                                                                        \
        { .fd = -1 }

int sv_atomic_file_open(sv_atomic_file *f, const char *path);
int sv_atomic_file_write(sv_atomic_file *f, const void *data, size_t len);
int sv_atomic_file_commit(sv_atomic_file *f, mode_t mode);
void sv_atomic_file_abort(sv_atomic_file *f);

/* Writes all of buf to fd, retrying short writes and EINTR. */
int sv_write_all(int fd, const void *buf, size_t len);
