/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/strbuf.h"

#define LOG_LINE_MAX 4096

static const char *log_prog = "selvedge";
static enum sv_log_level log_min = SV_LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
        [SV_LOG_DEBUG] = "debug",
        [SV_LOG_INFO] = "info",
        [SV_LOG_WARN] = "warn",
        [SV_LOG_ERROR] = "error",
};

void sv_log_setup(const char *prog, enum sv_log_level min, int fd) {
        log_prog = prog;
        log_min = min;
        log_fd = fd;
}

int sv_log_level_from_string(const char *s, enum sv_log_level *out) {
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *out = (enum sv_log_level)i;
                        return 0;
                }
        return -EINVAL;
}

/* Appends a value, quoted with escapes when it is empty or has special bytes. */
static void append_value(sv_strbuf *sb, const char *v) {
        if (!v)
                v = "";
        bool plain = *v != '\0';
        for (const char *p = v; *p && plain; p++)
                plain = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' &&
                        (unsigned char)*p < 0x7f;
        if (plain) {
                (void)sv_strbuf_appends(sb, v);
                return;
        }
        (void)sv_strbuf_append(sb, "\"", 1);
        for (const char *p = v; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c == '"' || c == '\\')
                        (void)sv_strbuf_appendf(sb, "\\%c", c);
                else if (c == '\n')
                        (void)sv_strbuf_appends(sb, "\\n");
                else if (c < ' ' || c == 0x7f)
                        (void)sv_strbuf_appendf(sb, "\\x%02x", c);
                else
                        (void)sv_strbuf_append(sb, p, 1);
        }
        (void)sv_strbuf_append(sb, "\"", 1);
}

/* Formats a UTC wall-clock time as 2026-11-24T19:40:00.123Z. By arithmetic:
 * glibc's gmtime_r and strftime initialise the time zone on first use, which
 * reads /etc/localtime, and the CNI plugin logs once per short-lived process. */
static void format_utc(const struct timespec *ts, char *buf, size_t size) {
        int64_t secs = ts->tv_sec, days = secs / 86400, rem = secs % 86400;
        if (rem < 0) {
                rem += 86400;
                days--;
        }
        /* The civil date of a day number (Howard Hinnant's civil_from_days):
         * 400-year eras, years starting in March so leap days come last. */
        int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
        int64_t day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
        int64_t year = yoe + era * 400 + (month <= 2);
        (void)snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)year,
                       (int)month, (int)day, (int)(rem / 3600), (int)(rem / 60 % 60),
                       (int)(rem % 60), (int)(ts->tv_nsec / 1000000));
}

void sv_log(enum sv_log_level level, const char *msg, ...) {
        if (level < log_min || log_fd < 0)
                return;

        struct timespec ts;
        char when[64] = "";
        if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
                format_utc(&ts, when, sizeof(when));

        int saved = errno;
        sv_strbuf sb = SV_STRBUF_INIT(LOG_LINE_MAX);
        (void)sv_strbuf_appendf(&sb, "time=%s level=%s prog=", when, level_names[level]);
        append_value(&sb, log_prog);
        (void)sv_strbuf_appends(&sb, " msg=");
        append_value(&sb, msg);

        va_list ap;
        va_start(ap, msg);
        for (const char *k; (k = va_arg(ap, const char *));) {
                const char *v = va_arg(ap, const char *);
                (void)sv_strbuf_appendf(&sb, " %s=", k);
                append_value(&sb, v);
        }
        va_end(ap);
        (void)sv_strbuf_append(&sb, "\n", 1);
        (void)sv_write_all(log_fd, sv_strbuf_str(&sb), sb.len);
        sv_strbuf_done(&sb);
        errno = saved;
}
