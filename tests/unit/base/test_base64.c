/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "../cmocka-prelude.h"
#include "base/base64.h"
#include "base/macro.h"

/* A reference encoder, to round-trip arbitrary bytes. */
static char *encode(const unsigned char *in, size_t n) {
        static const char abc[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1);
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)in[i] << 16;
                if (i + 1 < n)
                        v |= (unsigned)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                out[o++] = abc[v >> 18 & 63];
                out[o++] = abc[v >> 12 & 63];
                out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
                out[o++] = i + 2 < n ? abc[v & 63] : '=';
        }
        out[o] = '\0';
        return out;
}

static void decode_ok(const char *in, const char *want) {
        _cleanup_free_ char *out = NULL;
        size_t len = 99;
        assert_int_equal(sv_base64_decode(in, strlen(in), 1024, &out, &len), 0);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(out, want, len);
        assert_int_equal(out[len], '\0');
}

static void rfc4648_vectors(void **state) {
        decode_ok("", "");
        decode_ok("Zg==", "f");
        decode_ok("Zm8=", "fo");
        decode_ok("Zm9v", "foo");
        decode_ok("Zm9vYg==", "foob");
        decode_ok("Zm9vYmE=", "fooba");
        decode_ok("Zm9vYmFy", "foobar");
        decode_ok("+/+/", "\xfb\xff\xbf");
}

static void one_trailing_newline_only(void **state) {
        decode_ok("Zm9vYmFy\n", "foobar");
        decode_ok("Zg==\n", "f");
        decode_ok("\n", "");
        const char *bad[] = {"Zm9vYmFy\n\n", "Zm9vYmFy\r\n", "Zm9v\nYmFy", " Zm9v",
                             "Zm9v ",        "Zm9v\t",       "Zm9vYmFy\n "};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char *out = (char *)0x1;
                size_t len = 99;
                assert_int_equal(sv_base64_decode(bad[i], strlen(bad[i]), 1024, &out, &len),
                                 -EINVAL);
                assert_ptr_equal(out, (char *)0x1);
                assert_int_equal(len, 99);
        }
}

static void rejects_bad_input(void **state) {
        const char *bad[] = {
                "Zg",       /* padding is required */
                "Zm8",      /* likewise */
                "Z",        /* not a quantum */
                "Z===",     /* too much padding */
                "====",     /* only padding */
                "Zg==Zg==", /* padding in the middle */
                "Zg=a",     /* data after padding */
                "=Zm9",     /* padding first */
                "Zm9v-_==", /* URL alphabet */
                "Zm9v!A==", /* not base64 at all */
                "Zm9\x80",  /* high byte */
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char *out = (char *)0x1;
                size_t len = 99;
                assert_int_equal(sv_base64_decode(bad[i], strlen(bad[i]), 1024, &out, &len),
                                 -EINVAL);
                assert_ptr_equal(out, (char *)0x1);
        }
        /* An embedded NUL is not part of the alphabet either. */
        char *out = NULL;
        size_t len;
        assert_int_equal(sv_base64_decode("Zm\0v", 4, 1024, &out, &len), -EINVAL);
        assert_int_equal(sv_base64_decode(NULL, 4, 1024, &out, &len), -EINVAL);
}

static void length_is_respected(void **state) {
        /* Bytes past len are not read: the input need not be NUL-terminated. */
        _cleanup_free_ char *out = NULL;
        size_t len;
        assert_int_equal(sv_base64_decode("Zm9v!!!!", 4, 1024, &out, &len), 0);
        assert_string_equal(out, "foo");
}

static void max_out_is_enforced(void **state) {
        _cleanup_free_ char *out = NULL;
        size_t len;
        assert_int_equal(sv_base64_decode("Zm9vYmFy", 8, 5, &out, &len), -E2BIG);
        assert_null(out);
        assert_int_equal(sv_base64_decode("Zm9vYmE=", 8, 5, &out, &len), 0);
        assert_int_equal(len, 5);
}

static void round_trips_all_bytes(void **state) {
        unsigned char data[256 + 2];
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (unsigned char)i;
        for (size_t n = 0; n <= sizeof(data); n++) {
                _cleanup_free_ char *enc = encode(data, n);
                _cleanup_free_ char *out = NULL;
                size_t len = 0;
                assert_int_equal(sv_base64_decode(enc, strlen(enc), n, &out, &len), 0);
                assert_int_equal(len, n);
                assert_memory_equal(out, data, n);
        }
}

static void non_canonical_padding_bits_accepted(void **state) {
        /* Go's StdEncoding accepts these, and so does client-go. */
        decode_ok("Zh==", "f");
        decode_ok("Zm9=", "fo");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(rfc4648_vectors),
                cmocka_unit_test(one_trailing_newline_only),
                cmocka_unit_test(rejects_bad_input),
                cmocka_unit_test(length_is_respected),
                cmocka_unit_test(max_out_is_enforced),
                cmocka_unit_test(round_trips_all_bytes),
                cmocka_unit_test(non_canonical_padding_bits_accepted),
        };
        return cmocka_run_group_tests_name("base/base64", tests, NULL, NULL);
}
