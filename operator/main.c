/* SPDX-License-Identifier: Apache-2.0 */
/* selvedge-operator: one per node. Watches the API (informers), compiles the
 * node's mesh state, hands it to the data-plane backend, persists it, reports
 * what the node programmed, and, when it holds the Lease, writes the status of
 * ServicePolicy and TrafficSplit. Serves /metrics, /healthz and /readyz on a
 * node-local address. See docs/operator.md. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/siphash.h"
#include "json/json.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/lease.h"
#include "operator/agent.h"
#include "operator/backend.h"
#include "operator/telemetry.h"
#include "operator/compile.h"
#include "operator/httpd.h"
#include "operator/memory.h"
#include "operator/metrics.h"
#include "operator/objects.h"
#include "operator/report.h"
#include "operator/status.h"

#define STATUS_RESYNC_MS (30 * 1000)
#define STATUS_PASS_BUDGET_MS 500
#define POLL_MAX_MS (30 * 1000)

enum {
        INF_LOCAL_PODS,
        INF_REMOTE_PODS,
        INF_SERVICES,
        INF_SLICES,
        INF_NAMESPACES,
        INF_POLICIES,
        INF_SPLITS,
        INF_REPORTS,
        INF_MAX,
};

typedef struct options {
        const char *node, *namespace, *kubeconfig, *state_dir, *backend, *metrics_addr, *identity;
        const char *agent_socket, *cni_state_dir, *netns, *dns_service;
        bool default_deny, flow_counters;
        const char *render, *render_from;
        unsigned nflog_group;
        unsigned lease_duration, renew_deadline, retry_period, debounce_ms, idle_timeout;
        unsigned watch_timeout_min, watch_timeout_max;
        const char *log_level;
} options;

typedef struct informer_metrics {
        sv_metric *events[_SV_WATCH_TYPE_MAX], *restarts, *lists, *relists, *errors, *bytes,
                *unchanged, *pages, *objects, *synced;
        uint64_t last[_SV_WATCH_TYPE_MAX + 7];
} informer_metrics;

/* A state's text as its length and keyed hash: comparing states is all the
 * applied one is kept for, and the text is megabytes at 10,000 pods. */
typedef struct state_digest {
        size_t len;
        uint64_t hash;
} state_digest;

typedef struct op {
        options o;
        sv_kube_client *client;
        sv_informer *inf[INF_MAX];
        informer_metrics im[INF_MAX];
        sv_caches caches;
        sv_leader *leader;
        sv_report *report;
        sv_status_writer *status;
        sv_backend *backend;
        sv_telemetry *telemetry; /* nftables backend: denials and L4 counters */
        sv_metrics *metrics;
        sv_httpd *httpd;
        sv_agent *agent;
        sv_hashmap *attachments; /* chain -> sv_attachment */
        sv_compile_cache *ccache;
        bool compile_dirty, status_dirty, synced, was_leader;
        int64_t compile_due, status_due, start_ms;
        int64_t compiled_at; /* when the last compile ended */
        uint8_t digest_key[SV_SIPHASH_KEY_LEN];
        state_digest applied; /* the state in the data plane; len 0: none yet */
        uint64_t nft_failures_seen;
        /* uid -> the last compile's verdict as compact JSON text: a thousand
         * small trees cost ~0.7 MB, their texts ~0.2. */
        sv_hashmap *verdicts;
        sv_metric *m_sync, *m_compile_errors, *m_apply_errors, *m_status_writes, *m_status_errors,
                *m_events, *m_leader, *m_state_bytes, *m_applies, *m_nft_full, *m_nft_incr,
                *m_nft_failed, *m_nft_seconds, *m_nft_messages;
} op;

static void usage(FILE *f) {
        fputs("Usage: selvedge-operator --node-name NODE [options]\n"
              "  --node-name NODE          this node (default: $NODE_NAME)\n"
              "  --namespace NS            for the Leases (default: $POD_NAMESPACE or "
              "selvedge-system)\n"
              "  --kubeconfig PATHS        kubeconfig (default: in-cluster, then $KUBECONFIG, "
              "~/.kube/config)\n"
              "  --state-dir DIR           persisted state (default /var/lib/selvedge)\n"
              "  --backend SPEC            none | nftables | record:/path (default none)\n"
              "  --netns PATH              nftables: program this network namespace (default: "
              "our own)\n"
              "  --default-policy P        allow | deny: ingress to pods no policy selects "
              "(default allow)\n"
              "  --cluster-dns NS/NAME     the DNS Service every pod may reach (default "
              "kube-system/kube-dns)\n"
              "  --nflog-group N           NFLOG group for policy denials (default 70)\n"
              "  --no-flow-counters        no per-connection L4 counters (from conntrack)\n"
              "  --render STATE.json       print the nftables ruleset of a saved state and exit;\n"
              "                            with --backend nftables also apply it (after\n"
              "                            --render-from PREV.json, to apply only the change)\n"
              "  --metrics-addr ADDR:PORT  /metrics, /healthz, /readyz (default 127.0.0.1:9464)\n"
              "  --identity ID             leader-election identity (default: node name)\n"
              "  --lease-duration S, --renew-deadline S, --retry-period S   (15, 10, 2)\n"
              "  --debounce-ms MS          least time from a compile to the next (default 20)\n"
              "  --watch-idle-timeout S    restart a silent watch after S (default 150)\n"
              "  --watch-timeout MIN-MAX   server-side watch timeout range (default 300-600)\n"
              "  --agent-socket PATH       where the CNI plugin reaches this agent (default "
              "/run/selvedge/agent.sock; \"\" disables)\n"
              "  --cni-state-dir DIR       the CNI plugin's records (default /run/selvedge/cni)\n"
              "  --log-level LEVEL         debug, info, warn, error (default info)\n",
              f);
}

static int parse_uint(const char *flag, const char *s, unsigned max, unsigned *out) {
        uint64_t v;
        if (sv_parse_uint64(s, max, &v) < 0) {
                fprintf(stderr, "selvedge-operator: %s: \"%s\" is not a number up to %u\n", flag, s,
                        max);
                return -EINVAL;
        }
        *out = (unsigned)v;
        return 0;
}

