/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/strbuf.h"

static void appends_and_formats(void **state) {
        sv_strbuf sb = SV_STRBUF_INIT(1024);
        assert_string_equal(sv_strbuf_str(&sb), "");
        assert_int_equal(sv_strbuf_appends(&sb, "table inet "), 0);
        assert_int_equal(sv_strbuf_appendf(&sb, "%s { %d }", "selvedge", 42), 0);
        assert_string_equal(sv_strbuf_str(&sb), "table inet selvedge { 42 }");
        assert_int_equal(sb.len, strlen("table inet selvedge { 42 }"));
        sv_strbuf_done(&sb);
        sv_strbuf_done(&sb); /* twice is harmless */
}

static void cap_is_enforced_and_buffer_unchanged(void **state) {
        sv_strbuf sb = SV_STRBUF_INIT(8);
        assert_int_equal(sv_strbuf_appends(&sb, "12345678"), 0);
        assert_int_equal(sv_strbuf_appends(&sb, "9"), -ENOBUFS);
        assert_int_equal(sv_strbuf_appendf(&sb, "%d", 9), -ENOBUFS);
        assert_string_equal(sv_strbuf_str(&sb), "12345678");
        assert_int_equal(sb.len, 8);
        sv_strbuf_done(&sb);
}

static void grows_across_many_appends(void **state) {
        sv_strbuf sb = SV_STRBUF_INIT(1 << 20);
        for (int i = 0; i < 10000; i++)
                assert_int_equal(sv_strbuf_appendf(&sb, "%04d\n", i % 10000), 0);
        assert_int_equal(sb.len, 50000);
        assert_memory_equal(sv_strbuf_str(&sb) + 49995, "9999\n", 5);
        sv_strbuf_done(&sb);
}

static void steal_transfers_ownership(void **state) {
        sv_strbuf sb = SV_STRBUF_INIT(64);
        _cleanup_free_ char *empty = sv_strbuf_steal(&sb);
        assert_string_equal(empty, "");
        assert_int_equal(sv_strbuf_appends(&sb, "x"), 0);
        _cleanup_free_ char *s = sv_strbuf_steal(&sb);
        assert_string_equal(s, "x");
        assert_null(sb.data);
        assert_int_equal(sb.len, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(appends_and_formats),
                cmocka_unit_test(cap_is_enforced_and_buffer_unchanged),
                cmocka_unit_test(grows_across_many_appends),
                cmocka_unit_test(steal_transfers_ownership),
        };
        return cmocka_run_group_tests_name("base/strbuf", tests, NULL, NULL);
}
