/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/conntrack.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fileio.h"
#include "nft/nl.h"

#define RECV_BUF_SIZE 65536
#define ACCT_SYSCTL "/proc/sys/net/netfilter/nf_conntrack_acct"

/* ---- parsing ---------------------------------------------------------- */

struct attr {
        const uint8_t *data;
        size_t len;
        bool present;
};

/* The most attributes any level we read has (CTA_MAX is the largest). */
#define ATTR_SLOTS (CTA_MAX + 1)

/* Splits len bytes of attributes into tb[0..max] (the first of a type wins;
 * types above max are skipped). -EBADMSG when an attribute overruns. */
static int parse_attrs(const uint8_t *b, size_t len, struct attr *tb, unsigned max) {
        memset(tb, 0, (max + 1) * sizeof(*tb));
        size_t off = 0;
        while (len - off >= NLA_HDRLEN) {
                struct nlattr a;
                memcpy(&a, b + off, sizeof(a));
                if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off)
                        return -EBADMSG;
                unsigned type = a.nla_type & NLA_TYPE_MASK;
                if (type <= max && !tb[type].present)
                        tb[type] = (struct attr){
                                .data = b + off + NLA_HDRLEN,
                                .len = a.nla_len - NLA_HDRLEN,
                                .present = true,
                        };
                size_t step = NLA_ALIGN(a.nla_len);
                if (step >= len - off)
                        break;
                off += step;
        }
        return 0;
}

static uint16_t get_be16(const uint8_t *p) {
        return (uint16_t)((p[0] << 8) | p[1]);
}

static uint64_t get_be(const uint8_t *p, size_t n) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

static int parse_tuple(const struct attr *t, int family, sv_ct_tuple *out, uint8_t *proto) {
        struct attr tb[ATTR_SLOTS], ip[ATTR_SLOTS], pr[ATTR_SLOTS];
        if (!t->present || parse_attrs(t->data, t->len, tb, CTA_TUPLE_MAX) < 0 ||
            !tb[CTA_TUPLE_IP].present || !tb[CTA_TUPLE_PROTO].present ||
            parse_attrs(tb[CTA_TUPLE_IP].data, tb[CTA_TUPLE_IP].len, ip, CTA_IP_MAX) < 0 ||
            parse_attrs(tb[CTA_TUPLE_PROTO].data, tb[CTA_TUPLE_PROTO].len, pr, CTA_PROTO_MAX) < 0)
                return -EBADMSG;
        size_t alen = family == AF_INET ? 4 : 16;
        const struct attr *src = &ip[family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC],
                          *dst = &ip[family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST];
        if (!src->present || !dst->present || src->len != alen || dst->len != alen ||
            !pr[CTA_PROTO_NUM].present || pr[CTA_PROTO_NUM].len < 1)
                return -EBADMSG;
        sv_ct_tuple tp = {0};
        memcpy(tp.src, src->data, alen);
        memcpy(tp.dst, dst->data, alen);
        if (pr[CTA_PROTO_SRC_PORT].present && pr[CTA_PROTO_DST_PORT].present) {
                if (pr[CTA_PROTO_SRC_PORT].len < 2 || pr[CTA_PROTO_DST_PORT].len < 2)
                        return -EBADMSG;
                tp.sport = get_be16(pr[CTA_PROTO_SRC_PORT].data);
                tp.dport = get_be16(pr[CTA_PROTO_DST_PORT].data);
        }
        *proto = pr[CTA_PROTO_NUM].data[0];
        *out = tp;
        return 0;
}

/* Reads one direction's counters: 64-bit, or the old 32-bit form. */
static int parse_counters(const struct attr *c, uint64_t *packets, uint64_t *bytes) {
        struct attr tb[ATTR_SLOTS];
        if (parse_attrs(c->data, c->len, tb, CTA_COUNTERS_MAX) < 0)
                return -EBADMSG;
        static const int types[2][2] = {
                {CTA_COUNTERS_PACKETS, CTA_COUNTERS_BYTES},
                {CTA_COUNTERS32_PACKETS, CTA_COUNTERS32_BYTES},
        };
        static const size_t sizes[2] = {8, 4};
        for (int w = 0; w < 2; w++) {
                const struct attr *p = &tb[types[w][0]], *b = &tb[types[w][1]];
                if (!p->present || !b->present)
                        continue;
                if (p->len < sizes[w] || b->len < sizes[w])
                        return -EBADMSG;
                *packets = get_be(p->data, sizes[w]);
                *bytes = get_be(b->data, sizes[w]);
                return 0;
        }
        return -EBADMSG;
}

int sv_ct_parse_msg(const void *buf, size_t len, sv_ct_entry *out) {
        const uint8_t *b = buf;
        struct nlmsghdr nlh;
        struct nfgenmsg nfg;
        if (!buf || !out || len < NLMSG_HDRLEN)
                return -EBADMSG;
        memcpy(&nlh, b, sizeof(nlh));
        if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len)
                return -EBADMSG;
        if ((nlh.nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
                return -ENOMSG;
        unsigned type = nlh.nlmsg_type & 0xff;
        if (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE)
                return -ENOMSG;
        size_t mlen = nlh.nlmsg_len;
        if (mlen - NLMSG_HDRLEN < sizeof(nfg))
                return -EBADMSG;
        memcpy(&nfg, b + NLMSG_HDRLEN, sizeof(nfg));
        if (nfg.nfgen_family != AF_INET && nfg.nfgen_family != AF_INET6)
                return -ENOMSG;
        size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfg));
        if (off > mlen)
                return -EBADMSG;

        struct attr tb[ATTR_SLOTS];
        if (parse_attrs(b + off, mlen - off, tb, CTA_MAX) < 0)
                return -EBADMSG;
        sv_ct_entry e = {.family = nfg.nfgen_family, .destroyed = type == IPCTNL_MSG_CT_DELETE};
        uint8_t reply_proto;
        if (parse_tuple(&tb[CTA_TUPLE_ORIG], e.family, &e.orig, &e.proto) < 0 ||
            parse_tuple(&tb[CTA_TUPLE_REPLY], e.family, &e.reply, &reply_proto) < 0)
                return -EBADMSG;
        if (tb[CTA_ID].present) {
                if (tb[CTA_ID].len < 4)
                        return -EBADMSG;
                e.id = (uint32_t)get_be(tb[CTA_ID].data, 4);
        }
        if (tb[CTA_COUNTERS_ORIG].present && tb[CTA_COUNTERS_REPLY].present) {
                if (parse_counters(&tb[CTA_COUNTERS_ORIG], &e.packets[0], &e.bytes[0]) < 0 ||
                    parse_counters(&tb[CTA_COUNTERS_REPLY], &e.packets[1], &e.bytes[1]) < 0)
                        return -EBADMSG;
                e.has_counters = true;
        }
        *out = e;
        return 0;
}