static int parse_options(int argc, char **argv, options *o) {
        *o = (options){
                .node = getenv("NODE_NAME"),
                .namespace = getenv("POD_NAMESPACE"),
                .state_dir = "/var/lib/selvedge",
                .backend = "none",
                .metrics_addr = "127.0.0.1:9464",
                .lease_duration = 15,
                .renew_deadline = 10,
                .retry_period = 2,
                .debounce_ms = 20,
                .idle_timeout = 150,
                .watch_timeout_min = 300,
                .watch_timeout_max = 600,
                .log_level = "info",
                .agent_socket = "/run/selvedge/agent.sock",
                .cni_state_dir = "/run/selvedge/cni",
                .dns_service = "kube-system/kube-dns",
                .nflog_group = 70,
                .flow_counters = true,
        };
        if (!o->namespace || !*o->namespace)
                o->namespace = "selvedge-system";
        static const struct option longopts[] = {
                {"node-name", required_argument, NULL, 'n'},
                {"namespace", required_argument, NULL, 'N'},
                {"kubeconfig", required_argument, NULL, 'k'},
                {"state-dir", required_argument, NULL, 's'},
                {"backend", required_argument, NULL, 'b'},
                {"metrics-addr", required_argument, NULL, 'm'},
                {"identity", required_argument, NULL, 'i'},
                {"lease-duration", required_argument, NULL, 'L'},
                {"renew-deadline", required_argument, NULL, 'R'},
                {"retry-period", required_argument, NULL, 'P'},
                {"debounce-ms", required_argument, NULL, 'd'},
                {"watch-idle-timeout", required_argument, NULL, 'I'},
                {"watch-timeout", required_argument, NULL, 'W'},
                {"log-level", required_argument, NULL, 'l'},
                {"agent-socket", required_argument, NULL, 'A'},
                {"cni-state-dir", required_argument, NULL, 'C'},
                {"netns", required_argument, NULL, 'X'},
                {"default-policy", required_argument, NULL, 'D'},
                {"cluster-dns", required_argument, NULL, 'S'},
                {"nflog-group", required_argument, NULL, 'G'},
                {"no-flow-counters", no_argument, NULL, 'F'},
                {"render", required_argument, NULL, 'r'},
                {"render-from", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int c, r = 0;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'n':
                        o->node = optarg;
                        break;
                case 'N':
                        o->namespace = optarg;
                        break;
                case 'k':
                        o->kubeconfig = optarg;
                        break;
                case 's':
                        o->state_dir = optarg;
                        break;
                case 'b':
                        o->backend = optarg;
                        break;
                case 'm':
                        o->metrics_addr = optarg;
                        break;
                case 'i':
                        o->identity = optarg;
                        break;
                case 'L':
                        r = parse_uint("--lease-duration", optarg, 3600, &o->lease_duration);
                        break;
                case 'R':
                        r = parse_uint("--renew-deadline", optarg, 3600, &o->renew_deadline);
                        break;
                case 'P':
                        r = parse_uint("--retry-period", optarg, 3600, &o->retry_period);
                        break;
                case 'd':
                        r = parse_uint("--debounce-ms", optarg, 60000, &o->debounce_ms);
                        break;
                case 'I':
                        r = parse_uint("--watch-idle-timeout", optarg, 86400, &o->idle_timeout);
                        break;
                case 'W': {
                        char buf[64];
                        const char *dash = strchr(optarg, '-');
                        if (!dash || (size_t)(dash - optarg) >= sizeof(buf)) {
                                fprintf(stderr,
                                        "selvedge-operator: --watch-timeout wants MIN-MAX\n");
                                return -EINVAL;
                        }
                        memcpy(buf, optarg, (size_t)(dash - optarg));
                        buf[dash - optarg] = 0;
                        r = parse_uint("--watch-timeout", buf, 3600, &o->watch_timeout_min);
                        if (r == 0)
                                r = parse_uint("--watch-timeout", dash + 1, 3600,
                                               &o->watch_timeout_max);
                        if (r == 0 && (o->watch_timeout_min == 0 ||
                                       o->watch_timeout_max < o->watch_timeout_min)) {
                                fprintf(stderr, "selvedge-operator: --watch-timeout: bad range\n");
                                r = -EINVAL;
                        }
                        break;
                }
                case 'l':
                        o->log_level = optarg;
                        break;
                case 'A':
                        o->agent_socket = optarg;
                        break;
                case 'C':
                        o->cni_state_dir = optarg;
                        break;
                case 'X':
                        o->netns = optarg;
                        break;
                case 'D':
                        if (strcmp(optarg, "allow") == 0 || strcmp(optarg, "deny") == 0) {
                                o->default_deny = strcmp(optarg, "deny") == 0;
                        } else {
                                fprintf(stderr,
                                        "selvedge-operator: --default-policy: \"%s\" is "
                                        "neither allow nor deny\n",
                                        optarg);
                                r = -EINVAL;
                        }
                        break;
                case 'S':
                        if (!strchr(optarg, '/')) {
                                fprintf(stderr,
                                        "selvedge-operator: --cluster-dns: \"%s\" is not "
                                        "NAMESPACE/NAME\n",
                                        optarg);
                                r = -EINVAL;
                        }
                        o->dns_service = optarg;
                        break;
                case 'G':
                        r = parse_uint("--nflog-group", optarg, 65535, &o->nflog_group);
                        break;
                case 'F':
                        o->flow_counters = false;
                        break;
                case 'r':
                        o->render = optarg;
                        break;
                case 'f':
                        o->render_from = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc) {
                fprintf(stderr, "selvedge-operator: unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        if ((!o->node || !*o->node) && !o->render) {
                fprintf(stderr, "selvedge-operator: --node-name (or $NODE_NAME) is required\n");
                return -EINVAL;
        }
        if (!o->identity)
                o->identity = o->node;
        if (o->renew_deadline >= o->lease_duration || o->retry_period >= o->renew_deadline ||
            o->retry_period == 0) {
                fprintf(stderr, "selvedge-operator: need 0 < retry-period < renew-deadline < "
                                "lease-duration\n");
                return -EINVAL;
        }
        return 0;
}

/* The first change after a quiet spell compiles at once (what is already
 * buffered comes along); later ones wait until debounce_ms after the last
 * compile ended, so a burst costs one compile per period, not one per event. */
static void mark_dirty(op *x) {
        if (!x->compile_dirty) {
                x->compile_dirty = true;
                int64_t now = sv_monotonic_ms(), calm = x->compiled_at + x->o.debounce_ms;
                x->compile_due = x->compiled_at && calm > now ? calm : now;
        }
}

/* Informer callbacks: a ServicePolicy or TrafficSplit whose status alone
 * changed (our own write, most often) needs no compile, only a status look. */
static void on_change(void *ud, enum sv_informer_change change, const char *key, void *old_item,
                      void *new_item, bool mesh) {
        op *x = ud;
        /* What the compile cache derived from pods, namespaces and Services
         * (and its pointers to their items) is stale now. */
        if (!mesh)
                sv_compile_cache_invalidate(x->ccache);
        if (mesh && change == SV_INFORMER_UPDATE) {
                const sv_mesh_object *a = old_item, *b = new_item;
                if (a->generation == b->generation && strcmp(a->spec, b->spec) == 0) {
                        x->status_dirty = true;
                        return;
                }
        }
        mark_dirty(x);
}

static void on_change_plain(void *ud, enum sv_informer_change c, const char *key, void *o,
                            void *n) {
        on_change(ud, c, key, o, n, false);
}

static void on_change_mesh(void *ud, enum sv_informer_change c, const char *key, void *o, void *n) {
        on_change(ud, c, key, o, n, true);
}

static void on_change_report(void *ud, enum sv_informer_change c, const char *key, void *o,
                             void *n) {
        ((op *)ud)->status_dirty = true;
}

/* Whether this node's report Lease, as the watch last showed it, holds what
 * was last written (a heartbeat period after a write, the watch has it). */
static bool report_stored(op *x) {
        if (!sv_informer_synced(x->inf[INF_REPORTS]))
                return true; /* not known yet: nothing to correct */
        char key[640];
        snprintf(key, sizeof(key), "%s/%s", x->o.namespace, sv_report_name(x->report));
        const sv_node_report *mine = sv_informer_get(x->inf[INF_REPORTS], key);
        return mine && mine->has_report &&
               sv_genmap_equals_json(&mine->programmed, sv_report_programmed(x->report)) &&
               json_equal(mine->failed, sv_report_failed(x->report));
}

/* A start-up lists 10,000 pods in 40 pages a few milliseconds apart, each
 * parsed into a tree of a few megabytes and freed: jemalloc keeps freed pages
 * for a second (malloc_conf in memory.c), so without this they piled up to
 * ~30 MB before the first compile. */
static void list_page_done(void *userdata) {
        sv_memory_release();
}

static int setup_informers(op *x, sv_error *err) {
        char local_sel[320], remote_sel[320], reports_path[512];
        snprintf(local_sel, sizeof(local_sel), "spec.nodeName=%s", x->o.node);
        snprintf(remote_sel, sizeof(remote_sel), "spec.nodeName!=%s", x->o.node);
        sv_lease_path(x->o.namespace, NULL, reports_path, sizeof(reports_path));
        const struct {
                const char *name, *path, *field, *label;
                int (*transform)(void *, json_t *, void **, sv_error *);
                void (*free_item)(void *);
                void (*changed)(void *, enum sv_informer_change, const char *, void *, void *);
                bool (*same)(const void *, const void *);
        } defs[INF_MAX] = {
                [INF_LOCAL_PODS] = {"pods_local", "/api/v1/pods", local_sel, NULL, sv_pod_transform,
                                    sv_pod_free, on_change_plain, sv_pod_same},
                [INF_REMOTE_PODS] = {"pods_remote", "/api/v1/pods", remote_sel, NULL,
                                     sv_pod_transform, sv_pod_free, on_change_plain, sv_pod_same},
                [INF_SERVICES] = {"services", "/api/v1/services", NULL, NULL, sv_service_transform,
                                  sv_service_free, on_change_plain, sv_service_same},
                [INF_SLICES] = {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", NULL,
                                NULL, sv_slice_transform, sv_slice_free, on_change_plain,
                                sv_slice_same},
                [INF_NAMESPACES] = {"namespaces", "/api/v1/namespaces", NULL, NULL,
                                    sv_namespace_transform, sv_namespace_free, on_change_plain,
                                    sv_namespace_same},
                [INF_POLICIES] = {"servicepolicies", "/apis/selvedge.dev/v1alpha1/servicepolicies",
                                  NULL, NULL, sv_policy_transform, sv_mesh_object_free,
                                  on_change_mesh},
                [INF_SPLITS] = {"trafficsplits", "/apis/selvedge.dev/v1alpha1/trafficsplits", NULL,
                                NULL, sv_split_transform, sv_mesh_object_free, on_change_mesh},
                [INF_REPORTS] = {"node_reports", reports_path, NULL, SV_REPORT_LABEL "=true",
                                 sv_node_report_transform, sv_node_report_free, on_change_report},
        };
        for (int i = 0; i < INF_MAX; i++) {
                sv_informer_config cfg = {
                        .name = defs[i].name,
                        .path = defs[i].path,
                        .field_selector = defs[i].field,
                        .label_selector = defs[i].label,
                        .idle_timeout_s = x->o.idle_timeout,
                        .min_watch_timeout_s = x->o.watch_timeout_min,
                        .max_watch_timeout_s = x->o.watch_timeout_max,
                };
                sv_informer_ops ops = {.transform = defs[i].transform,
                                       .free_item = defs[i].free_item,
                                       .on_change = defs[i].changed,
                                       .same = defs[i].same,
                                       .page_done = list_page_done};
                int r = sv_informer_new(x->client, &cfg, &ops, x, &x->inf[i]);
                if (r < 0)
                        return sv_errorf(err, r, SV_CODE_INTERNAL, "creating informer %s failed",
                                         defs[i].name);
        }
        x->caches = (sv_caches){
                .node = x->o.node,
                .local_pods = x->inf[INF_LOCAL_PODS],
                .remote_pods = x->inf[INF_REMOTE_PODS],
                .services = x->inf[INF_SERVICES],
                .slices = x->inf[INF_SLICES],
                .namespaces = x->inf[INF_NAMESPACES],
                .policies = x->inf[INF_POLICIES],
                .splits = x->inf[INF_SPLITS],
                .attachments = x->attachments,
        };
        return 0;
}

static int setup_metrics(op *x) {
        sv_metrics *m = x->metrics;
        int r = 0;
#define REG(call)                                                                                  \
        do {                                                                                       \
                if (r >= 0)                                                                        \
                        r = (call);                                                                \
        } while (0)
        for (int i = 0; i < INF_MAX; i++) {
                const char *res = sv_informer_name(x->inf[i]);
                informer_metrics *im = &x->im[i];
                for (int t = 0; t < _SV_WATCH_TYPE_MAX; t++)
                        REG(sv_metrics_counter(
                                m, "selvedge_operator_watch_events_total",
                                "Watch events received, by resource and type.",
                                SV_LABELS("resource", res, "type", sv_watch_type_name(t)),
                                &im->events[t]));
                REG(sv_metrics_counter(m, "selvedge_operator_watch_restarts_total",
                                       "Watches that ended and were started again (server "
                                       "timeout, failure, idle).",
                                       SV_LABELS("resource", res), &im->restarts));
                REG(sv_metrics_counter(m, "selvedge_operator_lists_total",
                                       "Completed full lists, the initial one included.",
                                       SV_LABELS("resource", res), &im->lists));
                REG(sv_metrics_counter(m, "selvedge_operator_relists_total",
                                       "Full lists after the initial one (lost watch history).",
                                       SV_LABELS("resource", res), &im->relists));
                REG(sv_metrics_counter(m, "selvedge_operator_list_pages_total",
                                       "List pages received (limit 250 objects each).",
                                       SV_LABELS("resource", res), &im->pages));
                REG(sv_metrics_counter(m, "selvedge_operator_watch_errors_total",
                                       "Failed list or watch requests and undecodable events.",
                                       SV_LABELS("resource", res), &im->errors));
                REG(sv_metrics_counter(m, "selvedge_operator_watch_received_bytes_total",
                                       "Bytes received on watch streams.",
                                       SV_LABELS("resource", res), &im->bytes));
                REG(sv_metrics_counter(m, "selvedge_operator_unchanged_updates_total",
                                       "Updates that changed nothing the cache keeps (a pod's "
                                       "status, most often): no compile.",
                                       SV_LABELS("resource", res), &im->unchanged));
                REG(sv_metrics_gauge(m, "selvedge_operator_cache_objects",
                                     "Objects in the informer's cache.", SV_LABELS("resource", res),
                                     &im->objects));
                REG(sv_metrics_gauge(m, "selvedge_operator_cache_synced",
                                     "1 once the informer has listed successfully.",
                                     SV_LABELS("resource", res), &im->synced));
        }
        static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5};
        REG(sv_metrics_histogram(m, "selvedge_operator_sync_duration_seconds",
                                 "Time to compile the node's state and apply it.", NULL, bounds,
                                 ARRAY_SIZE(bounds), &x->m_sync));
        REG(sv_metrics_counter(m, "selvedge_operator_errors_total", "Errors, by stage.",
                               SV_LABELS("stage", "compile"), &x->m_compile_errors));
        REG(sv_metrics_counter(m, "selvedge_operator_errors_total", "Errors, by stage.",
                               SV_LABELS("stage", "apply"), &x->m_apply_errors));
        REG(sv_metrics_counter(m, "selvedge_operator_errors_total", "Errors, by stage.",
                               SV_LABELS("stage", "status"), &x->m_status_errors));
        REG(sv_metrics_counter(m, "selvedge_operator_applies_total",
                               "States handed to the data-plane backend.", NULL, &x->m_applies));
        REG(sv_metrics_counter(m, "selvedge_operator_status_writes_total",
                               "Status writes of ServicePolicy and TrafficSplit.", NULL,
                               &x->m_status_writes));
        REG(sv_metrics_counter(m, "selvedge_operator_warning_events_total",
                               "Warning Events posted for broken references.", NULL, &x->m_events));
        REG(sv_metrics_gauge(m, "selvedge_operator_leader",
                             "1 while this instance holds the leader Lease.", NULL, &x->m_leader));
        REG(sv_metrics_counter(m, "selvedge_nft_transactions_total",
                               "nftables transactions applied, by kind.", SV_LABELS("kind", "full"),
                               &x->m_nft_full));
        REG(sv_metrics_counter(m, "selvedge_nft_transactions_total",
                               "nftables transactions applied, by kind.",
                               SV_LABELS("kind", "incremental"), &x->m_nft_incr));
        REG(sv_metrics_counter(m, "selvedge_nft_refused_total",
                               "nftables transactions the kernel refused (each is followed by a "
                               "full sync).",
                               NULL, &x->m_nft_failed));
        REG(sv_metrics_gauge(m, "selvedge_nft_last_transaction_seconds",
                             "Render and commit time of the last nftables transaction.", NULL,
                             &x->m_nft_seconds));
        REG(sv_metrics_gauge(m, "selvedge_nft_last_transaction_messages",
                             "Netlink messages in the last nftables transaction.", NULL,
                             &x->m_nft_messages));
        REG(sv_metrics_gauge(m, "selvedge_operator_state_bytes",
                             "Size of the node's compiled state.", NULL, &x->m_state_bytes));
#undef REG
        return r;
}

static void export_informer_metrics(op *x) {
        for (int i = 0; i < INF_MAX; i++) {
                sv_informer_stats *s = sv_informer_stats_of(x->inf[i]);
                informer_metrics *im = &x->im[i];
                uint64_t now[_SV_WATCH_TYPE_MAX + 7];
                sv_metric *dst[_SV_WATCH_TYPE_MAX + 7];
                for (int t = 0; t < _SV_WATCH_TYPE_MAX; t++) {
                        now[t] = atomic_load(&s->events[t]);
                        dst[t] = im->events[t];
                }
                uint64_t lists = atomic_load(&s->lists);
                now[_SV_WATCH_TYPE_MAX] = atomic_load(&s->watch_restarts);
                now[_SV_WATCH_TYPE_MAX + 1] = lists;
                now[_SV_WATCH_TYPE_MAX + 2] = lists > 0 ? lists - 1 : 0;
                now[_SV_WATCH_TYPE_MAX + 3] = atomic_load(&s->errors);
                now[_SV_WATCH_TYPE_MAX + 4] = atomic_load(&s->bytes);
                now[_SV_WATCH_TYPE_MAX + 5] = atomic_load(&s->unchanged);
                now[_SV_WATCH_TYPE_MAX + 6] = atomic_load(&s->list_pages);
                dst[_SV_WATCH_TYPE_MAX] = im->restarts;
                dst[_SV_WATCH_TYPE_MAX + 1] = im->lists;
                dst[_SV_WATCH_TYPE_MAX + 2] = im->relists;
                dst[_SV_WATCH_TYPE_MAX + 3] = im->errors;
                dst[_SV_WATCH_TYPE_MAX + 4] = im->bytes;
                dst[_SV_WATCH_TYPE_MAX + 5] = im->unchanged;
                dst[_SV_WATCH_TYPE_MAX + 6] = im->pages;
                /* Counters only go up: add what happened since the last export. */
                for (size_t k = 0; k < ARRAY_SIZE(now); k++)
                        if (now[k] > im->last[k]) {
                                sv_metric_add(dst[k], (double)(now[k] - im->last[k]));
                                im->last[k] = now[k];
                        }
                sv_metric_set(im->objects, (double)atomic_load(&s->objects));
                sv_metric_set(im->synced, sv_informer_synced(x->inf[i]) ? 1 : 0);
        }
}

static state_digest digest_of(const op *x, const char *text) {
        state_digest d = {.len = strlen(text)};
        sv_siphash h;
        sv_siphash_init(&h, x->digest_key);
        sv_siphash_update(&h, text, d.len);
        d.hash = sv_siphash_final(&h);
        return d;
}

static bool same_digest(state_digest a, state_digest b) {
        return a.len == b.len && a.hash == b.hash;
}

/* How the state is dumped, as a string or streamed (persist_streamed): the
 * digests of both must agree. */
#define STATE_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* For the record backend, which writes the text, and the restore at start;
 * the other backends' compiles stream it (persist_streamed). */
static char *dump_state(const json_t *state) {
        return json_dumps(state, STATE_DUMP_FLAGS);
}

/* Makes the data plane match state; text is state's dump, or NULL for a
 * backend that does not want it. */
static int backend_apply(op *x, const json_t *state, const char *text, sv_error *err) {
        int r = sv_backend_apply(x->backend, state, text, err);
        const sv_backend_stats *bs = sv_backend_stats_get(x->backend);
        if (bs->failures > x->nft_failures_seen) {
                sv_metric_add(x->m_nft_failed, (double)(bs->failures - x->nft_failures_seen));
                x->nft_failures_seen = bs->failures;
        }
        if (r < 0) {
                sv_metric_inc(x->m_apply_errors);
                return r;
        }
        if (strcmp(sv_backend_name(x->backend), "nftables") == 0 && bs->changed) {
                /* Counters follow the backend's own totals. */
                sv_metric_set(x->m_nft_seconds, (double)(bs->render_us + bs->apply_us) / 1e6);
                sv_metric_set(x->m_nft_messages, bs->messages);
                if (bs->last.full)
                        sv_metric_inc(x->m_nft_full);
                else
                        sv_metric_inc(x->m_nft_incr);
        }
        return 0;
}

/* A state other than the applied one is in the data plane (and persisted):
 * counted and named for telemetry. digest is its text's (digest_of). */
static void note_applied(op *x, const json_t *state, state_digest digest) {
        sv_metric_inc(x->m_applies);
        sv_metric_set(x->m_state_bytes, (double)digest.len);
        if (x->telemetry && sv_telemetry_set_state(x->telemetry, state) < 0)
                sv_log(SV_LOG_WARN, "telemetry names not updated", "error", "out of memory", NULL);
        x->applied = digest;
}

static void state_applied(op *x, const json_t *state, const char *text, state_digest digest) {
        sv_error save_err = SV_ERROR_INIT;
        if (sv_state_save(x->o.state_dir, text, digest.len, &save_err) < 0)
                sv_log(SV_LOG_WARN, "persisting the state failed", "error", save_err.message, NULL);
        note_applied(x, state, digest);
}

/* The state's dump as jansson writes it, never held whole (2 MB at 10,000
 * pods, at the top of a compile's peak): hashed for the digest and written
 * into a new state file, which is put in place only if the state changed. */
#define STATE_STREAM_BUF (64 * 1024) /* jansson hands over a token at a time */

typedef struct state_stream {
        sv_siphash hash;
        size_t len;
        sv_atomic_file file;
        sv_error error; /* the file's first failure: the digest is made anyway */
        size_t used;
        char buf[STATE_STREAM_BUF];
} state_stream;

static void stream_flush(state_stream *s) {
        int r = sv_error_is_set(&s->error) ? 0 : sv_atomic_file_write(&s->file, s->buf, s->used);
        if (r < 0)
                sv_errorf(&s->error, r, SV_CODE_IO, "writing %s: %s", s->file.path, strerror(-r));
        s->used = 0;
}

static int stream_chunk(const char *buf, size_t size, void *data) {
        state_stream *s = data;
        sv_siphash_update(&s->hash, buf, size);
        s->len += size;
        while (size > 0) {
                size_t room = sizeof(s->buf) - s->used, n = size < room ? size : room;
                memcpy(s->buf + s->used, buf, n);
                s->used += n;
                buf += n;
                size -= n;
                if (s->used == sizeof(s->buf))
                        stream_flush(s);
        }
        return 0;
}

/* What state_applied does for a backend that did not want the text. */
static int persist_streamed(op *x, const json_t *state) {
        state_stream *s = malloc(sizeof(*s)); /* two paths and the buffer: 72 KB */
        if (!s)
                return -ENOMEM;
        s->len = s->used = 0;
        s->file = (sv_atomic_file)SV_ATOMIC_FILE_INIT;
        s->error = (sv_error)SV_ERROR_INIT;
        sv_siphash_init(&s->hash, x->digest_key);
        (void)sv_state_file_open(x->o.state_dir, &s->file, &s->error);
        int r = json_dump_callback(state, stream_chunk, s, STATE_DUMP_FLAGS);
        stream_flush(s);
        state_digest digest = {.len = s->len, .hash = sv_siphash_final(&s->hash)};
        if (r == 0 && !same_digest(digest, x->applied)) {
                if (!sv_error_is_set(&s->error))
                        (void)sv_state_file_commit(&s->file, &s->error);
                if (sv_error_is_set(&s->error))
                        sv_log(SV_LOG_WARN, "persisting the state failed", "error",
                               s->error.message, NULL);
                note_applied(x, state, digest);
        }
        sv_atomic_file_abort(&s->file);
        free(s);
        return r < 0 ? -ENOMEM : 0;
}

static void restore_state(op *x) {
        sv_error err = SV_ERROR_INIT;
        _cleanup_json_ json_t *state = NULL;
        int r = sv_state_load(x->o.state_dir, &state, &err);
        if (r == -ENOENT) {
                sv_log(SV_LOG_INFO, "no persisted state; waiting for the API server", "dir",
                       x->o.state_dir, NULL);
                return;
        }
        if (r < 0) {
                sv_log(SV_LOG_WARN, "persisted state unusable; waiting for the API server", "error",
                       err.message, NULL);
                return;
        }
        _cleanup_free_ char *text = dump_state(state);
        if (!text) {
                sv_log(SV_LOG_ERROR, "re-applying the persisted state failed", "error",
                       "out of memory", NULL);
                return;
        }
        if (backend_apply(x, state, text, &err) < 0) {
                sv_log(SV_LOG_ERROR, "re-applying the persisted state failed", "error", err.message,
                       NULL);
                return;
        }
        state_applied(x, state, text, digest_of(x, text));
        char n[32];
        snprintf(n, sizeof(n), "%zu", json_array_size(json_object_get(state, "objects")));
        sv_log(SV_LOG_INFO, "re-applied the persisted state", "objects", n, NULL);
        sv_httpd_set_ready(x->httpd, true, NULL);
}

static int compile_and_apply_once(op *x);

static json_t *kept_object(void) {
        _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(true);
        return json_object();
}

/* Each verdict as compact text, made in keep mode: kept until the next
 * compile. NULL when memory ran out. */
static sv_hashmap *verdict_texts(const json_t *verdicts) {
        _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(true);
        _cleanup_(sv_hashmap_freep) sv_hashmap *m = NULL;
        if (sv_hashmap_new(&m) < 0)
                return NULL;
        const char *uid;
        json_t *v;
        json_object_foreach ((json_t *)verdicts, uid, v) {
                char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
                if (!text || sv_hashmap_put(m, uid, text, NULL) < 0) {
                        free(text);
                        sv_hashmap_free_with(TAKE_PTR(m), free);
                        return NULL;
                }
        }
        return TAKE_PTR(m);
}

/* A compile builds and drops megabytes of JSON at 10,000 pods; hand the freed
 * pages back so the footprint between changes is what is kept, not the peak. */
static int compile_and_apply(op *x) {
        int r = compile_and_apply_once(x);
        sv_memory_release();
        x->compiled_at = sv_monotonic_ms();
        /* Ready once a state is applied and the compile's garbage is gone
         * (what /readyz says is then what the node holds). */
        if (r == 0)
                sv_httpd_set_ready(x->httpd, true, NULL);
        return r;
}

static int compile_and_apply_once(op *x) {
        int64_t t0 = sv_monotonic_ms();
        sv_error err = SV_ERROR_INIT;
        _cleanup_json_ json_t *state = NULL;
        _cleanup_json_ json_t *verdicts = NULL;
        x->compile_dirty = false;
        if (sv_compile(&x->caches, x->ccache, &state, &verdicts, &err) < 0) {
                sv_metric_inc(x->m_compile_errors);
                sv_log(SV_LOG_ERROR, "compile failed", "error", err.message, NULL);
                return -EIO;
        }
        int64_t t_compiled = sv_monotonic_ms();
        /* Kept by the report until the next compile. */
        _cleanup_json_ json_t *programmed = kept_object();
        _cleanup_json_ json_t *failed = kept_object();
        const char *uid;
        json_t *v;
        /* A backend that diffs against what it applied (nftables) is handed
         * every state: an unchanged one costs it no transaction, and the
         * dump (~25 ms at 10,000 pods) is then off the path to the rules
         * going live. The record backend writes the dump, so it comes first
         * and decides whether there is anything to apply. */
        bool text_first = sv_backend_wants_text(x->backend);
        _cleanup_free_ char *text = NULL;
        state_digest digest = {0};
        if (text_first) {
                if (!(text = dump_state(state)))
                        return -ENOMEM;
                digest = digest_of(x, text);
        }
        int r = text_first && same_digest(digest, x->applied) ? 0
                                                              : backend_apply(x, state, text, &err);
        int64_t t_applied = sv_monotonic_ms();
        /* The verdicts' texts (~5 ms at 1,000 policies) are for the status
         * pass: made once the rules are live. */
        sv_hashmap *texts = verdict_texts(verdicts);
        if (!texts) {
                sv_log(SV_LOG_ERROR, "compile failed", "error", "out of memory", NULL);
                return -ENOMEM;
        }
        sv_hashmap_free_with(x->verdicts, free);
        x->verdicts = texts;
        x->status_dirty = true;
        if (r == 0 && !text_first && persist_streamed(x, state) < 0)
                return -ENOMEM;
        if (r == 0 && text_first && !same_digest(digest, x->applied))
                state_applied(x, state, text, digest);
        if (r < 0) {
                sv_log(SV_LOG_ERROR, "applying the state failed", "backend",
                       sv_backend_name(x->backend), "error", err.message, NULL);
                _cleanup_(sv_memory_json_restore) bool was = sv_memory_json_keep(true);
                json_object_foreach (verdicts, uid, v) {
                        json_object_set_new(failed, uid, json_string(err.message));
                }
                sv_report_set(x->report, programmed, failed);
                return -EIO;
        }
        {
                _cleanup_(sv_memory_json_restore) bool was = sv_memory_json_keep(true);
                json_object_foreach (verdicts, uid, v) {
                        json_int_t gen = json_integer_value(json_object_get(v, "generation"));
                        json_object_set_new(programmed, uid, json_integer(gen));
                }
        }
        sv_report_set(x->report, programmed, failed);
        int64_t t_done = sv_monotonic_ms();
        sv_metric_observe(x->m_sync, (double)(t_done - t0) / 1000.0);
        /* The rules are live at "applied"; the rest is bookkeeping. */
        char c[24], a[24], d[24];
        snprintf(c, sizeof(c), "%lld", (long long)(t_compiled - t0));
        snprintf(a, sizeof(a), "%lld", (long long)(t_applied - t0));
        snprintf(d, sizeof(d), "%lld", (long long)(t_done - t0));
        sv_log(SV_LOG_DEBUG, "synced", "compiled_ms", c, "applied_ms", a, "done_ms", d, NULL);
        return 0;
}

static json_t *refuse(const char *fmt, ...) _printf_(1, 2);
static json_t *refuse(const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

/* One request of the CNI plugin (docs/cni.md). An add is answered only once
 * the pod's addresses are in the applied state: its first packet already
 * meets the node's rules. */
static json_t *agent_handle(op *x, json_t *req) {
        const char *verb = json_string_value(json_object_get(req, "op"));
        if (!verb)
                return refuse("request without \"op\"");
        if (strcmp(verb, "status") == 0)
                return x->synced ? json_pack("{s:b}", "ok", 1)
                                 : refuse("not synced with the API server yet");
        if (strcmp(verb, "del") == 0) {
                const char *chain = json_string_value(json_object_get(req, "chain"));
                void *old = NULL;
                if (chain && sv_hashmap_remove(x->attachments, chain, &old) == 0) {
                        sv_attachment_free(old);
                        sv_compile_cache_invalidate(x->ccache);
                        mark_dirty(x);
                }
                return json_pack("{s:b}", "ok", 1);
        }
        if (strcmp(verb, "add") != 0)
                return refuse("unknown op \"%.32s\"", verb);
        sv_error err = SV_ERROR_INIT;
        sv_attachment *a = NULL;
        if (sv_attachment_from_record(json_object_get(req, "pod"), &a, &err) < 0)
                return refuse("bad pod record: %s", err.message);
        char key[320];
        snprintf(key, sizeof(key), "%s/%s", a->namespace, a->name);
        const sv_pod *pod = x->synced ? sv_informer_get(x->inf[INF_LOCAL_PODS], key) : NULL;
        if (!pod) {
                sv_attachment_free(a);
                if (!x->synced)
                        return refuse("pod %s: not synced with the API server yet", key);
                return refuse("pod %s is not known on node %s yet", key, x->o.node);
        }
        void *old = NULL;
        if (sv_hashmap_put(x->attachments, a->chain, a, &old) < 0) {
                sv_attachment_free(a);
                return refuse("out of memory");
        }
        sv_attachment_free(old);
        sv_compile_cache_invalidate(x->ccache);
        if (compile_and_apply(x) < 0)
                return refuse("pod %s: the node's state could not be applied", key);
        sv_log(SV_LOG_DEBUG, "pod attached", "pod", key, "chain", a->chain, NULL);
        return json_pack("{s:b,s:s}", "ok", 1, "serviceAccount", sv_pod_service_account(pod));
}

static void agent_serve(op *x) {
        /* A bounded batch: a flood of connections must not starve the rest. */
        for (int i = 0; i < 16; i++) {
                int conn = -1;
                json_t *req = NULL;
                sv_error err = SV_ERROR_INIT;
                int r = sv_agent_accept(x->agent, &conn, &req, &err);
                if (r == -EAGAIN)
                        return;
                if (r < 0) {
                        sv_log(SV_LOG_WARN, "CNI request refused", "error", err.message, NULL);
                        continue;
                }
                _cleanup_json_ json_t *answer = agent_handle(x, req);
                json_decref(req);
                sv_agent_reply(conn, answer);
        }
}

typedef struct status_counts {
        unsigned writes, events, errors;
        bool cut; /* stopped for time, to be resumed */
} status_counts;

/* Brings the status of the objects of one informer up to date. Returns false
 * when it stopped early: the lease was lost, or the pass used up its time. */
static bool status_walk(op *x, sv_informer *inf, const sv_self_report *self, int64_t stop_at,
                        status_counts *n) {
        size_t it = 0;
        const char *key;
        void *item;
        while (sv_informer_next(inf, &it, &key, &item)) {
                int64_t now = sv_monotonic_ms();
                /* Stop at once if the lease was lost during the pass. */
                if (!sv_leader_is_leader(x->leader, now)) {
                        sv_log(SV_LOG_WARN, "lease not renewed in time; status pass stopped", NULL);
                        return false;
                }
                if (now >= stop_at) {
                        n->cut = true;
                        return false;
                }
                sv_mesh_object *o = item;
                const char *verdict = sv_hashmap_get(x->verdicts, o->uid);
                if (!verdict)
                        continue; /* appeared after the last compile */
                sv_rollout ro = sv_status_rollout(x->status, x->inf[INF_REPORTS], o->uid,
                                                  o->generation, self);
                sv_error err = SV_ERROR_INIT;
                int r = sv_status_sync(x->status, x->client, o, verdict, &ro, &n->events, &err);
                if (r > 0)
                        n->writes++;
                if (r < 0) {
                        n->errors++;
                        x->status_dirty = true;
                        sv_log(SV_LOG_WARN, "status write failed", "object", key, "error",
                               err.message, NULL);
                }
        }
        return true;
}

/* A pass writes one status per ~10 ms: 1,000 new policies would hold the
 * main loop for 10 s, past the lease's renew deadline, with watches and
 * compiles waiting. A pass therefore stops after STATUS_PASS_BUDGET_MS and
 * the loop resumes it at once after its other work; statuses already written
 * or found right are skipped (status.c remembers them). */
static void status_pass(op *x, int64_t now) {
        sv_status_observe_reports(x->status, x->inf[INF_REPORTS], now);
        x->status_dirty = false;
        x->status_due = now + STATUS_RESYNC_MS;
        status_counts n = {0};
        /* Only a state actually applied counts for this node. */
        sv_self_report self = {.node = x->o.node,
                               .programmed = sv_report_programmed(x->report),
                               .failed = sv_report_failed(x->report)};
        int64_t stop_at = now + STATUS_PASS_BUDGET_MS;
        (void)(status_walk(x, x->inf[INF_POLICIES], &self, stop_at, &n) &&
               status_walk(x, x->inf[INF_SPLITS], &self, stop_at, &n));
        sv_metric_add(x->m_status_writes, n.writes);
        sv_metric_add(x->m_events, n.events);
        sv_metric_add(x->m_status_errors, n.errors);
        /* Each write parsed a request and an answer: hand the pages back. */
        if (n.writes > 0)
                sv_memory_release();
        if (x->status_dirty)
                x->status_due = now + 1000;
        if (n.cut)
                x->status_due = now; /* due again at once */
}

static int64_t min64(int64_t a, int64_t b) {
        return a < b ? a : b;
}

static void log_denial(const sv_denial *d, void *userdata) {
        char port[8];
        snprintf(port, sizeof(port), "%u", d->packet->dport);
        sv_log(SV_LOG_DEBUG, "policy denied a connection", "direction", d->direction, "source",
               d->source, "destination", d->destination, "src", d->packet->src, "dst",
               d->packet->dst, "dport", port, NULL);
}

static int run(op *x, int sigfd) {
        int64_t leader_due = 0;
        for (;;) {
                int64_t now = sv_monotonic_ms(), next = now + POLL_MAX_MS;
                bool all_synced = true;
                for (int i = 0; i < INF_MAX; i++) {
                        sv_error err = SV_ERROR_INIT;
                        next = min64(next, sv_informer_process(x->inf[i], now, &err));
                        if (sv_error_is_set(&err))
                                sv_log(SV_LOG_WARN, "watch problem", "resource",
                                       sv_informer_name(x->inf[i]), "error", err.message, NULL);
                        all_synced = all_synced && sv_informer_synced(x->inf[i]);
                }
                now = sv_monotonic_ms();
                if (all_synced && !x->synced) {
                        x->synced = true;
                        x->compile_dirty = true;
                        x->compile_due = now;
                        char ms[32];
                        snprintf(ms, sizeof(ms), "%lld", (long long)(now - x->start_ms));
                        sv_log(SV_LOG_INFO, "caches synced", "elapsed_ms", ms, NULL);
                }
                if (x->synced && x->compile_dirty) {
                        if (now >= x->compile_due)
                                compile_and_apply(x);
                        else
                                next = min64(next, x->compile_due);
                }
                sv_error err = SV_ERROR_INIT;
                if (x->synced && sv_report_heartbeat_due(x->report, now) && !report_stored(x))
                        sv_report_rewrite(x->report);
                if (x->synced)
                        next = min64(next, sv_report_tick(x->report, x->client, now, &err));
                if (sv_error_is_set(&err))
                        sv_log(SV_LOG_WARN, "node report failed", "error", err.message, NULL);
                sv_error_clear(&err);
                now = sv_monotonic_ms();
                if (now >= leader_due) {
                        leader_due = sv_leader_tick(x->leader, x->client, now, &err);
                        /* The lease is the API's pulse: when it answers, watches
                         * cut off by the network need not wait out their
                         * backoff. */
                        bool api_ok = !sv_error_is_set(&err);
                        for (int i = 0; api_ok && i < INF_MAX; i++)
                                sv_informer_nudge(x->inf[i], sv_monotonic_ms());
                        if (!api_ok)
                                sv_log(SV_LOG_DEBUG, "leader election attempt failed", "error",
                                       err.message, NULL);
                }
                next = min64(next, leader_due);
                now = sv_monotonic_ms();
                bool leading = sv_leader_is_leader(x->leader, now);
                if (leading != x->was_leader) {
                        sv_log(SV_LOG_INFO, leading ? "became leader" : "stopped leading",
                               "identity", x->o.identity, "holder", sv_leader_holder(x->leader),
                               NULL);
                        x->was_leader = leading;
                        x->status_dirty = leading;
                }
                sv_metric_set(x->m_leader, leading ? 1 : 0);
                if (leading && x->synced && x->verdicts) {
                        if (x->status_dirty || now >= x->status_due)
                                status_pass(x, now);
                        next = min64(next, x->status_dirty ? now + 1000 : x->status_due);
                }
                export_informer_metrics(x);
                sv_httpd_heartbeat(x->httpd);
                if (x->telemetry) {
                        sv_error terr = SV_ERROR_INIT;
                        next = min64(next,
                                     sv_telemetry_tick(x->telemetry, sv_monotonic_ms(), &terr));
                        if (sv_error_is_set(&terr))
                                sv_log(SV_LOG_WARN, "telemetry", "error", terr.message, NULL);
                }

                now = sv_monotonic_ms();
                int timeout = next > now ? (int)(next - now) : 0;
                struct curl_waitfd wfd[3] = {{.fd = sigfd, .events = CURL_WAIT_POLLIN}};
                unsigned nfd = 1, agent_at = 0, nflog_at = 0;
                if (x->agent) {
                        agent_at = nfd;
                        wfd[nfd++] = (struct curl_waitfd){.fd = sv_agent_fd(x->agent),
                                                          .events = CURL_WAIT_POLLIN};
                }
                if (x->telemetry) {
                        nflog_at = nfd;
                        wfd[nfd++] = (struct curl_waitfd){.fd = sv_telemetry_fd(x->telemetry),
                                                          .events = CURL_WAIT_POLLIN};
                }
                sv_kube_client_poll(x->client, wfd, nfd, timeout);
                if (agent_at && wfd[agent_at].revents)
                        agent_serve(x);
                if (nflog_at && wfd[nflog_at].revents)
                        (void)sv_telemetry_drain(x->telemetry, log_denial, NULL);
                if (wfd[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                                char sig[16];
                                snprintf(sig, sizeof(sig), "%u", si.ssi_signo);
                                sv_log(SV_LOG_INFO, "stopping", "signal", sig, NULL);
                                return 0;
                        }
                }
                sv_kube_client_dispatch(x->client);
        }
}

static void op_done(op *x) {
        for (int i = 0; i < INF_MAX; i++)
                sv_informer_free(x->inf[i]);
        sv_agent_free(x->agent);
        sv_compile_cache_free(x->ccache);
        if (x->attachments) {
                size_t it = 0;
                const char *k;
                void *v;
                while (sv_hashmap_next(x->attachments, &it, &k, &v))
                        sv_attachment_free(v);
                sv_hashmap_free(x->attachments);
        }
        sv_httpd_stop(x->httpd);
        sv_leader_free(x->leader);
        sv_report_free(x->report);
        sv_status_writer_free(x->status);
        sv_telemetry_free(x->telemetry);
        sv_backend_free(x->backend);
        sv_kube_client_free(x->client);
        sv_metrics_free(x->metrics);
        sv_hashmap_free_with(x->verdicts, free);
        sv_pod_texts_free(); /* no pod is left */
}

static int load_state_file(const char *path, json_t **out, sv_error *err) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = sv_read_file_capped(path, 64u << 20, &text, &len);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "reading %s: %s", path, strerror(-r));
        json_t *j = NULL;
        r = sv_json_parse(text, len, 64u << 20, &j, err);
        if (r < 0)
                return r;
        /* The renderer's test cases wrap the state with their configuration. */
        json_t *inner = json_object_get(j, "state");
        *out = json_incref(inner ? inner : j);
        json_decref(j);
        return 0;
}

