/* SPDX-License-Identifier: Apache-2.0 */
/* Strict base64 decoding (RFC 4648 standard alphabet), for the certificate
 * and key data embedded in kubeconfigs and Secrets. */
#pragma once

#include <stddef.h>

/* Decodes len bytes of in (which need not be NUL-terminated). The length must
 * be a multiple of 4 with '=' padding; no whitespace is accepted except one
 * trailing '\n', which YAML block scalars leave behind. Like Go's StdEncoding,
 * non-zero bits under the padding are accepted. On success *out is a heap
 * buffer of *out_len bytes plus a NUL (the data itself may hold NULs).
 * -EINVAL on bad input, -E2BIG if the result would exceed max_out bytes. */
int sv_base64_decode(const char *in, size_t len, size_t max_out, char **out, size_t *out_len);