/* ---- the dump --------------------------------------------------------- */

typedef struct dump_walk {
        sv_ct_cb cb;
        void *userdata;
        int error;
} dump_walk;

static int on_dump_msg(const struct nlmsghdr *nlh, void *data) {
        dump_walk *w = data;
        sv_ct_entry e;
        if (sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e) < 0)
                return MNL_CB_OK; /* another family or a malformed entry: skipped */
        int r = w->cb(&e, w->userdata);
        if (r < 0) {
                w->error = r;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

int sv_ct_dump(sv_nft_ctx *ctx, sv_ct_cb cb, void *userdata) {
        if (!ctx || !cb)
                return -EINVAL;
        _Alignas(struct nlmsghdr) char buf[128]; /* a header and a nfgenmsg */
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_UNSPEC; /* every family; others are skipped */
        nfg->version = NFNETLINK_V0;
        dump_walk w = {.cb = cb, .userdata = userdata};
        int r = sv_nft_ctx_talk(ctx, nlh, on_dump_msg, &w);
        return w.error ? w.error : r;
}

int sv_ct_enable_accounting(void) {
        _cleanup_close_ int fd = open(ACCT_SYSCTL, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return sv_write_all(fd, "1\n", 2);
}

/* ---- events ------------------------------------------------------------- */

struct sv_ct_events {
        struct mnl_socket *nl;
        uint64_t events;     /* handed to the callback */
        sv_nl_read_stats rx; /* malformed (by the reader or the parser), overruns */
        uint8_t *buf;
};

int sv_ct_events_open(sv_ct_events **out) {
        if (!out)
                return -EINVAL;
        _cleanup_(sv_ct_events_freep) sv_ct_events *ev = calloc(1, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        ev->buf = malloc(RECV_BUF_SIZE);
        if (!ev->buf)
                return -ENOMEM;
        ev->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!ev->nl)
                return negative_errno();
        /* A burst of closing connections must fit; the forced size needs
         * CAP_NET_ADMIN, which we have, else the default limit applies. */
        int fd = mnl_socket_get_fd(ev->nl), size = SV_CT_EVENTS_RCVBUF;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (mnl_socket_bind(ev->nl, 1u << (NFNLGRP_CONNTRACK_DESTROY - 1), MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        *out = TAKE_PTR(ev);
        return 0;
}

sv_ct_events *sv_ct_events_free(sv_ct_events *ev) {
        if (!ev)
                return NULL;
        if (ev->nl)
                mnl_socket_close(ev->nl);
        free(ev->buf);
        free(ev);
        return NULL;
}

int sv_ct_events_follow_new(sv_ct_events *ev, bool on) {
        if (!ev)
                return -EINVAL;
        int group = NFNLGRP_CONNTRACK_NEW;
        if (setsockopt(mnl_socket_get_fd(ev->nl), SOL_NETLINK,
                       on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group,
                       sizeof(group)) < 0)
                return negative_errno();
        return 0;
}

int sv_ct_events_fd(const sv_ct_events *ev) {
        return ev ? mnl_socket_get_fd(ev->nl) : -EBADF;
}

void sv_ct_events_get_stats(const sv_ct_events *ev, sv_ct_events_stats *out) {
        if (!out)
                return;
        *out = ev ? (sv_ct_events_stats){.events = ev->events,
                                         .malformed = ev->rx.malformed,
                                         .overruns = ev->rx.overruns}
                  : (sv_ct_events_stats){0};
}

typedef struct events_walk {
        sv_ct_events *ev;
        sv_ct_cb cb;
        void *userdata;
        int delivered;
} events_walk;

/* One message of a datagram: an entry goes to cb, a destroy event or a NEW
 * one as its type says; other types and families are skipped. */
static int on_event_msg(const void *msg, size_t len, void *data) {
        events_walk *w = data;
        sv_ct_entry e;
        int r = sv_ct_parse_msg(msg, len, &e);
        if (r == -EBADMSG)
                w->ev->rx.malformed++;
        if (r < 0)
                return 0;
        w->ev->events++;
        w->delivered++;
        return w->cb(&e, w->userdata);
}

int sv_ct_events_read(sv_ct_events *ev, sv_ct_cb cb, void *userdata) {
        if (!ev || !cb)
                return -EINVAL;
        events_walk w = {.ev = ev, .cb = cb, .userdata = userdata};
        int r = sv_nl_read_kernel(ev->nl, ev->buf, RECV_BUF_SIZE, SV_CT_READ_MAX, on_event_msg, &w,
                                  &ev->rx);
        return r < 0 ? r : w.delivered;
}
