/* SPDX-License-Identifier: Apache-2.0 */
#include "base/siphash.h"

#include <endian.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t le64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return le64toh(v);
}

static void round_(uint64_t v[4]) {
        v[0] += v[1];
        v[1] = ROTL(v[1], 13);
        v[1] ^= v[0];
        v[0] = ROTL(v[0], 32);
        v[2] += v[3];
        v[3] = ROTL(v[3], 16);
        v[3] ^= v[2];
        v[0] += v[3];
        v[3] = ROTL(v[3], 21);
        v[3] ^= v[0];
        v[2] += v[1];
        v[1] = ROTL(v[1], 17);
        v[1] ^= v[2];
        v[2] = ROTL(v[2], 32);
}

static void compress(uint64_t v[4], uint64_t m) {
        v[3] ^= m;
        round_(v);
        round_(v);
        v[0] ^= m;
}

void sv_siphash_init(sv_siphash *s, const uint8_t key[SV_SIPHASH_KEY_LEN]) {
        uint64_t k0 = le64(key), k1 = le64(key + 8);
        *s = (sv_siphash){.v = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                                k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL}};
}

void sv_siphash_update(sv_siphash *s, const void *data, size_t len) {
        const uint8_t *p = data, *end = p + len;
        /* Complete a word left over from the last call first. */
        while (s->len % 8 != 0 && p < end) {
                s->tail |= (uint64_t)*p++ << (8 * (s->len % 8));
                if (++s->len % 8 == 0) {
                        compress(s->v, s->tail);
                        s->tail = 0;
                }
        }
        for (; end - p >= 8; p += 8) {
                compress(s->v, le64(p));
                s->len += 8;
        }
        for (; p < end; p++, s->len++)
                s->tail |= (uint64_t)*p << (8 * (s->len % 8));
}

uint64_t sv_siphash_final(const sv_siphash *s) {
        uint64_t v[4] = {s->v[0], s->v[1], s->v[2], s->v[3]};
        compress(v, s->tail | s->len << 56);
        v[2] ^= 0xff;
        for (int i = 0; i < 4; i++)
                round_(v);
        return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void sv_siphash_random_key(uint8_t key[SV_SIPHASH_KEY_LEN]) {
        if (getrandom(key, SV_SIPHASH_KEY_LEN, GRND_NONBLOCK) == SV_SIPHASH_KEY_LEN)
                return;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t a = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)key,
                 b = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&ts;
        memcpy(key, &a, 8);
        memcpy(key + 8, &b, 8);
}
