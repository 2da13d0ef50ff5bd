/* SPDX-License-Identifier: Apache-2.0 */
/* Netlink sockets shared by the nft layer's files. */
#pragma once

#include <libmnl/libmnl.h>

#include "base/macro.h"

/* Receive buffer for one read: enough for a dump chunk on any page size. */
#define SV_NL_BUF_SIZE 32768

static inline void mnl_socket_closep(struct mnl_socket **nl) {
        if (*nl)
                mnl_socket_close(*nl);
}
#define _cleanup_mnl_socket_ _cleanup_(mnl_socket_closep)

/* Opens and binds a close-on-exec netlink socket of the given bus. */
int sv_nl_open(int bus, struct mnl_socket **out);

/* Discards whatever answers are still queued on a shared socket (left by a
 * request abandoned on error), so the next exchange reads only its own. */
void sv_nl_drain(struct mnl_socket *nl);
