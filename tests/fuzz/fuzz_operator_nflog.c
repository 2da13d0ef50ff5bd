/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes what the operator makes of nfnetlink_log datagrams: the input is
 * walked as one datagram of netlink messages, the way sv_nflog_read does,
 * each message going through sv_nflog_parse_msg; the whole input also goes
 * through sv_nflog_parse_ip as the start of an IP packet. Every parsed packet
 * is checked: bounded strings, addresses that read back, ports only for
 * protocols that have them. The seed corpus holds datagrams captured from the
 * kernel (single packets, IPv4 and IPv6, and a batch ending in NLMSG_DONE). */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "operator/nflog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok) {
        if (!ok)
                __builtin_trap();
}

static void check_addr(int family, const char *s) {
        unsigned char buf[16];
        check(strnlen(s, INET6_ADDRSTRLEN) < INET6_ADDRSTRLEN);
        check(inet_pton(family, s, buf) == 1);
}

static void check_packet(const sv_nflog_packet *p) {
        check(p->family == AF_INET || p->family == AF_INET6);
        check_addr(p->family, p->src);
        check_addr(p->family, p->dst);
        check(strnlen(p->prefix, sizeof(p->prefix)) < sizeof(p->prefix));
        bool ports = p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP ||
                     p->proto == IPPROTO_UDPLITE || p->proto == IPPROTO_SCTP ||
                     p->proto == IPPROTO_DCCP;
        if (!ports)
                check(p->sport == 0 && p->dport == 0);
}

static bool same_packet(const sv_nflog_packet *a, const sv_nflog_packet *b) {
        return strcmp(a->prefix, b->prefix) == 0 && a->family == b->family &&
               strcmp(a->src, b->src) == 0 && strcmp(a->dst, b->dst) == 0 && a->proto == b->proto &&
               a->sport == b->sport && a->dport == b->dport && a->hook == b->hook &&
               a->indev == b->indev && a->outdev == b->outdev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        sv_nflog_packet p;
        size_t off = 0;
        while (size - off >= NLMSG_HDRLEN) {
                struct nlmsghdr h;
                memcpy(&h, data + off, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > size - off)
                        break;
                memset(&p, 0xa5, sizeof(p));
                int r = sv_nflog_parse_msg(data + off, h.nlmsg_len, &p);
                check(r == 0 || r == -EBADMSG || r == -ENOMSG);
                if (r == 0)
                        check_packet(&p);
                /* The same message in a larger buffer parses the same way. */
                if (size - off > h.nlmsg_len) {
                        sv_nflog_packet q;
                        int r2 = sv_nflog_parse_msg(data + off, size - off, &q);
                        check(r2 == r);
                        if (r == 0)
                                check(same_packet(&p, &q));
                }
                size_t step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= size - off)
                        break;
                off += step;
        }

        memset(&p, 0, sizeof(p));
        int r = sv_nflog_parse_ip(data, size, &p);
        check(r == 0 || r == -EBADMSG);
        if (r == 0)
                check_packet(&p);
        return 0;
}
