/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/batch.h"

#include "nft/nl.h"
#include "nft/set.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>
#include <sys/socket.h>

/* Room kept free for the next message: the largest is a set element list,
 * which libnftnl cuts at 64 KiB of elements. */
#define MSG_ROOM (96 * 1024)

struct sv_nft_batch {
        char *buf;
        size_t len, alloc, max;
        uint32_t seq_first, seq;
        unsigned count;
        int error;            /* first failure while building, reported at commit */
        uint16_t failed_type; /* the message the kernel refused first */
        uint32_t failed_index;
};

static int ensure_room(sv_nft_batch *b) {
        if (b->len + MSG_ROOM <= b->alloc)
                return 0;
        if (b->len + MSG_ROOM > b->max)
                return -ENOBUFS;
        size_t alloc = b->alloc * 2;
        if (alloc < b->len + MSG_ROOM)
                alloc = b->len + MSG_ROOM;
        if (alloc > b->max)
                alloc = b->max;
        char *p = realloc(b->buf, alloc);
        if (!p)
                return -ENOMEM;
        memset(p + b->alloc, 0, alloc - b->alloc);
        b->buf = p;
        b->alloc = alloc;
        return 0;
}

static void *cursor(sv_nft_batch *b) {
        return b->buf + b->len;
}

static void advance(sv_nft_batch *b, struct nlmsghdr *nlh) {
        b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

int sv_nft_batch_new(size_t max_bytes, sv_nft_batch **out) {
        if (max_bytes < 2 * MSG_ROOM)
                return -EINVAL;
        _cleanup_free_ sv_nft_batch *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->alloc = 2 * MSG_ROOM;
        b->max = max_bytes;
        b->buf = calloc(1, b->alloc);
        if (!b->buf)
                return -ENOMEM;
        /* Sequence numbers only need to be unique on this socket. */
        b->seq_first = b->seq = 1;
        struct nlmsghdr *nlh = nftnl_batch_begin(cursor(b), b->seq++);
        advance(b, nlh);
        *out = TAKE_PTR(b);
        return 0;
}

void sv_nft_batch_free(sv_nft_batch *b) {
        if (!b)
                return;
        free(b->buf);
        free(b);
}

void sv_nft_batch_failed(const sv_nft_batch *b, uint16_t *type, uint32_t *index) {
        *type = b->failed_type;
        *index = b->failed_index;
}

unsigned sv_nft_batch_count(const sv_nft_batch *b) {
        return b->count;
}

/* Messages are built in place at the cursor: make room first, then account
 * for what libnftnl wrote. */
static int msg_begin(sv_nft_batch *b) {
        if (!b->error)
                b->error = ensure_room(b);
        return b->error;
}

static int msg_end(sv_nft_batch *b, struct nlmsghdr *nlh) {
        if (nlh->nlmsg_len > MSG_ROOM) /* cannot happen with our message sizes */
                abort();
        advance(b, nlh);
        b->count++;
        return 0;
}

int sv_nft_batch_table(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_table *t) {
        int r = msg_begin(b);
        if (r < 0)
                return r;
        struct nlmsghdr *nlh = nftnl_table_nlmsg_build_hdr(
                cursor(b), type, (uint16_t)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY),
                flags | NLM_F_ACK, b->seq++);
        nftnl_table_nlmsg_build_payload(nlh, t);
        return msg_end(b, nlh);
}

int sv_nft_batch_chain(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_chain *c) {
        int r = msg_begin(b);
        if (r < 0)
                return r;
        struct nlmsghdr *nlh = nftnl_chain_nlmsg_build_hdr(
                cursor(b), type, (uint16_t)nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY),
                flags | NLM_F_ACK, b->seq++);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        return msg_end(b, nlh);
}

int sv_nft_batch_rule(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_rule *r) {
        int e = msg_begin(b);
        if (e < 0)
                return e;
        struct nlmsghdr *nlh = nftnl_rule_nlmsg_build_hdr(
                cursor(b), type, (uint16_t)nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
                flags | NLM_F_ACK, b->seq++);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return msg_end(b, nlh);
}

