/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes what the operator makes of ctnetlink messages (operator/conntrack.c):
 * the input is walked as one datagram of netlink messages, as a dump or the
 * destroy events arrive, each message going through sv_ct_parse_msg. Every
 * parsed entry is checked: a known family, an untouched output on failure,
 * and the same answer from a larger buffer. The seed corpus holds messages
 * captured from the kernel: dump entries (IPv4, IPv6, with counters), a whole
 * dump datagram ending in NLMSG_DONE, and a destroy event. */
#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "operator/conntrack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok) {
        if (!ok)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t off = 0;
        while (size - off >= NLMSG_HDRLEN) {
                struct nlmsghdr h;
                memcpy(&h, data + off, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > size - off)
                        break;
                sv_ct_entry e, untouched;
                memset(&e, 0xa5, sizeof(e));
                untouched = e;
                int r = sv_ct_parse_msg(data + off, h.nlmsg_len, &e);
                check(r == 0 || r == -EBADMSG || r == -ENOMSG);
                if (r == 0) {
                        check(e.family == AF_INET || e.family == AF_INET6);
                        if (!e.has_counters)
                                check(e.bytes[0] == 0 && e.bytes[1] == 0);
                        if (e.family == AF_INET)
                                for (int i = 4; i < 16; i++)
                                        check(e.orig.src[i] == 0 && e.reply.src[i] == 0);
                } else {
                        check(memcmp(&e, &untouched, sizeof(e)) == 0);
                }
                /* The same message in a larger buffer parses the same way. */
                if (size - off > h.nlmsg_len) {
                        sv_ct_entry f;
                        int r2 = sv_ct_parse_msg(data + off, size - off, &f);
                        check(r2 == r);
                        if (r == 0)
                                check(memcmp(&e, &f, sizeof(e)) == 0);
                }
                size_t step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= size - off)
                        break;
                off += step;
        }
        return 0;
}
