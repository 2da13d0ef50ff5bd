/* SPDX-License-Identifier: Apache-2.0 */
/* SipHash-2-4 (Aumasson and Bernstein), streaming: a keyed 64-bit hash fast
 * enough for megabytes (0.5 ms per MB here; SHA-256 takes 4). Under a random
 * secret key nobody can choose inputs that collide (it is a PRF), so a
 * digest can stand in for a text that is only ever compared: the operator
 * keeps the hash and length of the state it applied, not its megabytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SV_SIPHASH_KEY_LEN 16

typedef struct sv_siphash {
        uint64_t v[4];
        uint64_t tail; /* the last len % 8 bytes, little-endian */
        uint64_t len;
} sv_siphash;

void sv_siphash_init(sv_siphash *s, const uint8_t key[SV_SIPHASH_KEY_LEN]);
void sv_siphash_update(sv_siphash *s, const void *data, size_t len);
uint64_t sv_siphash_final(const sv_siphash *s);

/* A random key (getrandom; without entropy, early at boot, a weaker one from
 * the clock and addresses: still unknown to a tenant). */
void sv_siphash_random_key(uint8_t key[SV_SIPHASH_KEY_LEN]);
