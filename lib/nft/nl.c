/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/nl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

int sv_nl_open(int bus, struct mnl_socket **out) {
        _cleanup_mnl_socket_ struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
        if (!nl)
                return negative_errno();
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        *out = TAKE_PTR(nl);
        return 0;
}

void sv_nl_drain(struct mnl_socket *nl) {
        char buf[SV_NL_BUF_SIZE];
        while (recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT) > 0 || errno == EINTR)
                ;
}

/* Hands every message of one datagram of n bytes to cb. Lengths are checked
 * by hand, not with mnl_nlmsg_ok, which casts nlmsg_len to int: a length
 * over 2 GiB would pass it. A length that overruns the datagram hides where
 * the next message starts, so the rest is dropped. */
static int walk(const uint8_t *b, size_t n, sv_nl_msg_cb cb, void *userdata,
                sv_nl_read_stats *stats) {
        size_t off = 0;
        while (n - off >= NLMSG_HDRLEN) {
                struct nlmsghdr h;
                memcpy(&h, b + off, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > n - off) {
                        stats->malformed++;
                        return 0;
                }
                int r = cb(b + off, h.nlmsg_len, userdata);
                if (r < 0)
                        return r;
                size_t step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= n - off)
                        break;
                off += step;
        }
        return 0;
}

int sv_nl_read_kernel(struct mnl_socket *nl, void *buf, size_t size, unsigned max_datagrams,
                      sv_nl_msg_cb cb, void *userdata, sv_nl_read_stats *stats) {
        if (!nl || !buf || !size || !cb || !stats)
                return -EINVAL;
        int fd = mnl_socket_get_fd(nl);
        for (unsigned i = 0; i < max_datagrams; i++) {
                struct sockaddr_nl from = {0};
                struct iovec iov = {.iov_base = buf, .iov_len = size};
                struct msghdr msg = {
                        .msg_name = &from,
                        .msg_namelen = sizeof(from),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                };
                ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        if (errno == EINTR)
                                continue;
                        /* The kernel dropped messages for us; the queue
                         * itself still reads. */
                        if (errno == ENOBUFS) {
                                stats->overruns++;
                                continue;
                        }
                        return negative_errno();
                }
                /* Only the kernel speaks for a group; a datagram cut short
                 * cannot be trusted to end where its headers say. */
                if (msg.msg_namelen != sizeof(from) || from.nl_pid != 0 ||
                    (msg.msg_flags & MSG_TRUNC)) {
                        stats->malformed++;
                        continue;
                }
                int r = walk(buf, (size_t)n, cb, userdata, stats);
                if (r < 0)
                        return r;
        }
        return 0;
}
