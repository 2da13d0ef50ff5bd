/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/error.h"

static void first_error_wins(void **state) {
        sv_error err = SV_ERROR_INIT;
        assert_int_equal(sv_errorf(&err, -EINVAL, SV_CODE_INVALID_CONFIG, "bad %s", "port"),
                         -EINVAL);
        assert_int_equal(sv_errorf(&err, -EIO, SV_CODE_IO, "later"), -EIO);
        assert_int_equal(err.code, SV_CODE_INVALID_CONFIG);
        assert_int_equal(err.errnum, EINVAL);
        assert_string_equal(err.message, "bad port");
}

static void null_error_is_ignored(void **state) {
        assert_int_equal(sv_errorf(NULL, -ENOENT, SV_CODE_IO, "x"), -ENOENT);
        sv_error_prefix(NULL, "ctx: ");
        sv_error_clear(NULL);
}

static void prefix_adds_context(void **state) {
        sv_error err = SV_ERROR_INIT;
        sv_error_prefix(&err, "ignored: ");
        assert_false(sv_error_is_set(&err));
        sv_errorf(&err, -EINVAL, SV_CODE_DECODE, "unexpected token");
        sv_error_prefix(&err, "prevResult: ");
        assert_string_equal(err.message, "prevResult: unexpected token");
}

static void long_message_is_truncated(void **state) {
        sv_error err = SV_ERROR_INIT;
        char big[2 * SV_ERROR_MESSAGE_MAX];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        sv_errorf(&err, -EINVAL, SV_CODE_INVALID_CONFIG, "%s", big);
        assert_int_equal(strlen(err.message), SV_ERROR_MESSAGE_MAX - 1);
        sv_error_prefix(&err, "%s", "more: ");
        assert_int_equal(strlen(err.message), SV_ERROR_MESSAGE_MAX - 1);
        assert_memory_equal(err.message, "more: ", 6);
}

static void code_none_becomes_internal(void **state) {
        sv_error err = SV_ERROR_INIT;
        sv_errorf(&err, -EIO, SV_CODE_NONE, "oops");
        assert_int_equal(err.code, SV_CODE_INTERNAL);
        sv_error_clear(&err);
        assert_false(sv_error_is_set(&err));
        assert_string_equal(err.message, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(first_error_wins),
                cmocka_unit_test(null_error_is_ignored),
                cmocka_unit_test(prefix_adds_context),
                cmocka_unit_test(long_message_is_truncated),
                cmocka_unit_test(code_none_becomes_internal),
        };
        return cmocka_run_group_tests_name("base/error", tests, NULL, NULL);
}
