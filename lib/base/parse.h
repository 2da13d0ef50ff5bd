/* SPDX-License-Identifier: Apache-2.0 */
/* Strict number parsing: the whole string must be a number in range. Replaces
 * atoi() and friends, which cannot report errors. */
#pragma once

#include <stdint.h>

/* Decimal only, no sign, no spaces. -EINVAL on syntax, -ERANGE above max. */
int sv_parse_uint64(const char *s, uint64_t max, uint64_t *out);

int sv_parse_port(const char *s, uint16_t *out);
