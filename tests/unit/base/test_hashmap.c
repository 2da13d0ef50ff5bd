/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/hashmap.h"
#include "base/macro.h"

static void put_get_replace_remove(void **state) {
        _cleanup_(sv_hashmap_freep) sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new(&m), 0);
        int a = 1, b = 2;
        void *old = (void *)0x1;

        assert_int_equal(sv_hashmap_put(m, "default/web", &a, &old), 0);
        assert_null(old);
        assert_ptr_equal(sv_hashmap_get(m, "default/web"), &a);
        assert_null(sv_hashmap_get(m, "default/we"));
        assert_null(sv_hashmap_get(m, "default/web2"));
        assert_int_equal(sv_hashmap_size(m), 1);

        assert_int_equal(sv_hashmap_put(m, "default/web", &b, &old), 1);
        assert_ptr_equal(old, &a);
        assert_ptr_equal(sv_hashmap_get(m, "default/web"), &b);
        assert_int_equal(sv_hashmap_size(m), 1);

        assert_int_equal(sv_hashmap_remove(m, "default/web", &old), 0);
        assert_ptr_equal(old, &b);
        assert_null(sv_hashmap_get(m, "default/web"));
        assert_int_equal(sv_hashmap_size(m), 0);

        old = (void *)0x1;
        assert_int_equal(sv_hashmap_remove(m, "default/web", &old), -ENOENT);
        assert_ptr_equal(old, (void *)0x1); /* untouched on failure */
        assert_int_equal(sv_hashmap_remove(m, "default/web", NULL), -ENOENT);
}

static void keys_are_copied(void **state) {
        _cleanup_(sv_hashmap_freep) sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new(&m), 0);
        char key[] = "kube-system/dns";
        int v = 7;
        assert_int_equal(sv_hashmap_put(m, key, &v, NULL), 0);
        key[0] = 'X';
        assert_ptr_equal(sv_hashmap_get(m, "kube-system/dns"), &v);
        assert_null(sv_hashmap_get(m, key));

        size_t it = 0;
        const char *k = NULL;
        assert_true(sv_hashmap_next(m, &it, &k, NULL));
        assert_string_equal(k, "kube-system/dns");
        assert_ptr_not_equal(k, key);
        assert_false(sv_hashmap_next(m, &it, &k, NULL));
}

static void edge_keys_and_null(void **state) {
        assert_null(sv_hashmap_free(NULL));
        assert_int_equal(sv_hashmap_size(NULL), 0);
        assert_null(sv_hashmap_get(NULL, "x"));
        size_t it = 0;
        assert_false(sv_hashmap_next(NULL, &it, NULL, NULL));

        _cleanup_(sv_hashmap_freep) sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new(&m), 0);
        int v = 1;
        assert_int_equal(sv_hashmap_put(m, "", &v, NULL), 0);
        assert_ptr_equal(sv_hashmap_get(m, ""), &v);
        assert_int_equal(sv_hashmap_put(m, NULL, &v, NULL), -EINVAL);
        assert_null(sv_hashmap_get(m, NULL));

        /* Keys are capped; a failed put leaves the map as it was. */
        char *long_key = malloc(SV_HASHMAP_KEY_MAX + 2);
        assert_non_null(long_key);
        memset(long_key, 'k', SV_HASHMAP_KEY_MAX + 1);
        long_key[SV_HASHMAP_KEY_MAX + 1] = '\0';
        void *old = (void *)0x1;
        assert_int_equal(sv_hashmap_put(m, long_key, &v, &old), -EINVAL);
        assert_ptr_equal(old, (void *)0x1);
        assert_int_equal(sv_hashmap_size(m), 1);
        long_key[SV_HASHMAP_KEY_MAX] = '\0';
        assert_int_equal(sv_hashmap_put(m, long_key, &v, NULL), 0);
        assert_ptr_equal(sv_hashmap_get(m, long_key), &v);
        free(long_key);

        /* NULL values are allowed; get cannot tell them from absence. */
        assert_int_equal(sv_hashmap_put(m, "null", NULL, NULL), 0);
        assert_null(sv_hashmap_get(m, "null"));
        assert_int_equal(sv_hashmap_size(m), 3);
        assert_int_equal(sv_hashmap_remove(m, "null", NULL), 0);
}

/* Values are the key's number plus one, so every entry can be checked. */
#define N 100000

static void key_of(size_t i, char *buf, size_t n) {
        snprintf(buf, n, "namespace-%zu/pod-%zu", i % 97, i);
}

