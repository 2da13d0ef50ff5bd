/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/setelem.h"

#include <stdio.h> /* libnftnl/expr.h uses FILE */

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>
#include <sys/socket.h>

#include "base/macro.h"
#include "nft/nl.h"
#include "nft/set.h"

static inline void nftnl_table_freep(struct nftnl_table **t) {
        if (*t)
                nftnl_table_free(*t);
}

/* ---- handles ---------------------------------------------------------- */

struct handle_get {
        const char *table, *set;
        bool found;
        uint64_t handle;
};

static int table_cb(const struct nlmsghdr *nlh, void *data) {
        struct handle_get *h = data;
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return MNL_CB_ERROR;
        if (nftnl_table_nlmsg_parse(nlh, t) < 0)
                return MNL_CB_OK;
        const char *name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);
        if (!name || strcmp(name, h->table) != 0 || !nftnl_table_is_set(t, NFTNL_TABLE_HANDLE))
                return MNL_CB_OK;
        h->handle = nftnl_table_get_u64(t, NFTNL_TABLE_HANDLE);
        h->found = true;
        return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data) {
        struct handle_get *h = data;
        _cleanup_nft_set_ struct nftnl_set *s = nftnl_set_alloc();
        if (!s)
                return MNL_CB_ERROR;
        if (nftnl_set_nlmsg_parse(nlh, s) < 0)
                return MNL_CB_OK;
        const char *t = nftnl_set_get_str(s, NFTNL_SET_TABLE);
        const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);
        if (!t || !name || strcmp(t, h->table) != 0 || strcmp(name, h->set) != 0 ||
            !nftnl_set_is_set(s, NFTNL_SET_HANDLE))
                return MNL_CB_OK;
        h->handle = nftnl_set_get_u64(s, NFTNL_SET_HANDLE);
        h->found = true;
        return MNL_CB_OK;
}

static int table_handle(sv_nft_ctx *ctx, uint32_t family, const char *table, uint64_t *out) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh =
                nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family, NLM_F_ACK, 1);
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0)
                return -ENOMEM;
        nftnl_table_nlmsg_build_payload(nlh, t);
        struct handle_get h = {.table = table};
        int r = sv_nft_ctx_talk(ctx, nlh, table_cb, &h);
        if (r < 0)
                return r;
        if (!h.found)
                return -ENOENT;
        *out = h.handle;
        return 0;
}

static int set_handle(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *set,
                      uint64_t *out) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh =
                nftnl_set_nlmsg_build_hdr(buf, NFT_MSG_GETSET, (uint16_t)family, NLM_F_ACK, 1);
        _cleanup_nft_set_ struct nftnl_set *s = nftnl_set_alloc();
        if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 ||
            nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0)
                return -ENOMEM;
        nftnl_set_nlmsg_build_payload(nlh, s);
        struct handle_get h = {.table = table, .set = set};
        int r = sv_nft_ctx_talk(ctx, nlh, set_cb, &h);
        if (r < 0)
                return r;
        if (!h.found)
                return -ENOENT;
        *out = h.handle;
        return 0;
}

int sv_nft_set_id_get(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *set,
                      sv_nft_set_id *out) {
        if (!ctx || !table || !set || !out)
                return -EINVAL;
        sv_nft_set_id id;
        int r = table_handle(ctx, family, table, &id.table_handle);
        if (r < 0)
                return r;
        r = set_handle(ctx, family, table, set, &id.set_handle);
        if (r < 0)
                return r;
        *out = id;
        return 0;
}

/* ---- elements --------------------------------------------------------- */

struct elem_walk {
        const char *table, *set;
        sv_nft_elem_fn fn;
        void *userdata;
        int error;
};

static int counter_cb(struct nftnl_expr *e, void *data) {
        sv_nft_elem *el = data;
        const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        if (!name || strcmp(name, "counter") != 0 || el->has_counter)
                return 0;
        el->has_counter = true;
        el->packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
        el->bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
        return 0;
}

static int elem_cb(struct nftnl_set_elem *e, void *data) {
        struct elem_walk *w = data;
        uint32_t len = 0;
        const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
        if (!key || len == 0 || len > SV_NFT_ELEM_KEY_MAX)
                return 0; /* not an element we can describe: skip it */
        sv_nft_elem el = {.key = key, .key_len = len};
        (void)nftnl_set_elem_expr_foreach(e, counter_cb, &el);
        int r = w->fn(&el, w->userdata);
        if (r < 0) {
                w->error = r;
                return -1;
        }
        return 0;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data) {
        struct elem_walk *w = data;
        _cleanup_nft_set_ struct nftnl_set *s = nftnl_set_alloc();
        if (!s) {
                w->error = -ENOMEM;
                return MNL_CB_ERROR;
        }
        if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
                return MNL_CB_OK; /* not an element message */
        const char *t = nftnl_set_get_str(s, NFTNL_SET_TABLE);
        const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);
        if (!t || !name || strcmp(t, w->table) != 0 || strcmp(name, w->set) != 0)
                return MNL_CB_OK;
        if (nftnl_set_elem_foreach(s, elem_cb, w) < 0)
                return MNL_CB_ERROR;
        return MNL_CB_OK;
}

static int dump_elems(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *set,
                      sv_nft_elem_fn fn, void *userdata) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh = nftnl_set_elem_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
                                                              (uint16_t)family, NLM_F_DUMP, 1);
        _cleanup_nft_set_ struct nftnl_set *s = nftnl_set_alloc();
        if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 ||
            nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0)
                return -ENOMEM;
        nftnl_set_elems_nlmsg_build_payload(nlh, s);

        struct elem_walk w = {.table = table, .set = set, .fn = fn, .userdata = userdata};
        int r = sv_nft_ctx_talk(ctx, nlh, elems_cb, &w);
        if (w.error)
                return w.error;
        return r == -EINTR ? -EAGAIN : r;
}

int sv_nft_set_elems(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *set,
                     sv_nft_elem_fn fn, void *userdata, sv_nft_set_id *id) {
        if (!ctx || !table || !set || !fn)
                return -EINVAL;
        sv_nft_set_id before = {0}, after = {0};
        int r;
        if (id) {
                r = sv_nft_set_id_get(ctx, family, table, set, &before);
                if (r < 0)
                        return r;
        }
        r = dump_elems(ctx, family, table, set, fn, userdata);
        if (r < 0)
                return r;
        if (!id)
                return 0;
        r = sv_nft_set_id_get(ctx, family, table, set, &after);
        if (r == -ENOENT)
                return -EAGAIN; /* gone since: what we read may be half of it */
        if (r < 0)
                return r;
        if (before.table_handle != after.table_handle || before.set_handle != after.set_handle)
                return -EAGAIN;
        *id = before;
        return 0;
}
