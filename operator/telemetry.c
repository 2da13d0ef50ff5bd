/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/telemetry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "nft/ctx.h"
#include "nft/netns.h"
#include "operator/addrbook.h"
#include "operator/conntrack.h"
#include "operator/flows.h"

/* When the conntrack table is dumped (sv_telemetry_tick). A dump walks every
 * bucket of the kernel's table, shared by all namespaces (262,144 on a 24 GB
 * machine): ~5 ms of CPU whatever the node's traffic, most of the operator's
 * CPU while idle. So the table is dumped every SV_TELEMETRY_READ_MS only
 * while a connection of the node's pods is live (the dumps are what shows its
 * bytes growing). When a dump finds none, the events socket joins the NEW
 * group and the table is dumped once more at once (a connection that started
 * while the first dump ran shows in the second, or in its event); from then
 * on the node is quiet: no dump until a NEW event of one of its pods, an
 * overrun of the events queue or a new state (a pod the previous state did
 * not name yet) asks for one. A busy node leaves the NEW group again, so its
 * connections cost no event beyond their destroy event. */
#define QUIET INT64_MAX

#define DENIALS_HELP                                                                               \
        "Connections refused by policy, by direction, source workload and destination service "    \
        "(from NFLOG, rate-limited in the kernel)."

struct sv_telemetry {
        sv_metrics *metrics;
        int epfd; /* both sockets below, for the caller's poll */
        sv_nflog *nflog;
        sv_nft_ctx *nft;         /* for dumping the conntrack table */
        sv_ct_events *ct_events; /* conntrack destroy events, NEW ones while quiet */
        sv_flow_agg *flows;
        sv_addrbook *book;
        sv_hashmap *denials; /* "dir\tsrc\tdst" -> sv_metric */
        sv_metric *denials_other[2];
        sv_metric *lost, *ct_overruns, *ct_vanished, *ct_reads;
        uint64_t ct_overruns_seen;
        int64_t flows_due;  /* the next dump; QUIET while none is needed */
        bool following_new; /* the events socket has NEW events too */
        bool read_soon;     /* quiet, but a NEW event may have been missed */
        char warning[256];  /* for the caller's log, "" when none */
};

typedef struct open_args {
        uint16_t group;
        bool flows;
        sv_nflog **nflog;
        sv_nft_ctx **nft;
        sv_ct_events **ct_events;
        int acct; /* the result of turning accounting on */
} open_args;

/* Netlink sockets belong to the namespace they are made in, and so does the
 * accounting sysctl. */
static int open_sockets(void *userdata) {
        open_args *a = userdata;
        int r = sv_nflog_open(a->group, a->nflog);
        if (r == 0 && a->flows) {
                a->acct = sv_ct_enable_accounting();
                r = sv_nft_ctx_open(a->nft);
                if (r == 0)
                        r = sv_ct_events_open(a->ct_events);
        }
        return r;
}

/* Only connections whose client is a pod of this node count here: the
 * server's node sees the same connection and leaves it to the client's. */
static int flow_names(const sv_flow *f, char *source, char *destination, void *userdata) {
        const sv_telemetry *t = userdata;
        if (!sv_addrbook_is_local(t->book, f->src))
                return -ENOENT;
        snprintf(source, SV_FLOW_NAME_MAX, "%s", sv_addrbook_workload(t->book, f->src));
        snprintf(destination, SV_FLOW_NAME_MAX, "%s", sv_addrbook_service(t->book, f->dst));
        return 0;
}

int sv_telemetry_new(const char *netns, uint16_t nflog_group, bool flow_counters, sv_metrics *m,
                     sv_telemetry **out, sv_error *err) {
        _cleanup_(sv_telemetry_freep) sv_telemetry *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->epfd = -1;
        if (sv_hashmap_new(&t->denials) < 0)
                return -ENOMEM;
        t->metrics = m;
        open_args a = {.group = nflog_group,
                       .flows = flow_counters,
                       .nflog = &t->nflog,
                       .nft = &t->nft,
                       .ct_events = &t->ct_events};
        int r = netns && *netns ? sv_netns_run(netns, open_sockets, &a) : open_sockets(&a);
        if (r < 0 && !t->nflog)
                return sv_errorf(err, r, SV_CODE_IO,
                                 "NFLOG group %u%s: %s (is another program bound to it?)",
                                 nflog_group, r == -EPERM ? " is taken" : "", strerror(-r));
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "conntrack: %s", strerror(-r));
        if (flow_counters && a.acct < 0)
                snprintf(t->warning, sizeof(t->warning),
                         "conntrack accounting could not be turned on "
                         "(net.netfilter.nf_conntrack_acct: %s): connections are counted, "
                         "bytes are not",
                         strerror(-a.acct));
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (t->epfd < 0)
                return negative_errno();
        int fds[2] = {sv_nflog_fd(t->nflog), t->ct_events ? sv_ct_events_fd(t->ct_events) : -1};
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                if (fds[i] >= 0 && epoll_ctl(t->epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
                        return negative_errno();
        }
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
        if (flow_counters &&
            ((r = sv_metrics_counter(m, "selvedge_l4_event_overruns_total",
                                     "Times the conntrack destroy-event queue overflowed: the last "
                                     "bytes of connections that ended then may be missing.",
                                     NULL, &t->ct_overruns)) < 0 ||
             (r = sv_metrics_counter(m, "selvedge_l4_connections_vanished_total",
                                     "Connections gone without their destroy event: their bytes "
                                     "since the previous read are not counted.",
                                     NULL, &t->ct_vanished)) < 0 ||
             (r = sv_metrics_counter(m, "selvedge_l4_table_reads_total",
                                     "Dumps of the conntrack table, taken while connections of "
                                     "the node's pods are live.",
                                     NULL, &t->ct_reads)) < 0))
                return r;
        *out = TAKE_PTR(t);
        return 0;
}

