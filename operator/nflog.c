/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/nflog.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "nft/nl.h"

/* The kernel's batch buffer (NFULA_CFG_NLBUFSIZ), and ours: larger, so any
 * datagram fits (one message larger than the batch buffer goes alone). */
#define NLBUFSIZ 16384
#define RECV_BUF_SIZE 65536
/* How long sv_nflog_open waits for the kernel to acknowledge the binding
 * (it answers at once; this only bounds a bug), polling in these steps. */
#define ACK_TIMEOUT_MS 2000
#define ACK_POLL_MS 100

struct sv_nflog {
        struct mnl_socket *nl;
        uint16_t group;
        uint64_t packets;    /* handed to the callback */
        sv_nl_read_stats rx; /* malformed (by the reader or the parser), overruns */
        uint8_t *buf;
};

/* ---- parsing ---------------------------------------------------------- */

static uint16_t get_be16(const uint8_t *p) {
        return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_be32(const uint8_t *p) {
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool has_ports(uint8_t proto) {
        return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ||
               proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

/* The IPv6 extension headers we step over, at most this many. */
#define IPV6_EXT_MAX 8

int sv_nflog_parse_ip(const uint8_t *p, size_t len, sv_nflog_packet *out) {
        if (!p || !out || len < 1)
                return -EBADMSG;
        int family;
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
        uint8_t proto;
        size_t l4;         /* offset of the transport header */
        bool first = true; /* not a later fragment: the transport header is here */

        switch (p[0] >> 4) {
        case 4: {
                if (len < 20)
                        return -EBADMSG;
                size_t ihl = (size_t)(p[0] & 0x0f) * 4;
                size_t total = get_be16(p + 2);
                /* A total length of 0 is a BIG TCP packet (over 64 KiB). */
                if (ihl < 20 || ihl > len || (total && total < ihl))
                        return -EBADMSG;
                if (total && total < len)
                        len = total; /* what follows is link-layer padding */
                family = AF_INET;
                proto = p[9];
                first = (get_be16(p + 6) & 0x1fff) == 0;
                if (!inet_ntop(AF_INET, p + 12, src, sizeof(src)) ||
                    !inet_ntop(AF_INET, p + 16, dst, sizeof(dst)))
                        return -EBADMSG;
                l4 = ihl;
                break;
        }
        case 6: {
                if (len < 40)
                        return -EBADMSG;
                size_t payload = get_be16(p + 4);
                /* 0 is a jumbogram (its length is in an option): keep len. */
                if (payload && 40 + payload < len)
                        len = 40 + payload;
                family = AF_INET6;
                if (!inet_ntop(AF_INET6, p + 8, src, sizeof(src)) ||
                    !inet_ntop(AF_INET6, p + 24, dst, sizeof(dst)))
                        return -EBADMSG;
                proto = p[6];
                l4 = 40;
                for (int i = 0; i < IPV6_EXT_MAX; i++) {
                        size_t hlen;
                        if (proto == IPPROTO_HOPOPTS || proto == IPPROTO_ROUTING ||
                            proto == IPPROTO_DSTOPTS) {
                                if (len < 2 || l4 > len - 2)
                                        break;
                                hlen = ((size_t)p[l4 + 1] + 1) * 8;
                        } else if (proto == IPPROTO_AH) {
                                if (len < 2 || l4 > len - 2)
                                        break;
                                hlen = ((size_t)p[l4 + 1] + 2) * 4;
                        } else if (proto == IPPROTO_FRAGMENT) {
                                if (len < 8 || l4 > len - 8)
                                        break;
                                hlen = 8;
                                if ((get_be16(p + l4 + 2) & 0xfff8) != 0)
                                        first = false;
                        } else {
                                break;
                        }
                        proto = p[l4];
                        l4 += hlen;
                        if (!first)
                                break;
                }
                break;
        }
        default:
                return -EBADMSG;
        }

        out->family = family;
        memcpy(out->src, src, sizeof(src));
        memcpy(out->dst, dst, sizeof(dst));
        out->proto = proto;
        out->sport = out->dport = 0;
        /* Ports only when the walk reached the transport header and it was
         * copied: an extension header cut short leaves l4 before it. */
        if (first && has_ports(proto) && len >= 4 && l4 <= len - 4) {
                out->sport = get_be16(p + l4);
                out->dport = get_be16(p + l4 + 2);
        }
        return 0;
}

struct attr {
        const uint8_t *data;
        size_t len;
        bool present;
};

int sv_nflog_parse_msg(const void *buf, size_t len, sv_nflog_packet *out) {
        const uint8_t *b = buf;
        struct nlmsghdr nlh;
        struct nfgenmsg nfg;
        if (!buf || !out || len < NLMSG_HDRLEN)
                return -EBADMSG;
        memcpy(&nlh, b, sizeof(nlh));
        if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len)
                return -EBADMSG;
        if (nlh.nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
                return -ENOMSG;
        size_t mlen = nlh.nlmsg_len;
        size_t off = NLMSG_HDRLEN;
        if (mlen - off < sizeof(nfg))
                return -EBADMSG;
        memcpy(&nfg, b + off, sizeof(nfg));
        off += NLMSG_ALIGN(sizeof(nfg));

        struct attr tb[NFULA_MAX + 1] = {{0}};
        while (off < mlen && mlen - off >= NLA_HDRLEN) {
                struct nlattr a;
                memcpy(&a, b + off, sizeof(a));
                if (a.nla_len < NLA_HDRLEN || a.nla_len > mlen - off)
                        return -EBADMSG;
                uint16_t type = a.nla_type & NLA_TYPE_MASK;
                if (type <= NFULA_MAX && !tb[type].present)
                        tb[type] = (struct attr){
                                .data = b + off + NLA_HDRLEN,
                                .len = a.nla_len - NLA_HDRLEN,
                                .present = true,
                        };
                off += NLA_ALIGN(a.nla_len);
        }

        if (!tb[NFULA_PAYLOAD].present)
                return -EBADMSG;
        sv_nflog_packet p = {0};
        if (sv_nflog_parse_ip(tb[NFULA_PAYLOAD].data, tb[NFULA_PAYLOAD].len, &p) < 0)
                return -EBADMSG;
        /* The family the logging hook ran for, when it is an IP one, must be
         * the packet's (bridge and netdev tables log with their own). */
        if ((nfg.nfgen_family == AF_INET || nfg.nfgen_family == AF_INET6) &&
            nfg.nfgen_family != p.family)
                return -EBADMSG;

        if (tb[NFULA_PREFIX].present) {
                size_t n = strnlen((const char *)tb[NFULA_PREFIX].data, tb[NFULA_PREFIX].len);
                if (n > sizeof(p.prefix) - 1)
                        n = sizeof(p.prefix) - 1;
                memcpy(p.prefix, tb[NFULA_PREFIX].data, n);
                p.prefix[n] = '\0';
        }
        if (tb[NFULA_PACKET_HDR].present) {
                if (tb[NFULA_PACKET_HDR].len < sizeof(struct nfulnl_msg_packet_hdr))
                        return -EBADMSG;
                p.hook = tb[NFULA_PACKET_HDR].data[offsetof(struct nfulnl_msg_packet_hdr, hook)];
        }
        static const int ifattrs[] = {NFULA_IFINDEX_INDEV, NFULA_IFINDEX_OUTDEV};
        uint32_t *ifs[] = {&p.indev, &p.outdev};
        for (size_t i = 0; i < ARRAY_SIZE(ifattrs); i++) {
                const struct attr *a = &tb[ifattrs[i]];
                if (!a->present)
                        continue;
                if (a->len < 4)
                        return -EBADMSG;
                *ifs[i] = get_be32(a->data);
        }
        *out = p;
        return 0;
}

/* ---- the socket --------------------------------------------------------- */

/* Binds the group and sets its copy mode, buffer and batching in one
 * message, and waits for the kernel's answer. */
static int configure(struct mnl_socket *nl, uint16_t group, uint8_t *buf) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = (uint32_t)time(NULL);
        struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_UNSPEC;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = htons(group);

        struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_BIND};
        mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
        struct nfulnl_msg_config_mode mode = {
                .copy_range = htonl(SV_NFLOG_COPY_RANGE),
                .copy_mode = NFULNL_COPY_PACKET,
        };
        mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
        mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(NLBUFSIZ));
        mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(SV_NFLOG_TIMEOUT_CS));
        mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(SV_NFLOG_QTHRESH));

        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return negative_errno();

        /* The answer, or a timeout: the socket is non-blocking. Packets the
         * group logs right after the binding may come first; they are
         * dropped here. */
        uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
        struct pollfd pfd = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
        for (int waited = 0;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, RECV_BUF_SIZE);
                if (n < 0 && errno == EAGAIN) {
                        if (waited >= ACK_TIMEOUT_MS)
                                return -ETIMEDOUT;
                        int p = poll(&pfd, 1, ACK_POLL_MS);
                        if (p < 0 && errno != EINTR)
                                return negative_errno();
                        waited += p == 0 ? ACK_POLL_MS : 1;
                        continue;
                }
                if (n < 0 && (errno == EINTR || errno == ENOBUFS || errno == ENOSPC))
                        continue;
                if (n < 0)
                        return negative_errno();
                /* Our answer is an NLMSG_ERROR with our sequence number. */
                int left = (int)n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, left);
                     h = mnl_nlmsg_next(h, &left)) {
                        if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != seq ||
                            h->nlmsg_pid != portid)
                                continue;
                        if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
                                return -EBADMSG;
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(h);
                        return err->error > 0 ? -err->error : err->error;
                }
        }
}

