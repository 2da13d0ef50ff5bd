/* SPDX-License-Identifier: Apache-2.0 */
/* Retry delays as client-go's reflector has them: 800 ms doubling to 30 s,
 * with jitter so a fleet of nodes does not retry in step, reset once things
 * have worked for two minutes. */
#pragma once

#include <stdint.h>

typedef struct sv_backoff {
        int64_t initial_ms;
        int64_t max_ms;
        int64_t reset_after_ms;
        int64_t current_ms;       /* 0: next failure waits initial_ms */
        int64_t healthy_since_ms; /* -1: not healthy */
} sv_backoff;

#define SV_BACKOFF_INIT                                                                            \
        { .initial_ms = 800, .max_ms = 30000, .reset_after_ms = 120000, .healthy_since_ms = -1 }

/* A failure at now: returns how long to wait. floor_ms (e.g. a server's
 * Retry-After) is honoured when larger. */
int64_t sv_backoff_fail(sv_backoff *b, int64_t now_ms, int64_t floor_ms);

/* Things work from now on; the delay resets once they have kept working for
 * reset_after_ms. */
void sv_backoff_healthy(sv_backoff *b, int64_t now_ms);
