/* SPDX-License-Identifier: Apache-2.0 */
/* Retry delays: 800 ms doubling to 30 s, up to +50 % jitter, a floor such as
 * Retry-After honoured, reset only after two minutes of health. The jitter is
 * random, so each property is checked on many draws. */
#include "../cmocka-prelude.h"
#include "base/macro.h"
#include "kube/backoff.h"

#define DRAWS 2000

/* Base delay of the n-th consecutive failure (n from 0), before jitter. */
static int64_t base_of(int n) {
        int64_t d = 800;
        for (int i = 0; i < n && d < 30000; i++)
                d *= 2;
        return d < 30000 ? d : 30000;
}

static void assert_jittered(int64_t wait, int64_t base) {
        if (wait < base || wait > base + base / 2)
                fail_msg("wait %lld outside [%lld, %lld]", (long long)wait, (long long)base,
                         (long long)(base + base / 2));
}

static void first_wait(void **state) {
        int64_t lo = INT64_MAX, hi = 0;
        for (int i = 0; i < DRAWS; i++) {
                sv_backoff b = SV_BACKOFF_INIT;
                int64_t w = sv_backoff_fail(&b, 1000, 0);
                assert_true(w >= 800 && w <= 1200);
                lo = w < lo ? w : lo;
                hi = w > hi ? w : hi;
        }
        /* There is jitter, and it spreads over the range. */
        assert_true(lo < 900);
        assert_true(hi > 1100);
}

static void doubles_up_to_the_cap(void **state) {
        static const int64_t bases[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000};
        for (int rep = 0; rep < DRAWS / 10; rep++) {
                sv_backoff b = SV_BACKOFF_INIT;
                int64_t now = 5000;
                for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
                        assert_int_equal(base_of((int)i), bases[i]);
                        int64_t w = sv_backoff_fail(&b, now, 0);
                        assert_jittered(w, bases[i]);
                        now += w;
                }
        }
}

/* Capped at 30 s, and the jitter on top of the cap is at most 50 %. */
static void cap_with_jitter(void **state) {
        sv_backoff b = SV_BACKOFF_INIT;
        int64_t now = 0, hi = 0;
        for (int i = 0; i < 10; i++)
                now += sv_backoff_fail(&b, now, 0);
        for (int i = 0; i < DRAWS; i++) {
                int64_t w = sv_backoff_fail(&b, now, 0);
                assert_true(w >= 30000 && w <= 45000);
                hi = w > hi ? w : hi;
                now += w;
        }
        assert_true(hi > 40000);
        /* Thousands of failures: no overflow, still capped. */
        for (int i = 0; i < 100000; i++)
                assert_true(sv_backoff_fail(&b, now, 0) <= 45000);
}

static void floor_honoured(void **state) {
        for (int i = 0; i < DRAWS; i++) {
                sv_backoff b = SV_BACKOFF_INIT;
                /* Retry-After: 5 s beats a first wait of at most 1.2 s. */
                assert_int_equal(sv_backoff_fail(&b, 0, 5000), 5000);
                /* A floor below the computed wait changes nothing. */
                assert_jittered(sv_backoff_fail(&b, 5000, 100), 1600);
                /* A floor above the cap is honoured too (429 with Retry-After: 120). */
                assert_int_equal(sv_backoff_fail(&b, 10000, 120000), 120000);
                /* The floor did not disturb the doubling. */
                assert_jittered(sv_backoff_fail(&b, 130000, 0), 6400);
        }
}

static void reset_after_two_minutes_healthy(void **state) {
        for (int i = 0; i < DRAWS / 10; i++) {
                sv_backoff b = SV_BACKOFF_INIT;
                int64_t now = 1000;
                for (int k = 0; k < 8; k++)
                        now += sv_backoff_fail(&b, now, 0);
                assert_int_equal(b.current_ms, 30000);
                sv_backoff_healthy(&b, now);
                /* Repeated healthy calls do not move the start of the spell. */
                sv_backoff_healthy(&b, now + 60000);
                sv_backoff_healthy(&b, now + 119999);
                assert_jittered(sv_backoff_fail(&b, now + 120000, 0), 800);
        }
}

static void no_reset_after_a_short_healthy_spell(void **state) {
        for (int i = 0; i < DRAWS / 10; i++) {
                sv_backoff b = SV_BACKOFF_INIT;
                int64_t now = 1000;
                for (int k = 0; k < 3; k++)
                        now += sv_backoff_fail(&b, now, 0); /* 800, 1600, 3200 */
                sv_backoff_healthy(&b, now);
                /* Healthy for just under two minutes: the delay keeps doubling. */
                now += 119999;
                assert_jittered(sv_backoff_fail(&b, now, 0), 6400);
                /* Short spells do not add up: each failure ends the spell
                 * (3 minutes healthy in all, never 2 in one go). */
                static const int64_t after[] = {12800, 25600};
                for (size_t k = 0; k < ARRAY_SIZE(after); k++) {
                        sv_backoff_healthy(&b, now);
                        sv_backoff_healthy(&b, now + 30000);
                        now += 90000;
                        assert_jittered(sv_backoff_fail(&b, now, 0), after[k]);
                }
                /* Failing without a healthy call in between never resets, however long. */
                now += 10 * 60 * 1000;
                assert_jittered(sv_backoff_fail(&b, now, 0), 30000);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(first_wait),
                cmocka_unit_test(doubles_up_to_the_cap),
                cmocka_unit_test(cap_with_jitter),
                cmocka_unit_test(floor_honoured),
                cmocka_unit_test(reset_after_two_minutes_healthy),
                cmocka_unit_test(no_reset_after_a_short_healthy_spell),
        };
        return cmocka_run_group_tests_name("kube/backoff", tests, NULL, NULL);
}
