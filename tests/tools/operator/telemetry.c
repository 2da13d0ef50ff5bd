/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver for tests/integration/telemetry-kernel.sh: runs the operator's
 * telemetry readers against the kernel of the current network namespace and
 * prints what they see, one line per item.
 *
 *   telemetry nflog GROUP COUNT TIMEOUT_MS
 *       binds GROUP, prints "ready", then one line per logged packet until
 *       COUNT packets or TIMEOUT_MS; exits 1 on timeout, 3 when the bind fails
 *       with EPERM (group taken).
 *   telemetry flows TABLE SET
 *       one line per element of `inet TABLE` set SET.
 *   telemetry agg TABLE [METRICS]
 *       for each line "read" on stdin: reads flows4/6 and conns4/6 into the
 *       aggregator (source "src-<address>", destination "dst-<address>:<port>"),
 *       prints the totals sorted, then "end"; with METRICS "metrics", also the
 *       rendered registry's selvedge_l4 lines. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/parse.h"
#include "nft/ctx.h"
#include "operator/flows.h"
#include "operator/metrics.h"
#include "operator/nflog.h"

static int usage(void) {
        fprintf(stderr, "usage: telemetry nflog GROUP COUNT TIMEOUT_MS | flows TABLE SET | "
                        "agg TABLE [metrics]\n");
        return 2;
}

static int64_t now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int print_packet(const sv_nflog_packet *p, void *userdata) {
        printf("prefix=%s family=%d src=%s dst=%s proto=%u sport=%u dport=%u hook=%u indev=%u "
               "outdev=%u\n",
               p->prefix, p->family == AF_INET ? 4 : 6, p->src, p->dst, p->proto, p->sport,
               p->dport, p->hook, p->indev, p->outdev);
        fflush(stdout);
        return 0;
}

static int cmd_nflog(char **argv) {
        uint16_t group;
        uint64_t count, timeout;
        if (sv_parse_port(argv[0], &group) < 0 || sv_parse_uint64(argv[1], 1000000, &count) < 0 ||
            sv_parse_uint64(argv[2], 3600000, &timeout) < 0)
                return usage();
        _cleanup_nflog_ sv_nflog *l = NULL;
        int r = sv_nflog_open(group, &l);
        if (r < 0) {
                fprintf(stderr, "nflog open: %s\n", strerror(-r));
                return r == -EPERM ? 3 : 1;
        }
        printf("ready\n");
        fflush(stdout);
        int64_t end = now_ms() + (int64_t)timeout;
        uint64_t seen = 0;
        while (seen < count) {
                int64_t left = end - now_ms();
                if (left <= 0) {
                        fprintf(stderr, "timeout after %llu packets\n", (unsigned long long)seen);
                        return 1;
                }
                struct pollfd pfd = {.fd = sv_nflog_fd(l), .events = POLLIN};
                if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                        return 1;
                r = sv_nflog_read(l, print_packet, NULL);
                if (r < 0) {
                        fprintf(stderr, "nflog read: %s\n", strerror(-r));
                        return 1;
                }
                seen += (uint64_t)r;
        }
        sv_nflog_stats st;
        sv_nflog_get_stats(l, &st);
        printf("stats packets=%llu malformed=%llu overruns=%llu\n", (unsigned long long)st.packets,
               (unsigned long long)st.malformed, (unsigned long long)st.overruns);
        return 0;
}

static int print_flow(const sv_flow *f, void *userdata) {
        printf("family=%d src=%s dst=%s proto=%u dport=%u packets=%llu bytes=%llu\n",
               f->family == AF_INET ? 4 : 6, f->src, f->dst, f->proto, f->dport,
               (unsigned long long)f->packets, (unsigned long long)f->bytes);
        return 0;
}

static int cmd_flows(char **argv) {
        _cleanup_nft_ctx_ sv_nft_ctx *ctx = NULL;
        int r = sv_nft_ctx_open(&ctx);
        if (r >= 0)
                r = sv_flows_read(ctx, argv[0], argv[1], print_flow, NULL, NULL);
        if (r < 0) {
                fprintf(stderr, "flows: %s\n", strerror(-r));
                return r == -ENOENT ? 4 : 1;
        }
        return 0;
}

static int name_flow(const sv_flow *f, char *source, char *destination, void *userdata) {
        snprintf(source, SV_FLOW_NAME_MAX, "src-%s", f->src);
        snprintf(destination, SV_FLOW_NAME_MAX, "dst-%s:%u", f->dst, f->dport);
        return 0;
}

#define LINES_MAX 4096

struct lines {
        char *v[LINES_MAX];
        size_t n;
};

static int collect_total(const sv_flow_total *t, void *userdata) {
        struct lines *l = userdata;
        if (l->n == LINES_MAX)
                return -E2BIG;
        char buf[2 * SV_FLOW_NAME_MAX + 64];
        snprintf(buf, sizeof(buf), "total source=%s destination=%s bytes=%llu connections=%llu",
                 t->source, t->destination, (unsigned long long)t->bytes,
                 (unsigned long long)t->connections);
        l->v[l->n] = strdup(buf);
        if (!l->v[l->n])
                return -ENOMEM;
        l->n++;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_agg(char **argv, int argc) {
        bool with_metrics = argc > 1 && strcmp(argv[1], "metrics") == 0;
        _cleanup_nft_ctx_ sv_nft_ctx *ctx = NULL;
        _cleanup_metrics_ sv_metrics *m = NULL;
        _cleanup_flow_agg_ sv_flow_agg *a = NULL;
        int r = sv_nft_ctx_open(&ctx);
        if (r >= 0)
                r = sv_metrics_new(&m);
        sv_flow_agg_config cfg = {.lookup = name_flow, .metrics = with_metrics ? m : NULL};
        if (r >= 0)
                r = sv_flow_agg_new(&cfg, &a);
        if (r < 0) {
                fprintf(stderr, "agg: %s\n", strerror(-r));
                return 1;
        }
        char line[64];
        while (fgets(line, sizeof(line), stdin)) {
                if (strcmp(line, "read\n") != 0)
                        continue;
                r = sv_flow_agg_read(a, ctx, argv[0]);
                if (r < 0)
                        printf("error %s\n", strerror(-r));
                struct lines l = {.n = 0};
                r = sv_flow_agg_foreach(a, collect_total, &l);
                if (r < 0)
                        printf("error %s\n", strerror(-r));
                qsort(l.v, l.n, sizeof(l.v[0]), cmp_str);
                for (size_t i = 0; i < l.n; i++) {
                        printf("%s\n", l.v[i]);
                        free(l.v[i]);
                }
                if (with_metrics) {
                        _cleanup_free_ char *text = NULL;
                        size_t len;
                        if (sv_metrics_render(m, 1 << 20, &text, &len) == 0) {
                                for (char *s = text, *e; s && *s; s = e ? e + 1 : NULL) {
                                        e = strchr(s, '\n');
                                        if (e)
                                                *e = '\0';
                                        if (strncmp(s, "selvedge_l4_", 12) == 0)
                                                printf("metric %s\n", s);
                                }
                        }
                }
                printf("end\n");
                fflush(stdout);
        }
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 2)
                return usage();
        if (strcmp(argv[1], "nflog") == 0 && argc == 5)
                return cmd_nflog(argv + 2);
        if (strcmp(argv[1], "flows") == 0 && argc == 4)
                return cmd_flows(argv + 2);
        if (strcmp(argv[1], "agg") == 0 && (argc == 3 || argc == 4))
                return cmd_agg(argv + 2, argc - 2);
        return usage();
}
