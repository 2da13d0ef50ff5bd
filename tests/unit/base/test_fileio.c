/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../cmocka-prelude.h"
#include "../testutil.h"
#include "base/fileio.h"
#include "base/macro.h"

static void path_in(void **state, const char *name, char *out, size_t n) {
        snprintf(out, n, "%s/%s", (char *)*state, name);
}

static void atomic_write_then_read(void **state) {
        char path[PATH_MAX];
        path_in(state, "state.json", path, sizeof(path));
        assert_int_equal(sv_write_file_atomic(path, "{\"a\":1}", 7, 0600), 0);
        assert_int_equal(sv_write_file_atomic(path, "{}", 2, 0600), 0);

        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        assert_int_equal(sv_read_file_capped(path, 1024, &buf, &len), 0);
        assert_int_equal(len, 2);
        assert_string_equal(buf, "{}");

        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
}

static void read_is_capped(void **state) {
        char path[PATH_MAX];
        path_in(state, "big", path, sizeof(path));
        assert_int_equal(sv_write_file_atomic(path, "0123456789", 10, 0644), 0);

        char *buf = (char *)0x1;
        size_t len = 99;
        assert_int_equal(sv_read_file_capped(path, 9, &buf, &len), -EFBIG);
        assert_ptr_equal(buf, (char *)0x1); /* untouched on failure */
        assert_int_equal(len, 99);

        _cleanup_free_ char *exact = NULL;
        assert_int_equal(sv_read_file_capped(path, 10, &exact, &len), 0);
        assert_int_equal(len, 10);
}

static void read_large_file_grows(void **state) {
        char path[PATH_MAX];
        path_in(state, "large", path, sizeof(path));
        size_t n = 300000;
        _cleanup_free_ char *data = malloc(n);
        assert_non_null(data);
        for (size_t i = 0; i < n; i++)
                data[i] = (char)('a' + i % 26);
        assert_int_equal(sv_write_file_atomic(path, data, n, 0644), 0);

        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        assert_int_equal(sv_read_file_capped(path, 1 << 20, &buf, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(buf, data, n);
}

static void missing_file_and_no_temp_left(void **state) {
        char path[PATH_MAX];
        path_in(state, "absent", path, sizeof(path));
        _cleanup_free_ char *buf = NULL;
        size_t len;
        assert_int_equal(sv_read_file_capped(path, 10, &buf, &len), -ENOENT);

        /* A write into a missing directory fails and leaves nothing behind. */
        path_in(state, "nodir/file", path, sizeof(path));
        assert_int_equal(sv_write_file_atomic(path, "x", 1, 0644), -ENOENT);
}

/* Files in the test's directory. */
static int entries(void **state) {
        DIR *d = opendir((char *)*state);
        assert_non_null(d);
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

static void atomic_file_in_steps(void **state) {
        char path[PATH_MAX];
        path_in(state, "state.json", path, sizeof(path));
        assert_int_equal(sv_write_file_atomic(path, "old", 3, 0600), 0);

        /* Aborted: the old content stays, no temporary is left. */
        {
                _cleanup_(sv_atomic_file_abort) sv_atomic_file f = SV_ATOMIC_FILE_INIT;
                assert_int_equal(sv_atomic_file_open(&f, path), 0);
                assert_int_equal(sv_atomic_file_write(&f, "new", 3), 0);
                assert_int_equal(entries(state), 2);
        }
        assert_int_equal(entries(state), 1);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        assert_int_equal(sv_read_file_capped(path, 64, &buf, &len), 0);
        assert_string_equal(buf, "old");

        /* Written in pieces and committed: the new content, whole. */
        _cleanup_(sv_atomic_file_abort) sv_atomic_file f = SV_ATOMIC_FILE_INIT;
        assert_int_equal(sv_atomic_file_open(&f, path), 0);
        assert_int_equal(sv_atomic_file_open(&f, path), -EINVAL); /* already open */
        assert_int_equal(sv_atomic_file_write(&f, "{\"a\":", 5), 0);
        assert_int_equal(sv_atomic_file_write(&f, "1}", 2), 0);
        assert_int_equal(sv_atomic_file_commit(&f, 0640), 0);
        free(buf);
        buf = NULL;
        assert_int_equal(sv_read_file_capped(path, 64, &buf, &len), 0);
        assert_string_equal(buf, "{\"a\":1}");
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0640);
        /* Done: nothing more goes in, and the abort at the end removes nothing. */
        assert_int_equal(sv_atomic_file_write(&f, "x", 1), -EBADF);
        assert_int_equal(sv_atomic_file_commit(&f, 0600), -EBADF);
        sv_atomic_file_abort(&f);
        assert_int_equal(entries(state), 1);

        /* Never opened: abort is a no-op. */
        sv_atomic_file none = SV_ATOMIC_FILE_INIT;
        sv_atomic_file_abort(&none);
        sv_atomic_file_abort(NULL);
}

static void write_all_to_pipe(void **state) {
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        assert_int_equal(sv_write_all(fds[1], "hello", 5), 0);
        close(fds[1]);
        _cleanup_close_ int rfd = fds[0];
        _cleanup_free_ char *buf = NULL;
        size_t len;
        assert_int_equal(sv_read_fd_capped(rfd, 64, &buf, &len), 0);
        assert_string_equal(buf, "hello");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(atomic_write_then_read, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(read_is_capped, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(read_large_file_grows, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(missing_file_and_no_temp_left, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test_setup_teardown(atomic_file_in_steps, sv_test_dir_make,
                                                sv_test_dir_remove),
                cmocka_unit_test(write_all_to_pipe),
        };
        return cmocka_run_group_tests_name("base/fileio", tests, NULL, NULL);
}