sv_telemetry *sv_telemetry_free(sv_telemetry *t) {
        if (!t)
                return NULL;
        if (t->epfd >= 0)
                close(t->epfd);
        sv_nflog_free(t->nflog);
        sv_ct_events_free(t->ct_events);
        sv_nft_ctx_close(t->nft);
        sv_flow_agg_free(t->flows);
        sv_addrbook_free(t->book);
        sv_hashmap_free(t->denials); /* the metrics belong to the registry */
        free(t);
        return NULL;
}

const char *sv_telemetry_warning(const sv_telemetry *t) {
        return t && t->warning[0] ? t->warning : NULL;
}

int sv_telemetry_fd(const sv_telemetry *t) {
        return t ? t->epfd : -EBADF;
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

static int on_ct(const sv_ct_entry *e, void *userdata) {
        sv_telemetry *t = userdata;
        int r = sv_flow_agg_observe(t->flows, e);
        return r == -ENOMEM ? r : 0; /* a metric not registered still counts */
}

/* Destroy events: the final counters of connections that ended. */
static int drain_ct_events(sv_telemetry *t) {
        if (!t->ct_events)
                return 0;
        int r = sv_ct_events_read(t->ct_events, on_ct, t);
        sv_ct_events_stats st;
        sv_ct_events_get_stats(t->ct_events, &st);
        if (st.overruns > t->ct_overruns_seen) {
                sv_metric_add(t->ct_overruns, (double)(st.overruns - t->ct_overruns_seen));
                t->ct_overruns_seen = st.overruns;
                t->read_soon = true; /* a NEW event may be among the lost */
        }
        return r < 0 ? r : 0;
}

int sv_telemetry_drain(sv_telemetry *t, sv_denial_fn fn, void *userdata) {
        drain_ctx c = {.t = t, .fn = fn, .userdata = userdata};
        sv_nflog_stats before, after;
        sv_nflog_get_stats(t->nflog, &before);
        int r = sv_nflog_read(t->nflog, on_packet, &c);
        sv_nflog_get_stats(t->nflog, &after);
        if (after.overruns > before.overruns)
                sv_metric_add(t->lost, (double)(after.overruns - before.overruns));
        int q = drain_ct_events(t);
        return r < 0 ? r : q;
}

int sv_telemetry_read_flows(sv_telemetry *t) {
        if (!t || !t->flows)
                return -EINVAL;
        /* Events first: a connection that ended before the dump is not in
         * it. After the dump, the events of those that ended during it, so
         * that the sweep only forgets what truly vanished. */
        int r = drain_ct_events(t);
        int d = sv_ct_dump(t->nft, on_ct, t);
        sv_metric_inc(t->ct_reads);
        int q = drain_ct_events(t);
        if (d < 0)
                return d; /* no sweep: an incomplete dump says nothing of the missing */
        size_t gone = sv_flow_agg_sweep(t->flows);
        if (gone)
                sv_metric_add(t->ct_vanished, (double)gone);
        return r < 0 ? r : q;
}

static size_t live_flows(const sv_telemetry *t) {
        sv_flow_agg_stats st;
        sv_flow_agg_get_stats(t->flows, &st);
        return st.tracked;
}

static void follow_new(sv_telemetry *t, bool on) {
        if (t->following_new != on && sv_ct_events_follow_new(t->ct_events, on) == 0)
                t->following_new = on;
}

/* After a dump that returned r: when the next one is due (see QUIET). */
static int64_t next_read(sv_telemetry *t, int64_t now_ms, int r) {
        if (r < 0 || live_flows(t) > 0) {
                follow_new(t, false);
                return now_ms + SV_TELEMETRY_READ_MS;
        }
        if (t->following_new)
                return QUIET;
        follow_new(t, true);
        /* Without NEW events, only dumps see connections start. */
        return t->following_new ? now_ms : now_ms + SV_TELEMETRY_READ_MS;
}

int64_t sv_telemetry_tick(sv_telemetry *t, int64_t now_ms, sv_error *err) {
        if (!t->flows)
                return INT64_MAX;
        if (t->flows_due == QUIET) {
                if (t->read_soon)
                        t->flows_due = now_ms;
                else if (live_flows(t) > 0) /* a NEW event of a pod of the node */
                        t->flows_due = now_ms + SV_TELEMETRY_READ_MS;
                else
                        return QUIET;
        }
        if (now_ms < t->flows_due)
                return t->flows_due;
        t->read_soon = false;
        int r = sv_telemetry_read_flows(t);
        if (r < 0)
                sv_errorf(err, r, SV_CODE_IO, "reading the L4 counters: %s", strerror(-r));
        t->flows_due = next_read(t, now_ms, r);
        return t->flows_due;
}

int sv_telemetry_set_state(sv_telemetry *t, const json_t *state) {
        sv_addrbook *book = NULL;
        int r = sv_addrbook_build(state, &book);
        if (r < 0)
                return r;
        sv_addrbook_free(t->book);
        t->book = book;
        /* A NEW event of a pod the previous state did not name was left
         * out; while quiet, only a dump would find its connection. */
        t->read_soon = true;
        return 0;
}
