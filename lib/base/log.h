/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging for the programs only (library code returns errors and
 * never logs; hack/check-layering.sh enforces that). One logfmt line per event:
 *   time=2026-11-24T19:40:00.123Z level=info prog=selvedge-cni msg="pod added" pod=a/b */
#pragma once

#include "base/macro.h"

enum sv_log_level { SV_LOG_DEBUG, SV_LOG_INFO, SV_LOG_WARN, SV_LOG_ERROR };

/* Sets the program name, the minimum level and the destination fd (stderr by
 * default). The fd is not closed by the logger. */
void sv_log_setup(const char *prog, enum sv_log_level min, int fd);

/* Parses "debug", "info", "warn" or "error". */
int sv_log_level_from_string(const char *s, enum sv_log_level *out);

/* Logs msg followed by key/value string pairs, terminated by NULL. Values are
 * quoted and escaped when needed; a line is capped at 4 KiB. */
void sv_log(enum sv_log_level level, const char *msg, ...) __attribute__((sentinel));