static void check_by_iteration(sv_hashmap *m, const unsigned char *want) {
        static unsigned char seen[N];
        memset(seen, 0, sizeof(seen));
        size_t it = 0, count = 0;
        const char *k;
        void *v;
        while (sv_hashmap_next(m, &it, &k, &v)) {
                size_t i = (size_t)(uintptr_t)v - 1;
                assert_true(i < N);
                assert_true(want[i]);
                assert_false(seen[i]);
                char key[64];
                key_of(i, key, sizeof(key));
                assert_string_equal(k, key);
                seen[i] = 1;
                count++;
        }
        assert_false(sv_hashmap_next(m, &it, &k, &v)); /* stays finished */
        assert_int_equal(count, sv_hashmap_size(m));
        assert_memory_equal(seen, want, N);
}

static void hundred_thousand(void **state) {
        _cleanup_(sv_hashmap_freep) sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new(&m), 0);
        static unsigned char want[N];
        char key[64];

        for (size_t i = 0; i < N; i++) {
                key_of(i, key, sizeof(key));
                assert_int_equal(sv_hashmap_put(m, key, (void *)(uintptr_t)(i + 1), NULL), 0);
                want[i] = 1;
        }
        assert_int_equal(sv_hashmap_size(m), N);
        check_by_iteration(m, want);

        /* Replacing during iteration is allowed. */
        size_t it = 0;
        const char *k;
        void *v;
        while (sv_hashmap_next(m, &it, &k, &v)) {
                void *old = NULL;
                assert_int_equal(sv_hashmap_put(m, k, v, &old), 1);
                assert_ptr_equal(old, v);
        }

        /* Remove two thirds, in an order unrelated to insertion. */
        size_t left = N;
        for (size_t j = 0; j < N; j++) {
                size_t i = (j * 7919) % N;
                if (i % 3 == 0)
                        continue;
                key_of(i, key, sizeof(key));
                void *old = NULL;
                assert_int_equal(sv_hashmap_remove(m, key, &old), 0);
                assert_int_equal((uintptr_t)old, i + 1);
                want[i] = 0;
                left--;
        }
        assert_int_equal(sv_hashmap_size(m), left);
        for (size_t i = 0; i < N; i++) {
                key_of(i, key, sizeof(key));
                void *got = sv_hashmap_get(m, key);
                if (want[i])
                        assert_int_equal((uintptr_t)got, i + 1);
                else
                        assert_null(got);
        }
        check_by_iteration(m, want);

        /* Re-insert some, then empty the map entirely (it shrinks as it goes). */
        for (size_t i = 1; i < N; i += 3) {
                key_of(i, key, sizeof(key));
                assert_int_equal(sv_hashmap_put(m, key, (void *)(uintptr_t)(i + 1), NULL), 0);
                want[i] = 1;
                left++;
        }
        assert_int_equal(sv_hashmap_size(m), left);
        check_by_iteration(m, want);
        for (size_t i = 0; i < N; i++) {
                if (!want[i])
                        continue;
                key_of(i, key, sizeof(key));
                assert_int_equal(sv_hashmap_remove(m, key, NULL), 0);
                want[i] = 0;
        }
        assert_int_equal(sv_hashmap_size(m), 0);
        it = 0;
        assert_false(sv_hashmap_next(m, &it, NULL, NULL));
        assert_int_equal(sv_hashmap_put(m, "again", (void *)1, NULL), 0);
        assert_int_equal((uintptr_t)sv_hashmap_get(m, "again"), 1);
}

/* Random puts and removes over a few keys, checked against a plain array: small
 * tables wrap around their end and grow and shrink again and again. */
static void random_ops_match_model(void **state) {
        _cleanup_(sv_hashmap_freep) sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new(&m), 0);
        enum { KEYS = 200 };
        uintptr_t model[KEYS] = {0};
        size_t size = 0;
        uint32_t rng = 12345;
        char key[16];
        for (size_t op = 0; op < 200000; op++) {
                rng = rng * 1103515245u + 12345u;
                /* Vary the live range so the table keeps resizing. */
                size_t span = op / 5000 % 2 ? KEYS : 12;
                size_t i = (rng >> 8) % span;
                snprintf(key, sizeof(key), "k%zu", i);
                if (rng >> 31) {
                        void *old = (void *)0x1;
                        int r = sv_hashmap_put(m, key, (void *)(uintptr_t)(op + 1), &old);
                        assert_int_equal(r, model[i] ? 1 : 0);
                        assert_int_equal((uintptr_t)old, model[i]);
                        size += !model[i];
                        model[i] = op + 1;
                } else {
                        void *old = NULL;
                        int r = sv_hashmap_remove(m, key, &old);
                        assert_int_equal(r, model[i] ? 0 : -ENOENT);
                        if (model[i]) {
                                assert_int_equal((uintptr_t)old, model[i]);
                                model[i] = 0;
                                size--;
                        }
                }
                assert_int_equal(sv_hashmap_size(m), size);
                if (op % 997 == 0)
                        for (size_t j = 0; j < KEYS; j++) {
                                snprintf(key, sizeof(key), "k%zu", j);
                                assert_int_equal((uintptr_t)sv_hashmap_get(m, key), model[j]);
                        }
        }
}

