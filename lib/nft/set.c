/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/set.h"

#include <errno.h>
#include <libnftnl/expr.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

struct nftnl_set *sv_nft_set_new(uint32_t family, const char *table, const sv_nft_set_decl *d) {
        struct nftnl_set *s = nftnl_set_alloc();
        if (!s)
                return NULL;
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
        if (nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 ||
            nftnl_set_set_str(s, NFTNL_SET_NAME, d->name) < 0)
                goto fail;
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, d->flags);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
        if (d->id)
                nftnl_set_set_u32(s, NFTNL_SET_ID, d->id);
        if (d->flags & NFT_SET_MAP) {
                nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, d->data_type);
                if (d->data_type != NFT_DATA_VERDICT)
                        nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, d->data_len);
        }
        if (d->size)
                nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, d->size);
        if (d->key_host_order) {
                /* nft's byte order numbers: 1 host, 2 big-endian. */
                struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(64);
                if (!u)
                        goto fail;
                bool ok = nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, 1) &&
                          nftnl_udata_put_u32(u, NFTNL_UDATA_SET_DATABYTEORDER, 2) &&
                          nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u),
                                             nftnl_udata_buf_len(u)) == 0;
                nftnl_udata_buf_free(u);
                if (!ok)
                        goto fail;
        }
        return s;
fail:
        nftnl_set_free(s);
        return NULL;
}

static struct nftnl_set_elem *elem_new(const void *key, uint32_t key_len, uint32_t flags) {
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        if (!e)
                return NULL;
        if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len) < 0) {
                nftnl_set_elem_free(e);
                return NULL;
        }
        if (flags)
                nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, flags);
        return e;
}

int sv_nft_set_elem(struct nftnl_set *s, const void *key, uint32_t key_len, const void *data,
                    uint32_t data_len, uint32_t flags) {
        struct nftnl_set_elem *e = elem_new(key, key_len, flags);
        if (!e)
                return -ENOMEM;
        if (data && nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, data_len) < 0) {
                nftnl_set_elem_free(e);
                return -ENOMEM;
        }
        nftnl_set_elem_add(s, e);
        return 0;
}

int sv_nft_set_elem_verdict(struct nftnl_set *s, const void *key, uint32_t key_len, int verdict,
                            const char *chain) {
        struct nftnl_set_elem *e = elem_new(key, key_len, 0);
        if (!e)
                return -ENOMEM;
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)verdict);
        if (chain && nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain) < 0) {
                nftnl_set_elem_free(e);
                return -ENOMEM;
        }
        nftnl_set_elem_add(s, e);
        return 0;
}
