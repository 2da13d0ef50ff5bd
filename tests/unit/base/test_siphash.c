/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/macro.h"
#include "base/siphash.h"

static const uint8_t KEY[SV_SIPHASH_KEY_LEN] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                8, 9, 10, 11, 12, 13, 14, 15};

static uint64_t hash(const uint8_t *key, const void *data, size_t len) {
        sv_siphash s;
        sv_siphash_init(&s, key);
        sv_siphash_update(&s, data, len);
        return sv_siphash_final(&s);
}

/* The paper's example (appendix A: key 00..0f, message 00..0e) and the first
 * entries of the reference implementation's vectors (messages 00..n-1). */
static void reference_vectors(void **state) {
        uint8_t m[64];
        for (size_t i = 0; i < sizeof(m); i++)
                m[i] = (uint8_t)i;
        assert_true(hash(KEY, m, 15) == 0xa129ca6149be45e5ULL);
        assert_true(hash(KEY, m, 0) == 0x726fdb47dd0e0e31ULL);
        assert_true(hash(KEY, m, 1) == 0x74f839c593dc67fdULL);
        assert_true(hash(KEY, m, 8) == 0x93f5f5799a932462ULL);
}

/* Fed in pieces of every size, the hash is the one-call hash. */
static void pieces(void **state) {
        char a[300];
        for (size_t i = 0; i < sizeof(a); i++)
                a[i] = (char)('a' + i % 26);
        uint64_t want = hash(KEY, a, sizeof(a));
        for (size_t step = 1; step <= 20; step++) {
                sv_siphash s;
                sv_siphash_init(&s, KEY);
                for (size_t off = 0; off < sizeof(a); off += step)
                        sv_siphash_update(&s, a + off,
                                          off + step <= sizeof(a) ? step : sizeof(a) - off);
                assert_true(sv_siphash_final(&s) == want);
        }
}

/* The key matters, and so does every byte. */
static void keyed(void **state) {
        uint8_t other[SV_SIPHASH_KEY_LEN];
        memcpy(other, KEY, sizeof(other));
        other[15] ^= 1;
        assert_true(hash(KEY, "state", 5) != hash(other, "state", 5));
        assert_true(hash(KEY, "state", 5) != hash(KEY, "statf", 5));
        uint8_t r1[SV_SIPHASH_KEY_LEN], r2[SV_SIPHASH_KEY_LEN];
        sv_siphash_random_key(r1);
        sv_siphash_random_key(r2);
        assert_memory_not_equal(r1, r2, sizeof(r1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(reference_vectors),
                cmocka_unit_test(pieces),
                cmocka_unit_test(keyed),
        };
        return cmocka_run_group_tests_name("base/siphash", tests, NULL, NULL);
}
