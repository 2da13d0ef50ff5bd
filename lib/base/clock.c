/* SPDX-License-Identifier: Apache-2.0 */
#include "base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

int64_t sv_monotonic_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sv_monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sv_realtime_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int sv_format_rfc3339(int64_t us, int micro, char *buf, size_t size) {
        time_t secs = (time_t)(us / 1000000);
        struct tm tm;
        if (!gmtime_r(&secs, &tm))
                return -EINVAL;
        int n;
        if (micro)
                n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                             (int)(us % 1000000));
        else
                n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

double sv_random_unit(void) {
        static uint64_t state;
        if (state == 0 && getrandom(&state, sizeof(state), GRND_NONBLOCK) != sizeof(state))
                state = (uint64_t)sv_realtime_us();
        state |= 1;
        /* xorshift64*: cheap and good enough for spreading retries. */
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return (double)((state * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}
