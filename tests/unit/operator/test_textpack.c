/* SPDX-License-Identifier: Apache-2.0 */
/* Packed texts: what goes in comes out, a status packs small, a damaged pack
 * is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "operator/textpack.h"

static const char status_text[] =
        "{\"conditions\":[{\"lastTransitionTime\":\"2026-12-07T02:21:04Z\",\"message\":\"The spec "
        "is valid and its references resolve.\",\"observedGeneration\":3,\"reason\":\"Accepted\","
        "\"status\":\"True\",\"type\":\"Accepted\"},{\"lastTransitionTime\":\"2026-12-07T02:21:"
        "04Z\",\"message\":\"Programmed on 3 of 4 nodes.\",\"observedGeneration\":3,\"reason\":"
        "\"Programmed\",\"status\":\"True\",\"type\":\"Programmed\"},{\"lastTransitionTime\":"
        "\"2026-12-07T02:21:04Z\",\"message\":\"Ready.\",\"observedGeneration\":3,\"reason\":"
        "\"Ready\",\"status\":\"True\",\"type\":\"Ready\"},{\"lastTransitionTime\":\"2026-12-07T02:"
        "21:04Z\",\"message\":\"Rollout finished.\",\"observedGeneration\":3,\"reason\":"
        "\"Programmed\",\"status\":\"False\",\"type\":\"Reconciling\"},{\"lastTransitionTime\":"
        "\"2026-12-07T02:21:04Z\",\"message\":\"Not stalled.\",\"observedGeneration\":3,"
        "\"reason\":\"Accepted\",\"status\":\"False\",\"type\":\"Stalled\"}],"
        "\"observedGeneration\":3}";

static void round_trip(const char *text, size_t len, sv_packed_text *p) {
        assert_int_equal(sv_text_pack(text, len, p), 0);
        assert_int_equal(p->text_len, len);
        char *back = NULL;
        assert_int_equal(sv_text_unpack(p, &back), 0);
        assert_int_equal(strlen(back), len);
        assert_memory_equal(back, text, len);
        free(back);
}

static void status_packs_small(void **s) {
        sv_packed_text p = {0};
        round_trip(status_text, strlen(status_text), &p);
        /* The dictionary is what makes it small: ~830 bytes in. */
        assert_true(p.len < 120);
        sv_packed_text_done(&p);
        assert_null(p.data);
        sv_packed_text_done(&p);
        sv_packed_text_done(NULL);
}

static void any_text_comes_back(void **s) {
        sv_packed_text p = {0};
        round_trip("", 0, &p);
        sv_packed_text_done(&p);
        round_trip("{}", 2, &p);
        sv_packed_text_done(&p);
        /* Text unlike the dictionary, longer than its window. */
        size_t n = 200000;
        char *noise = malloc(n);
        assert_non_null(noise);
        unsigned v = 12345;
        for (size_t i = 0; i < n; i++) {
                v = v * 1103515245u + 12345u;
                noise[i] = (char)(' ' + (v >> 16) % 95);
        }
        round_trip(noise, n, &p);
        sv_packed_text_done(&p);
        free(noise);
}

static void too_long_is_refused(void **s) {
        sv_packed_text p = {.data = (uint8_t *)s};
        assert_int_equal(sv_text_pack("x", SV_TEXTPACK_MAX + 1u, &p), -EINVAL);
        assert_ptr_equal(p.data, (uint8_t *)s); /* untouched */
}

static void damage_is_refused(void **s) {
        sv_packed_text p = {0};
        round_trip(status_text, strlen(status_text), &p);
        char *out = (char *)s;
        /* Claims a longer or a shorter text than it holds. */
        p.text_len++;
        assert_int_equal(sv_text_unpack(&p, &out), -EBADMSG);
        p.text_len -= 2;
        assert_int_equal(sv_text_unpack(&p, &out), -EBADMSG);
        p.text_len++;
        /* Cut short. */
        uint32_t len = p.len;
        p.len = len / 2;
        assert_int_equal(sv_text_unpack(&p, &out), -EBADMSG);
        p.len = len;
        /* Not a deflate stream at all. */
        memset(p.data, 0xff, p.len);
        assert_int_equal(sv_text_unpack(&p, &out), -EBADMSG);
        assert_ptr_equal(out, (char *)s); /* untouched */
        sv_packed_text_done(&p);
        assert_int_equal(sv_text_unpack(&p, &out), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(status_packs_small),
                cmocka_unit_test(any_text_comes_back),
                cmocka_unit_test(too_long_is_refused),
                cmocka_unit_test(damage_is_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