int sv_nflog_open(uint16_t group, sv_nflog **out) {
        if (!out)
                return -EINVAL;
        _cleanup_(sv_nflog_freep) sv_nflog *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->buf = malloc(RECV_BUF_SIZE);
        if (!l->buf)
                return -ENOMEM;
        l->group = group;
        l->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!l->nl)
                return negative_errno();
        if (mnl_socket_bind(l->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        int r = configure(l->nl, group, l->buf);
        if (r < 0)
                return r;
        *out = TAKE_PTR(l);
        return 0;
}

sv_nflog *sv_nflog_free(sv_nflog *l) {
        if (!l)
                return NULL;
        if (l->nl)
                mnl_socket_close(l->nl);
        free(l->buf);
        free(l);
        return NULL;
}

int sv_nflog_fd(const sv_nflog *l) {
        return l ? mnl_socket_get_fd(l->nl) : -EBADF;
}

void sv_nflog_get_stats(const sv_nflog *l, sv_nflog_stats *out) {
        if (!out)
                return;
        *out = l ? (sv_nflog_stats){.packets = l->packets,
                                    .malformed = l->rx.malformed,
                                    .overruns = l->rx.overruns}
                 : (sv_nflog_stats){0};
}

typedef struct read_walk {
        sv_nflog *l;
        sv_nflog_cb cb;
        void *userdata;
        int delivered;
} read_walk;

/* One message of a datagram: a logged packet goes to cb; other types are
 * skipped (NLMSG_DONE ends a batch). */
static int on_msg(const void *msg, size_t len, void *data) {
        read_walk *w = data;
        sv_nflog_packet p;
        int r = sv_nflog_parse_msg(msg, len, &p);
        if (r == -EBADMSG)
                w->l->rx.malformed++;
        if (r < 0)
                return 0;
        w->l->packets++;
        w->delivered++;
        return w->cb(&p, w->userdata);
}

int sv_nflog_read(sv_nflog *l, sv_nflog_cb cb, void *userdata) {
        if (!l || !cb)
                return -EINVAL;
        read_walk w = {.l = l, .cb = cb, .userdata = userdata};
        int r = sv_nl_read_kernel(l->nl, l->buf, RECV_BUF_SIZE, SV_NFLOG_READ_MAX, on_msg, &w,
                                  &l->rx);
        return r < 0 ? r : w.delivered;
}
