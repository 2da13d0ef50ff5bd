/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver for tests/integration/telemetry-kernel.sh: runs the operator's
 * telemetry readers against the kernel of the current network namespace and
 * prints what they see, one line per item.
 *
 *   telemetry nflog GROUP COUNT TIMEOUT_MS
 *       binds GROUP, prints "ready", then one line per logged packet until
 *       COUNT packets or TIMEOUT_MS; exits 1 on timeout, 3 when the bind fails
 *       with EPERM (group taken).
 *   telemetry ct-dump
 *       one line per conntrack entry (sv_ct_dump), with its counters.
 *   telemetry ct-events COUNT TIMEOUT_MS
 *       subscribes to conntrack destroy events, prints "ready", then one line
 *       per event until COUNT events or TIMEOUT_MS (exit 1).
 *   telemetry agg STATE.json NFLOG_GROUP
 *       the operator's telemetry (operator/telemetry.c) with the names of a
 *       saved state: turns accounting on, prints "ready"; then for each line
 *       "read" (dump, with the events around it), "drain" (events only) or
 *       "tick MS" (the operator's schedule at time MS: prints "due MS" or "due
 *       never") on stdin, prints the selvedge_l4_ metric lines, then "end". */
#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/parse.h"
#include "json/json.h"
#include "nft/ctx.h"
#include "operator/conntrack.h"
#include "operator/metrics.h"
#include "operator/nflog.h"
#include "operator/telemetry.h"

static int usage(void) {
        fprintf(stderr, "usage: telemetry nflog GROUP COUNT TIMEOUT_MS | ct-dump | "
                        "ct-events COUNT TIMEOUT_MS | agg STATE.json NFLOG_GROUP\n");
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

static void print_entry(const char *what, const sv_ct_entry *e) {
        char osrc[INET6_ADDRSTRLEN], odst[INET6_ADDRSTRLEN], rsrc[INET6_ADDRSTRLEN];
        inet_ntop(e->family, e->orig.src, osrc, sizeof(osrc));
        inet_ntop(e->family, e->orig.dst, odst, sizeof(odst));
        inet_ntop(e->family, e->reply.src, rsrc, sizeof(rsrc));
        printf("%s family=%d proto=%u src=%s dst=%s sport=%u dport=%u server=%s sport_r=%u "
               "counters=%d packets=%llu,%llu bytes=%llu,%llu\n",
               what, e->family == AF_INET ? 4 : 6, e->proto, osrc, odst, e->orig.sport,
               e->orig.dport, rsrc, e->reply.sport, e->has_counters ? 1 : 0,
               (unsigned long long)e->packets[0], (unsigned long long)e->packets[1],
               (unsigned long long)e->bytes[0], (unsigned long long)e->bytes[1]);
}

static int print_dumped(const sv_ct_entry *e, void *userdata) {
        print_entry("entry", e);
        return 0;
}

static int cmd_ct_dump(void) {
        _cleanup_nft_ctx_ sv_nft_ctx *ctx = NULL;
        int r = sv_nft_ctx_open(&ctx);
        if (r >= 0)
                r = sv_ct_dump(ctx, print_dumped, NULL);
        if (r < 0) {
                fprintf(stderr, "ct-dump: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}

static int print_event(const sv_ct_entry *e, void *userdata) {
        print_entry(e->destroyed ? "destroyed" : "event", e);
        fflush(stdout);
        return 0;
}

static int cmd_ct_events(char **argv) {
        uint64_t count, timeout;
        if (sv_parse_uint64(argv[0], 1000000, &count) < 0 ||
            sv_parse_uint64(argv[1], 3600000, &timeout) < 0)
                return usage();
        _cleanup_ct_events_ sv_ct_events *ev = NULL;
        int r = sv_ct_events_open(&ev);
        if (r < 0) {
                fprintf(stderr, "ct-events open: %s\n", strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);
        int64_t end = now_ms() + (int64_t)timeout;
        uint64_t seen = 0;
        while (seen < count) {
                int64_t left = end - now_ms();
                if (left <= 0) {
                        fprintf(stderr, "timeout after %llu events\n", (unsigned long long)seen);
                        return 1;
                }
                struct pollfd pfd = {.fd = sv_ct_events_fd(ev), .events = POLLIN};
                if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                        return 1;
                r = sv_ct_events_read(ev, print_event, NULL);
                if (r < 0) {
                        fprintf(stderr, "ct-events read: %s\n", strerror(-r));
                        return 1;
                }
                seen += (uint64_t)r;
        }
        return 0;
}

/* Prints the registry's lines that start with one of the prefixes. */
static void print_metrics(const sv_metrics *m) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (sv_metrics_render(m, 1 << 20, &text, &len) < 0)
                return;
        for (char *s = text, *e; s && *s; s = e ? e + 1 : NULL) {
                e = strchr(s, '\n');
                if (e)
                        *e = '\0';
                if (strncmp(s, "selvedge_l4_", 12) == 0)
                        printf("metric %s\n", s);
        }
}

static int cmd_agg(char **argv) {
        uint16_t group;
        if (sv_parse_port(argv[1], &group) < 0)
                return usage();
        _cleanup_json_ json_t *state = NULL;
        sv_error err = SV_ERROR_INIT;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = sv_read_file_capped(argv[0], 1 << 20, &text, &len);
        if (r < 0 || sv_json_parse(text, len, 1 << 20, &state, &err) < 0) {
                fprintf(stderr, "agg: %s: %s\n", argv[0], r < 0 ? strerror(-r) : err.message);
                return 1;
        }
        _cleanup_metrics_ sv_metrics *m = NULL;
        _cleanup_(sv_telemetry_freep) sv_telemetry *t = NULL;
        r = sv_metrics_new(&m);
        if (r >= 0)
                r = sv_telemetry_new(NULL, group, true, m, &t, &err);
        if (r >= 0)
                r = sv_telemetry_set_state(t, state);
        if (r < 0) {
                fprintf(stderr, "agg: %s\n", sv_error_is_set(&err) ? err.message : strerror(-r));
                return 1;
        }
        if (sv_telemetry_warning(t))
                printf("warning %s\n", sv_telemetry_warning(t));
        printf("ready\n");
        fflush(stdout);
        char line[64];
        while (fgets(line, sizeof(line), stdin)) {
                int64_t now;
                if (strcmp(line, "read\n") == 0)
                        r = sv_telemetry_read_flows(t);
                else if (strcmp(line, "drain\n") == 0)
                        r = sv_telemetry_drain(t, NULL, NULL);
                else if (sscanf(line, "tick %" SCNd64, &now) == 1) {
                        /* The operator's schedule, on the clock the caller gives. */
                        sv_error terr = SV_ERROR_INIT;
                        int64_t due = sv_telemetry_tick(t, now, &terr);
                        r = sv_error_is_set(&terr) ? -terr.errnum : 0;
                        if (due == INT64_MAX)
                                printf("due never\n");
                        else
                                printf("due %" PRId64 "\n", due);
                } else
                        continue;
                if (r < 0)
                        printf("error %s\n", strerror(-r));
                print_metrics(m);
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
        if (strcmp(argv[1], "ct-dump") == 0 && argc == 2)
                return cmd_ct_dump();
        if (strcmp(argv[1], "ct-events") == 0 && argc == 4)
                return cmd_ct_events(argv + 2);
        if (strcmp(argv[1], "agg") == 0 && argc == 4)
                return cmd_agg(argv + 2);
        return usage();
}
