/* SPDX-License-Identifier: Apache-2.0 */
#include "../cmocka-prelude.h"
#include "base/parse.h"

#include <errno.h>

static void parses_valid_numbers(void **state) {
        uint64_t v = 7;
        assert_int_equal(sv_parse_uint64("0", 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(sv_parse_uint64("18446744073709551615", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);
}

static void rejects_bad_syntax_without_writing(void **state) {
        const char *bad[] = {"", " 1", "1 ", "-1", "+1", "1x", "0x10", "01", "1.0"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t v = 42;
                assert_int_equal(sv_parse_uint64(bad[i], UINT64_MAX, &v), -EINVAL);
                assert_int_equal(v, 42);
        }
        uint64_t v = 42;
        assert_int_equal(sv_parse_uint64(NULL, 1, &v), -EINVAL);
}

static void rejects_out_of_range(void **state) {
        uint64_t v = 42;
        assert_int_equal(sv_parse_uint64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(sv_parse_uint64("11", 10, &v), -ERANGE);
        assert_int_equal(v, 42);
}

static void ports(void **state) {
        uint16_t p = 1;
        assert_int_equal(sv_parse_port("65535", &p), 0);
        assert_int_equal(p, 65535);
        assert_int_equal(sv_parse_port("0", &p), -ERANGE);
        assert_int_equal(sv_parse_port("65536", &p), -ERANGE);
        assert_int_equal(p, 65535);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_valid_numbers),
                cmocka_unit_test(rejects_bad_syntax_without_writing),
                cmocka_unit_test(rejects_out_of_range),
                cmocka_unit_test(ports),
        };
        return cmocka_run_group_tests_name("base/parse", tests, NULL, NULL);
}
