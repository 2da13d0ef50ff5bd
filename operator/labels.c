/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/labels.h"

#include <stdlib.h>
#include <string.h>

#include "json/json.h"

#define LABEL_KEY_MAX 317 /* prefix (253) + '/' + name (63) */
#define LABEL_VALUE_MAX 63

int sv_labels_from_json(const json_t *obj, sv_labels *out) {
        sv_labels l = {0};
        if (!json_is_object(obj) || json_object_size(obj) == 0) {
                *out = l;
                return 0;
        }
        const char *k;
        json_t *v;
        size_t total = 0;
        json_object_foreach ((json_t *)obj, k, v) {
                if (!json_is_string(v))
                        continue;
                total += strlen(k) + 1 + json_string_length(v) + 1;
        }
        if (total == 0) {
                *out = l;
                return 0;
        }
        if (total > UINT32_MAX)
                return -E2BIG;
        l.data = malloc(total);
        if (!l.data)
                return -ENOMEM;
        json_object_foreach ((json_t *)obj, k, v) {
                if (!json_is_string(v))
                        continue;
                size_t kl = strlen(k) + 1, vl = json_string_length(v) + 1;
                memcpy(l.data + l.len, k, kl);
                memcpy(l.data + l.len + kl, json_string_value(v), vl);
                l.len += kl + vl;
                l.count++;
        }
        *out = l;
        return 0;
}

void sv_labels_done(sv_labels *l) {
        free(l->data);
        *l = (sv_labels){0};
}

const char *sv_labels_get(const sv_labels *l, const char *key) {
        if (!l->data)
                return NULL;
        const char *p = l->data, *end = l->data + l->len;
        while (p && p < end) {
                const char *v = p + strlen(p) + 1;
                if (strcmp(p, key) == 0)
                        return v;
                p = v + strlen(v) + 1;
        }
        return NULL;
}

static void req_done(sv_selector_req *r) {
        free(r->key);
        for (size_t i = 0; i < r->n_values; i++)
                free(r->values[i]);
        free(r->values);
}

sv_selector *sv_selector_free(sv_selector *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_reqs; i++)
                req_done(&s->reqs[i]);
        free(s->reqs);
        free(s);
        return NULL;
}

static int add_req(sv_selector *s, const char *key, enum sv_selector_op op, const json_t *values,
                   const char *single, sv_error *err) {
        if (!*key || strlen(key) > LABEL_KEY_MAX)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "label selector key \"%.64s\" is empty or too long", key);
        sv_selector_req r = {.op = op};
        size_t n = single ? 1 : json_array_size(values);
        if ((op == SV_SEL_IN || op == SV_SEL_NOT_IN) && n == 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "label selector on \"%s\": In and NotIn need values", key);
        if ((op == SV_SEL_EXISTS || op == SV_SEL_DOES_NOT_EXIST) && values &&
            json_array_size(values) > 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "label selector on \"%s\": Exists and DoesNotExist take no values",
                                 key);
        if (!(r.key = strdup(key)))
                return -ENOMEM;
        if (op == SV_SEL_IN || op == SV_SEL_NOT_IN) {
                r.values = calloc(n, sizeof(char *));
                if (!r.values) {
                        req_done(&r);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++) {
                        const char *v =
                                single ? single : json_string_value(json_array_get(values, i));
                        if (!v || strlen(v) > LABEL_VALUE_MAX) {
                                req_done(&r);
                                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                                 "label selector on \"%s\": a value is not a "
                                                 "string of at most 63 characters",
                                                 key);
                        }
                        if (!(r.values[r.n_values] = strdup(v))) {
                                req_done(&r);
                                return -ENOMEM;
                        }
                        r.n_values++;
                }
        }
        sv_selector_req *grown = realloc(s->reqs, (s->n_reqs + 1) * sizeof(*grown));
        if (!grown) {
                req_done(&r);
                return -ENOMEM;
        }
        s->reqs = grown;
        s->reqs[s->n_reqs++] = r;
        return 0;
}

int sv_selector_compile(const json_t *sel, sv_selector **out, sv_error *err) {
        if (sel && !json_is_object(sel))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "a label selector must be an object");
        _cleanup_(sv_selector_freep) sv_selector *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        const json_t *ml = json_object_get(sel, "matchLabels");
        if (ml && !json_is_object(ml))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "matchLabels must be an object");
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)ml, k, v) {
                if (!json_is_string(v))
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "matchLabels \"%.64s\" must be a string", k);
                int r = add_req(s, k, SV_SEL_IN, NULL, json_string_value(v), err);
                if (r < 0)
                        return r;
        }
        const json_t *me = json_object_get(sel, "matchExpressions");
        if (me && !json_is_array(me))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "matchExpressions must be a list");
        size_t i;
        json_t *e;
        json_array_foreach (me, i, e) {
                const char *key = json_string_value(json_object_get(e, "key"));
                const char *op = json_string_value(json_object_get(e, "operator"));
                const json_t *values = json_object_get(e, "values");
                static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
                int found = -1;
                for (int o = 0; op && o < 4; o++)
                        if (strcmp(op, ops[o]) == 0)
                                found = o;
                if (!key || found < 0)
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "matchExpressions[%zu]: needs a key and an operator of "
                                         "In, NotIn, Exists, DoesNotExist",
                                         i);
                if (values && !json_is_array(values))
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "matchExpressions[%zu].values must be a list", i);
                int r = add_req(s, key, (enum sv_selector_op)found, values, NULL, err);
                if (r < 0)
                        return r;
        }
        *out = TAKE_PTR(s);
        return 0;
}

bool sv_selector_matches(const sv_selector *s, const sv_labels *labels) {
        for (size_t i = 0; i < s->n_reqs; i++) {
                const sv_selector_req *r = &s->reqs[i];
                const char *v = sv_labels_get(labels, r->key);
                bool in = false;
                if (v && (r->op == SV_SEL_IN || r->op == SV_SEL_NOT_IN))
                        for (size_t j = 0; j < r->n_values && !in; j++)
                                in = strcmp(v, r->values[j]) == 0;
                switch (r->op) {
                case SV_SEL_IN:
                        if (!in)
                                return false;
                        break;
                case SV_SEL_NOT_IN:
                        if (in)
                                return false;
                        break;
                case SV_SEL_EXISTS:
                        if (!v)
                                return false;
                        break;
                case SV_SEL_DOES_NOT_EXIST:
                        if (v)
                                return false;
                        break;
                }
        }
        return true;
}
