/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the elements of one set back from the kernel, with their counters:
 * for dynamic sets that the packet path fills (`update @set { key counter }`).
 *
 * Which instance of the set a dump read: a table deleted and created again
 * (a full sync) or a set deleted and added again holds new elements whose
 * counters restarted, under the same names. The kernel gives every table a
 * handle that is never reused in its namespace, and every set a handle that is
 * never reused in its table, so the pair identifies one instance. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "nft/ctx.h"

/* The largest key of a set: NFT_DATA_VALUE_MAXLEN (64 bytes). */
#define SV_NFT_ELEM_KEY_MAX 64

typedef struct sv_nft_elem {
        const uint8_t *key; /* the key as the kernel stores it: fields padded to 4 bytes */
        uint32_t key_len;
        bool has_counter; /* the element carries a counter expression */
        uint64_t packets, bytes;
} sv_nft_elem;

/* The instance of a set a dump read. */
typedef struct sv_nft_set_id {
        uint64_t table_handle;
        uint64_t set_handle;
} sv_nft_set_id;

typedef int (*sv_nft_elem_fn)(const sv_nft_elem *e, void *userdata);

/* Calls fn for every element of family/table/set. A negative return from fn
 * stops the walk and is returned. -ENOENT when the table or the set does not
 * exist; -EAGAIN when the kernel marks the dump interrupted (a transaction
 * committed while it ran), after fn may have seen part of the elements.
 *
 * With id not NULL, also reads the handles of the table and of the set before
 * and after the dump: *id is the instance the elements belong to, and -EAGAIN
 * means the set was replaced during the dump, so the elements fn saw may come
 * from two instances and should be discarded (try again). */
int sv_nft_set_elems(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *set,
                     sv_nft_elem_fn fn, void *userdata, sv_nft_set_id *id);

/* The handles of family/table and of its set: -ENOENT when either is absent. */
int sv_nft_set_id_get(sv_nft_ctx *ctx, uint32_t family, const char *table, const char *set,
                      sv_nft_set_id *out);
