/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/backoff.h"

#include "base/clock.h"

int64_t sv_backoff_fail(sv_backoff *b, int64_t now_ms, int64_t floor_ms) {
        if (b->healthy_since_ms >= 0 && now_ms - b->healthy_since_ms >= b->reset_after_ms)
                b->current_ms = 0;
        b->healthy_since_ms = -1;
        b->current_ms = b->current_ms == 0 ? b->initial_ms : b->current_ms * 2;
        if (b->current_ms > b->max_ms)
                b->current_ms = b->max_ms;
        /* Jitter up to +50 %, as wait.Jitter(d, 0.5) would. */
        int64_t wait = b->current_ms + (int64_t)(sv_random_unit() * (double)b->current_ms * 0.5);
        return wait > floor_ms ? wait : floor_ms;
}

void sv_backoff_healthy(sv_backoff *b, int64_t now_ms) {
        if (b->healthy_since_ms < 0)
                b->healthy_since_ms = now_ms;
}