int sv_nft_batch_set(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_set *s) {
        int e = msg_begin(b);
        if (e < 0)
                return e;
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(
                cursor(b), type, (uint16_t)nftnl_set_get_u32(s, NFTNL_SET_FAMILY),
                flags | NLM_F_ACK, b->seq++);
        nftnl_set_nlmsg_build_payload(nlh, s);
        return msg_end(b, nlh);
}

int sv_nft_batch_setelems(sv_nft_batch *b, uint16_t type, uint16_t flags, struct nftnl_set *s) {
        struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
        if (!it)
                return -ENOMEM;
        int more, e = 0;
        do {
                e = msg_begin(b);
                if (e < 0)
                        break;
                struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(
                        cursor(b), type, (uint16_t)nftnl_set_get_u32(s, NFTNL_SET_FAMILY),
                        flags | NLM_F_ACK, b->seq++);
                /* Fills the message up to the attribute nest's 64 KiB limit. */
                more = nftnl_set_elems_nlmsg_build_payload_iter(nlh, it);
                e = msg_end(b, nlh);
        } while (e == 0 && more > 0);
        nftnl_set_elems_iter_destroy(it);
        return e;
}

int sv_nft_batch_commit(sv_nft_ctx *ctx, sv_nft_batch *b) {
        if (b->error)
                return b->error;
        if (b->count == 0)
                return 0;
        if (b->len + NLMSG_HDRLEN * 4 > b->alloc) {
                int r = ensure_room(b);
                if (r < 0)
                        return r;
        }
        /* Only the last message asks for an acknowledgement: the kernel
         * reports every failure anyway, and one ack per message would not fit
         * a socket buffer for a large transaction. */
        struct nlmsghdr *last = NULL;
        for (size_t off = 0; off < b->len;) {
                struct nlmsghdr *h = (struct nlmsghdr *)(b->buf + off);
                if (off > 0) {
                        h->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
                        last = h;
                }
                off += NLMSG_ALIGN(h->nlmsg_len);
        }
        if (last)
                last->nlmsg_flags |= NLM_F_ACK;
        struct nlmsghdr *nlh = nftnl_batch_end(cursor(b), b->seq++);
        advance(b, nlh);

        struct mnl_socket *nl = sv_nft_ctx_socket(ctx);
        sv_nl_drain(nl);
        /* Every message is acknowledged; make room so no answer is dropped. */
        int rcvbuf = (int)(b->count * 64 + 65536);
        (void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
                         sizeof(rcvbuf));

        /* A full sync can be megabytes; netlink refuses a message larger
         * than the socket's send buffer. */
        int sndbuf = (int)(b->len + 65536);
        (void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
                         sizeof(sndbuf));
        if (mnl_socket_sendto(nl, b->buf, b->len) < 0)
                return negative_errno();

        /* The kernel processes the whole batch inside sendmsg, so every answer
         * is queued by now: drain without blocking. */
        uint32_t portid = mnl_socket_get_portid(nl);
        char rbuf[SV_NL_BUF_SIZE];
        int first_error = 0;
        unsigned answers = 0;
        for (;;) {
                ssize_t n = recv(mnl_socket_get_fd(nl), rbuf, sizeof(rbuf), MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        return negative_errno();
                }
                int left = (int)n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *)rbuf;
                     mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
                        if (h->nlmsg_pid != portid || h->nlmsg_type != NLMSG_ERROR)
                                continue;
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(h);
                        answers++;
                        if (err->error < 0 && first_error == 0) {
                                first_error = err->error;
                                b->failed_type = err->msg.nlmsg_type & 0xff;
                                b->failed_index = err->msg.nlmsg_seq - b->seq_first;
                        }
                }
        }
        if (first_error)
                return first_error;
        return answers >= 1 ? 0 : -EPROTO;
}
