/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's telemetry registry: counters, gauges and histograms with
 * optional labels, rendered in the Prometheus text exposition format 0.0.4.
 *
 * Threading: most series are registered during setup; series whose labels
 * are known only later (per workload telemetry) are registered as they
 * appear, while the HTTP server thread may render. A mutex guards the set of
 * series (registration and render); values are C11 atomics, so any thread may
 * update them, without the lock, while another renders. Series are never
 * removed. */
#pragma once

#include <stddef.h>

#include "base/macro.h"

#define SV_METRICS_NAME_MAX 128     /* metric and label names */
#define SV_METRICS_HELP_MAX 1024    /* help text, before escaping */
#define SV_METRICS_LABELS_MAX 1024  /* a series' label set, escaped */
#define SV_METRICS_BUCKETS_MAX 64   /* histogram bounds, +Inf excluded */
#define SV_METRICS_SERIES_MAX 16384 /* series in one registry */

typedef struct sv_metrics sv_metrics;
typedef struct sv_metric sv_metric;

/* A label list for registration: name, value, name, value, ... */
#define SV_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

int sv_metrics_new(sv_metrics **out);

/* Frees the registry and all its series; returns NULL. */
sv_metrics *sv_metrics_free(sv_metrics *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_metrics *, sv_metrics_free);
#define _cleanup_metrics_ _cleanup_(sv_metrics_freep)

/* Register one series. Series sharing a name form one family: same type, help
 * and (histograms) bounds, different labels (NULL, or SV_LABELS(...)); label
 * values are escaped here. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* without a leading "__". As promtool's lint
 * wants, counter names end in "_total" and no other name does, and only
 * histograms produce _bucket, _sum and _count. Values use base units
 * (seconds, bytes). Help and label values must be UTF-8. Errors: -EINVAL
 * (bad name, label, help or bounds, or a family mismatch), -EEXIST (same name
 * and labels), -E2BIG (a cap above), -ENOMEM. *out is owned by the registry. */
int sv_metrics_counter(sv_metrics *m, const char *name, const char *help, const char *const *labels,
                       sv_metric **out);
int sv_metrics_gauge(sv_metrics *m, const char *name, const char *help, const char *const *labels,
                     sv_metric **out);
/* bounds: the buckets' upper bounds, finite and strictly increasing; +Inf is
 * implicit. */
int sv_metrics_histogram(sv_metrics *m, const char *name, const char *help,
                         const char *const *labels, const double *bounds, size_t n_bounds,
                         sv_metric **out);

/* Updates, safe from any thread. -EINVAL on the wrong metric type, or a
 * negative or NaN amount for a counter or NaN observation. */
int sv_metric_inc(sv_metric *s);               /* counter, gauge */
int sv_metric_add(sv_metric *s, double v);     /* counter (v >= 0), gauge */
int sv_metric_set(sv_metric *s, double v);     /* gauge */
int sv_metric_observe(sv_metric *s, double v); /* histogram */

/* Renders every series: families in registration order, one HELP and TYPE
 * line each, histograms as cumulative _bucket (le="+Inf" last), _sum and
 * _count. On success *out is a NUL-terminated heap string of *len bytes;
 * more than max bytes is -ENOBUFS. */
int sv_metrics_render(const sv_metrics *m, size_t max, char **out, size_t *len);
