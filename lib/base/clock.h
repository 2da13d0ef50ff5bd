/* SPDX-License-Identifier: Apache-2.0 */
/* Time: monotonic milliseconds for timers and deadlines, wall-clock for what
 * is written into API objects. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int64_t sv_monotonic_ms(void);
int64_t sv_monotonic_us(void);
int64_t sv_realtime_us(void);

/* Formats a wall-clock time (microseconds since the epoch) as RFC 3339 in
 * UTC: "2026-11-24T21:30:00.123456Z" (Kubernetes MicroTime) when micro, else
 * "2026-11-24T21:30:00Z" (Time). -ENOBUFS if size is too small. */
int sv_format_rfc3339(int64_t us, int micro, char *buf, size_t size);

/* A uniformly distributed double in [0, 1), for jitter; not for secrets. */
double sv_random_unit(void);
