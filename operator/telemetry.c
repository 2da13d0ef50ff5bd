/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/telemetry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "nft/ctx.h"
#include "nft/netns.h"
#include "operator/addrbook.h"
#include "operator/flows.h"
#include "operator/render.h"

#define DENIALS_HELP                                                                               \
        "Connections refused by policy, by direction, source workload and destination service "    \
        "(from NFLOG, rate-limited in the kernel)."

struct sv_telemetry {
        sv_metrics *metrics;
        sv_nflog *nflog;
        sv_nft_ctx *nft; /* for reading the counter sets */
        sv_flow_agg *flows;
        sv_addrbook *book;
        sv_hashmap *denials; /* "dir\tsrc\tdst" -> sv_metric */
        sv_metric *denials_other[2];
        sv_metric *lost;
        int64_t flows_due;
};

typedef struct open_args {
        uint16_t group;
        bool flows;
        sv_nflog **nflog;
        sv_nft_ctx **nft;
} open_args;

/* Netlink sockets belong to the namespace they are made in. */
static int open_sockets(void *userdata) {
        open_args *a = userdata;
        int r = sv_nflog_open(a->group, a->nflog);
        if (r == 0 && a->flows)
                r = sv_nft_ctx_open(a->nft);
        return r;
}

static int flow_names(const sv_flow *f, char *source, char *destination, void *userdata) {
        const sv_telemetry *t = userdata;
        snprintf(source, SV_FLOW_NAME_MAX, "%s", sv_addrbook_workload(t->book, f->src));
        snprintf(destination, SV_FLOW_NAME_MAX, "%s", sv_addrbook_service(t->book, f->dst));
        return 0;
}

int sv_telemetry_new(const char *netns, uint16_t nflog_group, bool flow_counters, sv_metrics *m,
                     sv_telemetry **out, sv_error *err) {
        _cleanup_(sv_telemetry_freep) sv_telemetry *t = calloc(1, sizeof(*t));
        if (!t || sv_hashmap_new(&t->denials) < 0)
                return -ENOMEM;
        t->metrics = m;
        open_args a = {
                .group = nflog_group, .flows = flow_counters, .nflog = &t->nflog, .nft = &t->nft};
        int r = netns && *netns ? sv_netns_run(netns, open_sockets, &a) : open_sockets(&a);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO,
                                 "NFLOG group %u%s: %s (is another program bound to it?)",
                                 nflog_group, r == -EPERM ? " is taken" : "", strerror(-r));
        if (flow_counters) {
                sv_flow_agg_config cfg = {.lookup = flow_names, .userdata = t, .metrics = m};
                if ((r = sv_flow_agg_new(&cfg, &t->flows)) < 0)
                        return r;
        }
        static const char *const dirs[] = {"in", "out"};
        for (int d = 0; d < 2; d++)
                if ((r = sv_metrics_counter(m, "selvedge_policy_denials_total", DENIALS_HELP,
                                            SV_LABELS("direction", dirs[d], "source", "other",
                                                      "destination", "other"),
                                            &t->denials_other[d])) < 0)
                        return r;
        if ((r = sv_metrics_counter(m, "selvedge_policy_denial_records_lost_total",
                                    "NFLOG records lost to a full socket buffer.", NULL,
                                    &t->lost)) < 0)
                return r;
        *out = TAKE_PTR(t);
        return 0;
}

sv_telemetry *sv_telemetry_free(sv_telemetry *t) {
        if (!t)
                return NULL;
        sv_nflog_free(t->nflog);
        sv_nft_ctx_close(t->nft);
        sv_flow_agg_free(t->flows);
        sv_addrbook_free(t->book);
        sv_hashmap_free(t->denials); /* the metrics belong to the registry */
        free(t);
        return NULL;
}

int sv_telemetry_fd(const sv_telemetry *t) {
        return sv_nflog_fd(t->nflog);
}

typedef struct drain_ctx {
        sv_telemetry *t;
        sv_denial_fn fn;
        void *userdata;
} drain_ctx;

static sv_metric *denial_series(sv_telemetry *t, int dir, const char *src, const char *dst) {
        char key[2 * 256 + 8];
        snprintf(key, sizeof(key), "%d\t%s\t%s", dir, src, dst);
        sv_metric *s = sv_hashmap_get(t->denials, key);
        if (s)
                return s;
        if (sv_hashmap_size(t->denials) >= SV_TELEMETRY_DENIAL_PAIRS)
                return t->denials_other[dir];
        if (sv_metrics_counter(
                    t->metrics, "selvedge_policy_denials_total", DENIALS_HELP,
                    SV_LABELS("direction", dir ? "out" : "in", "source", src, "destination", dst),
                    &s) < 0 ||
            sv_hashmap_put(t->denials, key, s, NULL) < 0)
                return t->denials_other[dir];
        return s;
}

static int on_packet(const sv_nflog_packet *p, void *userdata) {
        drain_ctx *c = userdata;
        int dir;
        if (strcmp(p->prefix, "selvedge-in") == 0)
                dir = 0;
        else if (strcmp(p->prefix, "selvedge-out") == 0)
                dir = 1;
        else
                return 0; /* not ours */
        const char *src = sv_addrbook_workload(c->t->book, p->src),
                   *dst = sv_addrbook_service(c->t->book, p->dst);
        sv_metric_inc(denial_series(c->t, dir, src, dst));
        if (c->fn)
                c->fn(&(sv_denial){.direction = dir ? "out" : "in",
                                   .source = src,
                                   .destination = dst,
                                   .packet = p},
                      c->userdata);
        return 0;
}

int sv_telemetry_drain(sv_telemetry *t, sv_denial_fn fn, void *userdata) {
        drain_ctx c = {.t = t, .fn = fn, .userdata = userdata};
        sv_nflog_stats before, after;
        sv_nflog_get_stats(t->nflog, &before);
        int r = sv_nflog_read(t->nflog, on_packet, &c);
        sv_nflog_get_stats(t->nflog, &after);
        if (after.overruns > before.overruns)
                sv_metric_add(t->lost, (double)(after.overruns - before.overruns));
        return r < 0 ? r : 0;
}

int64_t sv_telemetry_tick(sv_telemetry *t, int64_t now_ms, sv_error *err) {
        if (!t->flows)
                return INT64_MAX;
        if (now_ms < t->flows_due)
                return t->flows_due;
        t->flows_due = now_ms + SV_TELEMETRY_READ_MS;
        int r = sv_flow_agg_read(t->flows, t->nft, SV_RENDER_TABLE);
        if (r < 0 && r != -ENOENT)
                sv_errorf(err, r, SV_CODE_IO, "reading the L4 counters: %s", strerror(-r));
        return t->flows_due;
}

int sv_telemetry_set_state(sv_telemetry *t, const json_t *state) {
        sv_addrbook *book = NULL;
        int r = sv_addrbook_build(state, &book);
        if (r < 0)
                return r;
        sv_addrbook_free(t->book);
        t->book = book;
        return 0;
}
