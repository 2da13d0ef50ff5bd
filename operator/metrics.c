/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

enum metric_type {
        TYPE_COUNTER,
        TYPE_GAUGE,
        TYPE_HISTOGRAM,
};

static const char *const type_names[] = {
        [TYPE_COUNTER] = "counter",
        [TYPE_GAUGE] = "gauge",
        [TYPE_HISTOGRAM] = "histogram",
};

struct family {
        char *name;
        char *help;
        enum metric_type type;
        double *bounds;
        size_t n_bounds;
        sv_metric **series;
        size_t n_series;
        size_t alloc;
};

struct sv_metric {
        const struct family *family;
        char *labels; /* escaped `a="x",b="y"`, "" for none */
        /* Doubles are kept as their bit patterns: C11 has no portable atomic
         * add on floating types, so updates are compare-and-swap loops. For a
         * histogram this is the sum. */
        _Atomic uint64_t value;
        /* Histogram: per-bucket counts, not cumulative, n_bounds + 1 (+Inf);
         * the render cumulates them and derives _count from them, so _count
         * always equals the +Inf bucket even during concurrent updates. */
        _Atomic uint64_t *buckets;
};

struct sv_metrics {
        /* Guards the families and their series arrays (not the values): a
         * series may be registered while another thread renders. */
        pthread_mutex_t lock;
        /* Pointers, so a family's address survives growing the array: series
         * point back to their family. */
        struct family **families;
        size_t n_families;
        size_t alloc;
        size_t n_series;
};

static uint64_t double_bits(double v) {
        uint64_t u;
        memcpy(&u, &v, sizeof(u));
        return u;
}

static double bits_double(uint64_t u) {
        double v;
        memcpy(&v, &u, sizeof(v));
        return v;
}

static void atomic_add_double(_Atomic uint64_t *p, double v) {
        uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(p, &old, double_bits(bits_double(old) + v),
                                                      memory_order_relaxed, memory_order_relaxed))
                ;
}

static sv_metric *series_free(sv_metric *s) {
        if (!s)
                return NULL;
        free(s->labels);
        free(s->buckets);
        free(s);
        return NULL;
}

static struct family *family_free(struct family *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_series; i++)
                series_free(f->series[i]);
        free(f->series);
        free(f->bounds);
        free(f->help);
        free(f->name);
        free(f);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct family *, family_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_metric *, series_free);

int sv_metrics_new(sv_metrics **out) {
        sv_metrics *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        int r = pthread_mutex_init(&m->lock, NULL);
        if (r != 0) {
                free(m);
                return -r;
        }
        *out = m;
        return 0;
}

sv_metrics *sv_metrics_free(sv_metrics *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_families; i++)
                family_free(m->families[i]);
        free(m->families);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool valid_name(const char *s, bool colon) {
        if (!s || !*s || strlen(s) > SV_METRICS_NAME_MAX)
                return false;
        for (const char *p = s; *p; p++) {
                char c = *p;
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                          (colon && c == ':') || (p != s && c >= '0' && c <= '9');
                if (!ok)
                        return false;
        }
        return true;
}

/* What promtool's lint and the text format's suffix conventions require of a
 * family name for its type. */
static bool valid_metric_name(const char *name, enum metric_type type) {
        if (!valid_name(name, true))
                return false;
        if ((type == TYPE_COUNTER) != ends_with(name, "_total"))
                return false;
        /* Histograms add these suffixes themselves; any other family with them
         * could collide with a histogram's series. */
        return !ends_with(name, "_bucket") && !ends_with(name, "_sum") &&
               !ends_with(name, "_count");
}