/* --render: the ruleset of a saved state, printed and optionally applied. For
 * operators ("what would this node program?") and for the kernel tests. */
static int render_main(const options *o) {
        sv_error err = SV_ERROR_INIT;
        sv_backend_options bo = {.netns = o->netns,
                                 .default_deny = o->default_deny,
                                 .dns_service = o->dns_service,
                                 .nflog_group = (uint16_t)o->nflog_group};
        sv_render_config cfg = {.default_deny = o->default_deny,
                                .dns_service = o->dns_service,
                                .nflog_group = (uint16_t)o->nflog_group};
        _cleanup_json_ json_t *state = NULL, *prev = NULL;
        _cleanup_ruleset_ sv_ruleset *rs = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(sv_backend_freep) sv_backend *b = NULL;
        if (load_state_file(o->render, &state, &err) < 0 ||
            (o->render_from && load_state_file(o->render_from, &prev, &err) < 0) ||
            sv_render(state, &cfg, &rs, &err) < 0)
                goto fail;
        if (sv_ruleset_text(rs, &text) < 0)
                return EXIT_FAILURE;
        fputs(text, stdout);
        if (strcmp(o->backend, "nftables") != 0)
                return EXIT_SUCCESS;
        if (sv_backend_new(o->backend, &bo, &b, &err) < 0 ||
            (prev && sv_backend_apply(b, prev, NULL, &err) < 0) ||
            sv_backend_apply(b, state, NULL, &err) < 0)
                goto fail;
        const sv_backend_stats *st = sv_backend_stats_get(b);
        fprintf(stderr,
                "applied: %s, %u messages, render %.3f ms, apply %.3f ms, chains +%u ~%u -%u, "
                "sets +%u -%u, elements +%u -%u\n",
                st->last.full ? "full" : "incremental", st->messages, st->render_us / 1000.0,
                st->apply_us / 1000.0, st->last.chains_added, st->last.chains_changed,
                st->last.chains_removed, st->last.sets_added, st->last.sets_removed,
                st->last.elems_added, st->last.elems_removed);
        return EXIT_SUCCESS;
fail:
        fprintf(stderr, "selvedge-operator: %s\n", err.message);
        return EXIT_FAILURE;
}

