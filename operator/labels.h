/* SPDX-License-Identifier: Apache-2.0 */
/* Labels kept compactly (one allocation, "key\0value\0" pairs) and label
 * selectors compiled from metav1.LabelSelector, with Kubernetes' matching
 * rules: matchLabels and every matchExpression must hold; In/NotIn take
 * values, Exists/DoesNotExist none; NotIn and DoesNotExist hold for a missing
 * key; {} selects everything. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct sv_labels {
        char *data; /* NULL when empty */
        /* 32 bits: 16 bytes, so that a pod's block (objects.h) takes a
         * smaller allocation class at ~40 bytes of texts (0.16 MB at 10,000
         * pods). */
        uint32_t len;
        uint32_t count;
} sv_labels;

/* From a JSON object of string values (metadata.labels); NULL or absent is empty. */
int sv_labels_from_json(const json_t *obj, sv_labels *out);
void sv_labels_done(sv_labels *l);
const char *sv_labels_get(const sv_labels *l, const char *key);

enum sv_selector_op { SV_SEL_IN, SV_SEL_NOT_IN, SV_SEL_EXISTS, SV_SEL_DOES_NOT_EXIST };

typedef struct sv_selector_req {
        char *key;
        enum sv_selector_op op;
        char **values;
        size_t n_values;
} sv_selector_req;

typedef struct sv_selector {
        sv_selector_req *reqs; /* matchLabels become In with one value */
        size_t n_reqs;
} sv_selector;

/* Compiles a LabelSelector; -EINVAL with err (SV_CODE_INVALID_CONFIG) naming
 * what is wrong, so the caller can report InvalidSelector. */
int sv_selector_compile(const json_t *sel, sv_selector **out, sv_error *err);
sv_selector *sv_selector_free(sv_selector *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_selector *, sv_selector_free);
bool sv_selector_matches(const sv_selector *s, const sv_labels *labels);