/* The text format is UTF-8; one invalid byte would fail the whole scrape. */
static bool valid_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                size_t n;
                uint32_t c;
                if (*p < 0x80) {
                        p++;
                        continue;
                } else if ((*p & 0xe0) == 0xc0) {
                        n = 1;
                        c = *p & 0x1f;
                } else if ((*p & 0xf0) == 0xe0) {
                        n = 2;
                        c = *p & 0x0f;
                } else if ((*p & 0xf8) == 0xf0) {
                        n = 3;
                        c = *p & 0x07;
                } else {
                        return false;
                }
                for (size_t i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        c = (c << 6) | (p[i] & 0x3f);
                }
                /* Overlong forms, surrogates and values past U+10FFFF. */
                static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
                if (c < min[n] || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                        return false;
                p += n + 1;
        }
        return true;
}

/* Escapes for the text format: label values escape \, " and newline; HELP
 * text only \ and newline. */
static int append_escaped(sv_strbuf *sb, const char *s, bool quote) {
        for (const char *p = s; *p; p++) {
                int r;
                if (*p == '\\')
                        r = sv_strbuf_appends(sb, "\\\\");
                else if (*p == '\n')
                        r = sv_strbuf_appends(sb, "\\n");
                else if (quote && *p == '"')
                        r = sv_strbuf_appends(sb, "\\\"");
                else
                        r = sv_strbuf_append(sb, p, 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int render_labels(const char *const *labels, enum metric_type type, char **out) {
        sv_strbuf sb = SV_STRBUF_INIT(SV_METRICS_LABELS_MAX);
        int r = 0;

        for (size_t i = 0; labels && labels[i]; i += 2) {
                const char *name = labels[i], *value = labels[i + 1];
                if (!value || !valid_utf8(value) || !valid_name(name, false) ||
                    strncmp(name, "__", 2) == 0 ||
                    (type == TYPE_HISTOGRAM && strcmp(name, "le") == 0)) {
                        r = -EINVAL;
                        break;
                }
                for (size_t j = 0; j < i; j += 2)
                        if (strcmp(labels[j], name) == 0)
                                r = -EINVAL;
                if (r < 0)
                        break;
                r = sv_strbuf_appendf(&sb, "%s%s=\"", i ? "," : "", name);
                if (r >= 0)
                        r = append_escaped(&sb, value, true);
                if (r >= 0)
                        r = sv_strbuf_appends(&sb, "\"");
                if (r < 0)
                        break;
        }
        if (r < 0) {
                sv_strbuf_done(&sb);
                return r == -ENOBUFS ? -E2BIG : r;
        }
        char *s = sv_strbuf_steal(&sb);
        if (!s)
                return -ENOMEM;
        *out = s;
        return 0;
}

static struct family *find_family(const sv_metrics *m, const char *name) {
        for (size_t i = 0; i < m->n_families; i++)
                if (strcmp(m->families[i]->name, name) == 0)
                        return m->families[i];
        return NULL;
}

static int new_family(const char *name, const char *help, enum metric_type type,
                      const double *bounds, size_t n_bounds, struct family **out) {
        _cleanup_(family_freep) struct family *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->type = type;
        f->name = strdup(name);
        if (!f->name)
                return -ENOMEM;

        f->help = strdup(help);
        if (!f->help)
                return -ENOMEM;

        if (n_bounds) {
                f->bounds = calloc(n_bounds, sizeof(*bounds));
                if (!f->bounds)
                        return -ENOMEM;
                memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
                f->n_bounds = n_bounds;
        }
        *out = TAKE_PTR(f);
        return 0;
}

static bool same_family(const struct family *f, const char *help, enum metric_type type,
                        const double *bounds, size_t n_bounds) {
        return f->type == type && strcmp(f->help, help) == 0 && f->n_bounds == n_bounds &&
               (n_bounds == 0 || memcmp(f->bounds, bounds, n_bounds * sizeof(*bounds)) == 0);
}

static int add_series_locked(sv_metrics *m, const char *name, const char *help,
                             const char *const *labels, enum metric_type type, const double *bounds,
                             size_t n_bounds, sv_metric **out) {
        if (!m || !out || !valid_metric_name(name, type) || !help || !*help || !valid_utf8(help))
                return -EINVAL;
        if (strlen(help) > SV_METRICS_HELP_MAX || n_bounds > SV_METRICS_BUCKETS_MAX)
                return -E2BIG;
        if (type == TYPE_HISTOGRAM) {
                if (!bounds || n_bounds == 0)
                        return -EINVAL;
                for (size_t i = 0; i < n_bounds; i++)
                        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                                return -EINVAL;
        }
        if (m->n_series >= SV_METRICS_SERIES_MAX)
                return -E2BIG;

        _cleanup_(series_freep) sv_metric *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        int r = render_labels(labels, type, &s->labels);
        if (r < 0)
                return r;
        if (type == TYPE_HISTOGRAM) {
                s->buckets = calloc(n_bounds + 1, sizeof(*s->buckets));
                if (!s->buckets)
                        return -ENOMEM;
        }
        atomic_init(&s->value, double_bits(0.0));

        _cleanup_(family_freep) struct family *created = NULL;
        struct family *f = find_family(m, name);
        if (f) {
                if (!same_family(f, help, type, bounds, n_bounds))
                        return -EINVAL;
                for (size_t i = 0; i < f->n_series; i++)
                        if (strcmp(f->series[i]->labels, s->labels) == 0)
                                return -EEXIST;
        } else {
                if (m->n_families == m->alloc) {
                        size_t a = m->alloc ? 2 * m->alloc : 8;
                        struct family **p = reallocarray(m->families, a, sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        m->families = p;
                        m->alloc = a;
                }
                r = new_family(name, help, type, bounds, n_bounds, &created);
                if (r < 0)
                        return r;
                f = created;
        }
        if (f->n_series == f->alloc) {
                size_t a = f->alloc ? 2 * f->alloc : 4;
                sv_metric **p = reallocarray(f->series, a, sizeof(*p));
                if (!p)
                        return -ENOMEM;
                f->series = p;
                f->alloc = a;
        }

        s->family = f;
        f->series[f->n_series++] = s;
        if (created)
                m->families[m->n_families++] = TAKE_PTR(created);
        m->n_series++;
        *out = TAKE_PTR(s);
        return 0;
}

static int add_series(sv_metrics *m, const char *name, const char *help, const char *const *labels,
                      enum metric_type type, const double *bounds, size_t n_bounds,
                      sv_metric **out) {
        if (!m)
                return -EINVAL;
        pthread_mutex_lock(&m->lock);
        int r = add_series_locked(m, name, help, labels, type, bounds, n_bounds, out);
        pthread_mutex_unlock(&m->lock);
        return r;
}

int sv_metrics_counter(sv_metrics *m, const char *name, const char *help, const char *const *labels,
                       sv_metric **out) {
        return add_series(m, name, help, labels, TYPE_COUNTER, NULL, 0, out);
}

int sv_metrics_gauge(sv_metrics *m, const char *name, const char *help, const char *const *labels,
                     sv_metric **out) {
        return add_series(m, name, help, labels, TYPE_GAUGE, NULL, 0, out);
}

int sv_metrics_histogram(sv_metrics *m, const char *name, const char *help,
                         const char *const *labels, const double *bounds, size_t n_bounds,
                         sv_metric **out) {
        return add_series(m, name, help, labels, TYPE_HISTOGRAM, bounds, n_bounds, out);
}

int sv_metric_add(sv_metric *s, double v) {
        if (!s || s->family->type == TYPE_HISTOGRAM)
                return -EINVAL;
        if (s->family->type == TYPE_COUNTER && !(v >= 0))
                return -EINVAL;
        atomic_add_double(&s->value, v);
        return 0;
}

int sv_metric_inc(sv_metric *s) {
        return sv_metric_add(s, 1.0);
}

int sv_metric_set(sv_metric *s, double v) {
        if (!s || s->family->type != TYPE_GAUGE)
                return -EINVAL;
        atomic_store_explicit(&s->value, double_bits(v), memory_order_relaxed);
        return 0;
}

int sv_metric_observe(sv_metric *s, double v) {
        if (!s || s->family->type != TYPE_HISTOGRAM || isnan(v))
                return -EINVAL;
        const struct family *f = s->family;
        size_t i = 0;
        while (i < f->n_bounds && v > f->bounds[i])
                i++;
        atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
        atomic_add_double(&s->value, v);
        return 0;
}

/* The shortest of %.15g and %.17g that reads back as the same double, so 0.1
 * prints as 0.1; infinities and NaN as the text format spells them. */
static void format_double(double v, char *buf, size_t size) {
        if (isnan(v)) {
                snprintf(buf, size, "NaN");
                return;
        }
        if (isinf(v)) {
                snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, size, "%.17g", v);
}

static int render_histogram(const sv_metric *s, sv_strbuf *sb) {
        const struct family *f = s->family;
        const char *sep = *s->labels ? "," : "";
        char num[32];
        uint64_t cumulative = 0;
        int r;

        for (size_t i = 0; i <= f->n_bounds; i++) {
                cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
                if (i < f->n_bounds)
                        format_double(f->bounds[i], num, sizeof(num));
                else
                        snprintf(num, sizeof(num), "+Inf");
                r = sv_strbuf_appendf(sb, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", f->name,
                                      s->labels, sep, num, cumulative);
                if (r < 0)
                        return r;
        }
        format_double(bits_double(atomic_load_explicit(&s->value, memory_order_relaxed)), num,
                      sizeof(num));
        const char *open = *s->labels ? "{" : "", *close = *s->labels ? "}" : "";
        r = sv_strbuf_appendf(sb, "%s_sum%s%s%s %s\n", f->name, open, s->labels, close, num);
        if (r < 0)
                return r;
        return sv_strbuf_appendf(sb, "%s_count%s%s%s %" PRIu64 "\n", f->name, open, s->labels,
                                 close, cumulative);
}

int sv_metrics_render(const sv_metrics *m, size_t max, char **out, size_t *len) {
        if (!m || !out || !len)
                return -EINVAL;
        sv_strbuf sb = SV_STRBUF_INIT(max);
        int r = 0;

        /* The lock is not part of the registry's value: rendering is a read. */
        pthread_mutex_t *lock = (pthread_mutex_t *)&m->lock;
        pthread_mutex_lock(lock);
        for (size_t i = 0; r >= 0 && i < m->n_families; i++) {
                const struct family *f = m->families[i];
                r = sv_strbuf_appendf(&sb, "# HELP %s ", f->name);
                if (r >= 0)
                        r = append_escaped(&sb, f->help, false);
                if (r >= 0)
                        r = sv_strbuf_appendf(&sb, "\n# TYPE %s %s\n", f->name,
                                              type_names[f->type]);
                for (size_t j = 0; r >= 0 && j < f->n_series; j++) {
                        const sv_metric *s = f->series[j];
                        if (f->type == TYPE_HISTOGRAM) {
                                r = render_histogram(s, &sb);
                                continue;
                        }
                        char num[32];
                        format_double(
                                bits_double(atomic_load_explicit(&s->value, memory_order_relaxed)),
                                num, sizeof(num));
                        if (*s->labels)
                                r = sv_strbuf_appendf(&sb, "%s{%s} %s\n", f->name, s->labels, num);
                        else
                                r = sv_strbuf_appendf(&sb, "%s %s\n", f->name, num);
                }
        }
        pthread_mutex_unlock(lock);
        if (r < 0) {
                sv_strbuf_done(&sb);
                return r;
        }
        size_t n = sb.len;
        char *s = sv_strbuf_steal(&sb);
        if (!s)
                return -ENOMEM;
        *out = s;
        *len = n;
        return 0;
}