int main(int argc, char **argv) {
        _cleanup_(op_done) op x = {0};
        if (parse_options(argc, argv, &x.o) < 0)
                return EXIT_FAILURE;
        if (x.o.render)
                return render_main(&x.o);
        enum sv_log_level level;
        if (sv_log_level_from_string(x.o.log_level, &level) < 0) {
                fprintf(stderr, "selvedge-operator: unknown --log-level \"%s\"\n", x.o.log_level);
                return EXIT_FAILURE;
        }
        sv_log_setup("selvedge-operator", level, STDERR_FILENO);
        sv_memory_setup();
        sv_siphash_random_key(x.digest_key);
        x.start_ms = sv_monotonic_ms();

        sv_error err = SV_ERROR_INIT;
        char host[SV_HTTPD_ADDR_MAX];
        uint16_t port;
        if (sv_httpd_parse_addr(x.o.metrics_addr, host, &port) < 0) {
                sv_log(SV_LOG_ERROR, "bad --metrics-addr (want a numeric address:port)", "value",
                       x.o.metrics_addr, NULL);
                return EXIT_FAILURE;
        }
        sv_kube_config *cfg = NULL;
        int r = sv_kube_config_load(x.o.kubeconfig, &cfg, &err);
        if (r < 0) {
                sv_log(SV_LOG_ERROR, "no usable API server configuration", "error", err.message,
                       NULL);
                return EXIT_FAILURE;
        }
        if (sv_hashmap_new(&x.attachments) < 0 || sv_compile_cache_new(&x.ccache) < 0)
                return EXIT_FAILURE;
        sv_kube_client_options copts = {.request_timeout_ms = 10000,
                                        .user_agent = "selvedge-operator"};
        if (sv_kube_client_new(cfg, &copts, &x.client, &err) < 0 ||
            sv_backend_new(x.o.backend,
                           &(sv_backend_options){.netns = x.o.netns,
                                                 .default_deny = x.o.default_deny,
                                                 .dns_service = x.o.dns_service,
                                                 .nflog_group = (uint16_t)x.o.nflog_group},
                           &x.backend, &err) < 0 ||
            setup_informers(&x, &err) < 0) {
                sv_log(SV_LOG_ERROR, "start-up failed", "error", err.message, NULL);
                return EXIT_FAILURE;
        }
        sv_lease_config lc = {.namespace = x.o.namespace,
                              .name = "selvedge-operator-leader",
                              .identity = x.o.identity,
                              .duration_s = (int)x.o.lease_duration,
                              .renew_deadline_s = (int)x.o.renew_deadline,
                              .retry_period_s = (int)x.o.retry_period};
        if (sv_leader_new(&lc, &x.leader) < 0 ||
            sv_report_new(x.o.namespace, x.o.node, &x.report) < 0 ||
            sv_status_writer_new(x.o.identity, &x.status) < 0 || sv_metrics_new(&x.metrics) < 0 ||
            setup_metrics(&x) < 0) {
                sv_log(SV_LOG_ERROR, "start-up failed", "error", "out of memory or bad names",
                       NULL);
                return EXIT_FAILURE;
        }
        if (strcmp(sv_backend_name(x.backend), "nftables") == 0 &&
            sv_telemetry_new(x.o.netns, (uint16_t)x.o.nflog_group, x.o.flow_counters, x.metrics,
                             &x.telemetry, &err) < 0) {
                /* Enforcement does not depend on it: run, and say so. */
                sv_log(SV_LOG_WARN, "no denial and L4 telemetry", "error", err.message, NULL);
                sv_error_clear(&err);
        } else if (x.telemetry && sv_telemetry_warning(x.telemetry)) {
                sv_log(SV_LOG_WARN, "L4 telemetry", "error", sv_telemetry_warning(x.telemetry),
                       NULL);
        }
        sv_httpd_config hc = {.addr = host,
                              .port = port,
                              .metrics = x.metrics,
                              .heartbeat_timeout_ms = 2 * POLL_MAX_MS};
        r = sv_httpd_start(&hc, &x.httpd);
        if (r < 0) {
                sv_log(SV_LOG_ERROR, "cannot serve metrics", "addr", x.o.metrics_addr, "error",
                       strerror(-r), NULL);
                return EXIT_FAILURE;
        }
        sv_httpd_set_ready(x.httpd, false, "no state applied yet");
        char portstr[8];
        snprintf(portstr, sizeof(portstr), "%u", sv_httpd_port(x.httpd));
        sv_log(SV_LOG_INFO, "started", "node", x.o.node, "identity", x.o.identity, "backend",
               x.o.backend, "metrics_addr", host, "metrics_port", portstr, NULL);

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sigfd < 0) {
                sv_log(SV_LOG_ERROR, "signalfd failed", "error", strerror(errno), NULL);
                return EXIT_FAILURE;
        }
        unsigned skipped = 0;
        r = sv_attachments_load(x.o.cni_state_dir, x.attachments, &skipped);
        if (r < 0 || skipped > 0) {
                char n[16];
                snprintf(n, sizeof(n), "%u", skipped);
                sv_log(SV_LOG_WARN, "some CNI records could not be read", "dir", x.o.cni_state_dir,
                       "skipped", n, "error", r < 0 ? strerror(-r) : "", NULL);
        }
        if (*x.o.agent_socket && sv_agent_listen(x.o.agent_socket, &x.agent, &err) < 0) {
                sv_log(SV_LOG_ERROR, "cannot serve the CNI plugin", "error", err.message, NULL);
                return EXIT_FAILURE;
        }
        restore_state(&x);
        run(&x, sigfd);
        (void)sv_leader_release(x.leader, x.client, &err);
        return EXIT_SUCCESS;
}
