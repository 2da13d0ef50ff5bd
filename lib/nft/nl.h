/* SPDX-License-Identifier: Apache-2.0 */
/* Netlink sockets shared by the nft layer's files and its users. */
#pragma once

#include <libmnl/libmnl.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- reading what the kernel sends a group ------------------------------ */

/* What sv_nl_read_kernel counts on a socket. The counts are added to as the
 * read goes, also when it then fails: they describe the socket, not a call. */
typedef struct sv_nl_read_stats {
        /* Datagrams from another sender than the kernel or cut short
         * (MSG_TRUNC), and messages whose length overruns their datagram. */
        uint64_t malformed;
        uint64_t overruns; /* times the receive queue overflowed (ENOBUFS) */
} sv_nl_read_stats;

/* Called for each message of a datagram: len bytes (len >= NLMSG_HDRLEN, the
 * header's nlmsg_len, within the datagram; msg need not be aligned). Other
 * returns than negative ones are ignored; a negative one stops the read and
 * is returned. */
typedef int (*sv_nl_msg_cb)(const void *msg, size_t len, void *userdata);

/* Reads what is queued on nl, without blocking, into buf (size bytes, reused
 * for each datagram), at most max_datagrams datagrams so that a flood cannot
 * hold the caller; the fd is still readable then. Hands each message of a
 * datagram from the kernel to cb, in order. Returns 0, or -errno of recvmsg
 * or cb's negative return; -EINVAL for a NULL argument or an empty buf. */
int sv_nl_read_kernel(struct mnl_socket *nl, void *buf, size_t size, unsigned max_datagrams,
                      sv_nl_msg_cb cb, void *userdata, sv_nl_read_stats *stats);