static unsigned values_freed;
static void count_free(void *v) {
        values_freed += *(unsigned *)v;
}

/* free_with hands every value, and only the values, to its function once. */
static void free_with_frees_each_value(void **state) {
        sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new(&m), 0);
        unsigned weights[40];
        char key[16];
        for (unsigned i = 0; i < 40; i++) {
                weights[i] = 1u << (i % 20);
                snprintf(key, sizeof(key), "k%u", i);
                assert_int_equal(sv_hashmap_put(m, key, &weights[i], NULL), 0);
        }
        /* A removed entry's value is the caller's again, not freed by the map. */
        assert_int_equal(sv_hashmap_remove(m, "k0", NULL), 0);
        values_freed = 0;
        assert_null(sv_hashmap_free_with(m, count_free));
        unsigned want = 0;
        for (unsigned i = 1; i < 40; i++)
                want += weights[i];
        assert_int_equal(values_freed, want);
        assert_null(sv_hashmap_free_with(NULL, count_free));
}

/* A borrowing map keeps the caller's key itself: a replacement installs the
 * new key (the old one is freed by the caller, and lookups still work), and
 * neither removal nor the map's end frees a key (ASan would see it). */
typedef struct named {
        int value;
        unsigned room; /* SV_HASHMAP_KEY_ROOM bytes before the key */
        char key[];
} named;

static named *named_new(const char *key, int value) {
        named *n = malloc(sizeof(*n) + strlen(key) + 1);
        assert_non_null(n);
        n->value = value;
        memcpy(n->key, key, strlen(key) + 1);
        return n;
}

static void borrowed_keys(void **state) {
        sv_hashmap *m = NULL;
        assert_int_equal(sv_hashmap_new_borrowing(&m), 0);
        named *all[300];
        char key[32];
        for (int i = 0; i < 300; i++) {
                snprintf(key, sizeof(key), "ns/pod-%d", i);
                all[i] = named_new(key, i);
                assert_int_equal(sv_hashmap_put(m, all[i]->key, all[i], NULL), 0);
        }
        /* Replaced: the old entry goes, the new key is the map's. */
        named *again = named_new("ns/pod-7", 1007), *old = NULL;
        assert_int_equal(sv_hashmap_put(m, again->key, again, (void **)&old), 1);
        assert_ptr_equal(old, all[7]);
        free(old);
        all[7] = again;
        assert_int_equal(((named *)sv_hashmap_get(m, "ns/pod-7"))->value, 1007);
        size_t it = 0;
        const char *k;
        bool seen = false;
        while (sv_hashmap_next(m, &it, &k, NULL))
                seen |= k == again->key;
        assert_true(seen);
        /* Removals shift later entries back by their hashes, kept in the
         * room before each key. */
        for (int i = 0; i < 300; i += 2) {
                snprintf(key, sizeof(key), "ns/pod-%d", i);
                assert_int_equal(sv_hashmap_remove(m, key, NULL), 0);
                free(TAKE_PTR(all[i]));
        }
        for (int i = 1; i < 300; i += 2) {
                snprintf(key, sizeof(key), "ns/pod-%d", i);
                named *n = sv_hashmap_get(m, key);
                assert_non_null(n);
                assert_int_equal(n->value, i == 7 ? 1007 : i);
        }
        assert_int_equal(sv_hashmap_size(m), 150);
        sv_hashmap_free(m);
        for (int i = 0; i < 300; i++)
                free(all[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(put_get_replace_remove),
                cmocka_unit_test(borrowed_keys),
                cmocka_unit_test(keys_are_copied),
                cmocka_unit_test(edge_keys_and_null),
                cmocka_unit_test(hundred_thousand),
                cmocka_unit_test(random_ops_match_model),
                cmocka_unit_test(free_with_frees_each_value),
        };
        return cmocka_run_group_tests_name("base/hashmap", tests, NULL, NULL);
}
