/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/plugin.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/log.h"
#include "cni/agent.h"
#include "cni/env.h"
#include "cni/guard.h"
#include "cni/netconf.h"
#include "cni/prevresult.h"
#include "cni/state.h"
#include "nft/ctx.h"
#include "nft/link.h"
#include "nft/netns.h"

#define GC_ATTACHMENTS_MAX 100000

/* What one plugin call works with. */
typedef struct call {
        cni_env env;
        netconf conf;
        char chain[GUARD_CHAIN_MAX];
        sv_nft_ctx *nft;
} call;

/* ---- output ---------------------------------------------------------- */

static int print_json(json_t *j) {
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        int r = sv_write_all(STDOUT_FILENO, s, strlen(s));
        return r < 0 ? r : sv_write_all(STDOUT_FILENO, "\n", 1);
}

static void print_error(const char *version, const sv_error *err) {
        _cleanup_json_ json_t *j =
                json_pack("{s:s, s:i, s:s, s:s}", "cniVersion", version ? version : "1.1.0", "code",
                          (int)err->code, "msg", err->message, "details", "");
        if (j)
                (void)print_json(j);
}

/* ---- the pod's interfaces -------------------------------------------- */

struct pod_link_query {
        const char *ifname;
        sv_link link;
};

static int read_pod_link(void *userdata) {
        struct pod_link_query *q = userdata;
        return sv_link_get_by_name(q->ifname, &q->link);
}

/* Builds the guard for the attachment from the pod's namespace (its MAC and
 * its veth peer) and the prevResult (its addresses). */
static int describe_pod(const call *c, guard_spec *g, sv_error *err) {
        guard_spec spec = {0};
        memcpy(spec.chain, c->chain, sizeof(spec.chain));
        int r = prevresult_pod_addrs(c->conf.prev_result, c->env.ifname, &spec.addrs, err);
        if (r < 0)
                return r;

        struct pod_link_query q = {.ifname = c->env.ifname};
        r = sv_netns_run(c->env.netns, read_pod_link, &q);
        if (r == -ENOENT)
                return sv_errorf(err, r, SV_CODE_UNKNOWN_CONTAINER,
                                 "network namespace %s does not exist", c->env.netns);
        if (r == -ENODEV)
                return sv_errorf(err, r, SV_CODE_INVALID_CONFIG,
                                 "interface %s does not exist in %s: selvedge-cni must follow "
                                 "the plugin that creates it",
                                 c->env.ifname, c->env.netns);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "reading interface %s in %s: %s",
                                 c->env.ifname, c->env.netns, strerror(-r));
        if (strcmp(q.link.kind, "veth") != 0 || q.link.peer_ifindex <= 0 || !q.link.has_mac)
                return sv_errorf(err, -EOPNOTSUPP, SV_CODE_INVALID_CONFIG,
                                 "interface %s is a \"%s\" device: selvedge-cni guards veth "
                                 "pairs only",
                                 c->env.ifname, q.link.kind);
        memcpy(spec.mac, q.link.mac, sizeof(spec.mac));

        sv_link host;
        r = sv_link_get_by_index(q.link.peer_ifindex, &host);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO,
                                 "the host side of %s (ifindex %d) is not in this namespace: %s",
                                 c->env.ifname, q.link.peer_ifindex, strerror(-r));
        memcpy(spec.host_ifname, host.name, sizeof(spec.host_ifname));
        *g = spec;
        return 0;
}

static json_t *pod_record(const call *c, const guard_spec *g) {
        char mac[18];
        (void)snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", g->mac[0], g->mac[1],
                       g->mac[2], g->mac[3], g->mac[4], g->mac[5]);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:b}", "containerID",
                         c->env.container_id, "ifname", c->env.ifname, "netns", c->env.netns,
                         "namespace", c->env.pod_namespace, "name", c->env.pod_name, "uid",
                         c->env.pod_uid, "hostInterface", g->host_ifname, "mac", mac, "ips",
                         pod_addrs_to_json(&g->addrs), "chain", c->chain, "meshed", 0);
}

static json_t *agent_request(const char *op, json_t *pod) {
        return pod ? json_pack("{s:s, s:O}", "op", op, "pod", pod) : json_pack("{s:s}", "op", op);
}

/* ---- verbs ------------------------------------------------------------ */

static int require_prev_result(const call *c, sv_error *err) {
        if (!c->conf.prev_result)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "no prevResult: selvedge-cni is a chained plugin and must come "
                                 "after the plugin that creates the pod's interface");
        return 0;
}

static int cmd_add(call *c, sv_error *err) {
        int r = require_prev_result(c, err);
        if (r < 0)
                return r;
        guard_spec g;
        if ((r = describe_pod(c, &g, err)) < 0)
                return r;

        const netconf *conf = &c->conf;
        if ((r = state_prepare(conf->state_dir)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "creating state directory %s: %s",
                                 conf->state_dir, strerror(-r));
        _cleanup_close_ int lock = -1;
        if ((r = state_lock(conf->state_dir, false, &lock)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "locking %s: %s", conf->state_dir,
                                 strerror(-r));

        /* The record comes first: if we die after programming the kernel, DEL
         * and GC still find what to undo. */
        _cleanup_json_ json_t *record = pod_record(c, &g);
        if (!record)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");
        if ((r = state_write(conf->state_dir, c->chain, record)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "writing state record: %s", strerror(-r));

        if ((r = guard_apply(c->nft, &g)) < 0) {
                (void)state_remove(conf->state_dir, c->chain);
                return sv_errorf(err, r, SV_CODE_IO, "programming anti-spoofing rules on %s: %s",
                                 g.host_ifname, strerror(-r));
        }

        _cleanup_json_ json_t *req = agent_request("add", record);
        _cleanup_json_ json_t *resp = NULL;
        sv_error agent_err = SV_ERROR_INIT;
        r = req ? agent_call(conf->agent_socket, conf->agent_timeout_ms, req, &resp, &agent_err)
                : -ENOMEM;
        if (r < 0 && conf->failure_policy == FAILURE_POLICY_FAIL) {
                /* Undo everything so the kubelet's retry starts clean. */
                (void)guard_remove(c->nft, c->chain);
                (void)state_remove(conf->state_dir, c->chain);
                if (!sv_error_is_set(&agent_err))
                        sv_errorf(&agent_err, r, SV_CODE_INTERNAL, "out of memory");
                *err = agent_err;
                sv_error_prefix(err, "failurePolicy Fail: ");
                return r;
        }
        if (r < 0) {
                sv_log(SV_LOG_WARN, "pod starts unmeshed (failurePolicy Ignore)", "pod_namespace",
                       c->env.pod_namespace, "pod", c->env.pod_name, "container",
                       c->env.container_id, "reason", agent_err.message, NULL);
        } else {
                json_object_set_new(record, "meshed", json_true());
                json_t *sa = json_object_get(resp, "serviceAccount");
                if (json_is_string(sa))
                        json_object_set(record, "serviceAccount", sa);
                if ((r = state_write(conf->state_dir, c->chain, record)) < 0)
                        sv_log(SV_LOG_WARN, "could not mark the record meshed", "chain", c->chain,
                               "error", strerror(-r), NULL);
        }

        /* The result is the previous one, unchanged, in the config's version. */
        json_t *result = json_deep_copy(conf->prev_result);
        if (!result)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");
        json_object_set_new(result, "cniVersion", json_string(conf->cni_version));
        r = print_json(result);
        json_decref(result);
        return r < 0 ? sv_errorf(err, r, SV_CODE_IO, "writing result: %s", strerror(-r)) : 0;
}

static int cmd_del(call *c, sv_error *err) {
        const netconf *conf = &c->conf;
        /* Nothing to undo if the state directory never existed. */
        int r = state_prepare(conf->state_dir);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "creating state directory %s: %s",
                                 conf->state_dir, strerror(-r));
        _cleanup_close_ int lock = -1;
        if ((r = state_lock(conf->state_dir, false, &lock)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "locking %s: %s", conf->state_dir,
                                 strerror(-r));
        if ((r = guard_remove(c->nft, c->chain)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "removing anti-spoofing chain %s: %s",
                                 c->chain, strerror(-r));

        /* The agent forgets the pod now if it is up, or at its next start when
         * it finds the record gone: DEL never waits on it. */
        _cleanup_json_ json_t *req =
                json_pack("{s:s, s:s, s:s, s:s}", "op", "del", "containerID", c->env.container_id,
                          "ifname", c->env.ifname, "chain", c->chain);
        sv_error agent_err = SV_ERROR_INIT;
        if (req &&
            agent_call(conf->agent_socket, conf->agent_timeout_ms, req, NULL, &agent_err) < 0)
                sv_log(SV_LOG_DEBUG, "agent not told of DEL", "reason", agent_err.message, NULL);

        if ((r = state_remove(conf->state_dir, c->chain)) < 0)
                return sv_errorf(err, r, SV_CODE_IO, "removing state record: %s", strerror(-r));
        return 0;
}

static int cmd_check(call *c, sv_error *err) {
        int r = require_prev_result(c, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *record = NULL;
        r = state_read(c->conf.state_dir, c->chain, &record);
        if (r == -ENOENT)
                return sv_errorf(err, r, SV_CODE_UNKNOWN_CONTAINER,
                                 "no Selvedge record for container %s interface %s",
                                 c->env.container_id, c->env.ifname);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "reading state record: %s", strerror(-r));

        guard_spec g;
        if ((r = describe_pod(c, &g, err)) < 0)
                return r;
        if ((r = guard_verify(c->nft, &g, err)) < 0)
                return r;
        if (c->conf.failure_policy == FAILURE_POLICY_FAIL &&
            !json_is_true(json_object_get(record, "meshed")))
                return sv_errorf(err, -EAGAIN, SV_CODE_INTERNAL,
                                 "the mesh agent never confirmed this pod");
        return 0;
}

static int cmd_status(call *c, sv_error *err) {
        int r = guard_probe(c->nft);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_NOT_AVAILABLE,
                                 "cannot read nftables (table netdev %s): %s", GUARD_TABLE,
                                 strerror(-r));
        if ((r = state_prepare(c->conf.state_dir)) < 0)
                return sv_errorf(err, r, SV_CODE_NOT_AVAILABLE,
                                 "state directory %s is not usable: %s", c->conf.state_dir,
                                 strerror(-r));
        if (c->conf.failure_policy == FAILURE_POLICY_IGNORE)
                return 0; /* pods can start; they are meshed once the agent is up */

        _cleanup_json_ json_t *req = agent_request("status", NULL);
        sv_error agent_err = SV_ERROR_INIT;
        r = req ? agent_call(c->conf.agent_socket, c->conf.agent_timeout_ms, req, NULL, &agent_err)
                : -ENOMEM;
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_NOT_AVAILABLE, "%s", agent_err.message);
        return 0;
}

/* GC keeps the chains of valid attachments; names are compared as hashes. */
struct gc_ctx {
        char (*keep)[GUARD_CHAIN_MAX];
        size_t n_keep;
        char (*stale)[GUARD_CHAIN_MAX];
        size_t n_stale;
        const char *state_dir;
        unsigned removed;
        int first_error;
};

static int chain_cmp(const void *a, const void *b) {
        return strcmp(a, b);
}

static bool gc_keeps(const struct gc_ctx *ctx, const char *chain) {
        return ctx->n_keep &&
               bsearch(chain, ctx->keep, ctx->n_keep, GUARD_CHAIN_MAX, chain_cmp) != NULL;
}

/* Collects stale chains during the dump; they are removed after it, since
 * the dump and the removals share one socket. */
static int gc_chain(const char *chain, void *userdata) {
        struct gc_ctx *ctx = userdata;
        if (gc_keeps(ctx, chain))
                return 0;
        size_t n = strlen(chain);
        if (n >= GUARD_CHAIN_MAX)
                return 0; /* not a name we make: not ours to remove */
        if (ctx->n_stale == GC_ATTACHMENTS_MAX)
                return -E2BIG;
        memcpy(ctx->stale[ctx->n_stale++], chain, n + 1);
        return 0;
}

static int gc_record(const char *chain, void *userdata) {
        struct gc_ctx *ctx = userdata;
        if (gc_keeps(ctx, chain))
                return 0;
        int r = state_remove(ctx->state_dir, chain);
        if (r < 0 && !ctx->first_error)
                ctx->first_error = r;
        return 0;
}

static int cmd_gc(call *c, sv_error *err) {
        json_t *list = json_object_get(c->conf.root, "cni.dev/valid-attachments");
        if (!list)
                list = json_object_get(c->conf.root, "cni.dev/attachments");
        /* libcni leaves the key out (or sends null) when the runtime has no
         * attachment left: then everything of ours is stale. */
        _cleanup_json_ json_t *empty = json_array();
        if (!list || json_is_null(list))
                list = empty;
        if (!json_is_array(list))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "GC needs \"cni.dev/valid-attachments\" as a list");
        if (json_array_size(list) > GC_ATTACHMENTS_MAX)
                return sv_errorf(err, -E2BIG, SV_CODE_INVALID_CONFIG, "more than %d attachments",
                                 GC_ATTACHMENTS_MAX);

        struct gc_ctx ctx = {.state_dir = c->conf.state_dir};
        _cleanup_free_ char(*keep)[GUARD_CHAIN_MAX] =
                calloc(json_array_size(list) + 1, GUARD_CHAIN_MAX);
        if (!keep)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");
        size_t i;
        json_t *a;
        json_array_foreach (list, i, a) {
                const char *id, *ifname;
                int r = sv_json_get_string(a, "containerID", true, 256, &id, err);
                if (r == 0)
                        r = sv_json_get_string(a, "ifname", true, 15, &ifname, err);
                if (r < 0) {
                        sv_error_prefix(err, "cni.dev/valid-attachments[%zu]: ", i);
                        return r;
                }
                guard_chain_name(id, ifname, keep[ctx.n_keep++]);
        }
        qsort(keep, ctx.n_keep, GUARD_CHAIN_MAX, chain_cmp);
        ctx.keep = keep;
        _cleanup_free_ char(*stale)[GUARD_CHAIN_MAX] = calloc(GC_ATTACHMENTS_MAX, GUARD_CHAIN_MAX);
        if (!stale)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "out of memory");
        ctx.stale = stale;

        int r = state_prepare(c->conf.state_dir);
        _cleanup_close_ int lock = -1;
        if (r == 0)
                r = state_lock(c->conf.state_dir, true, &lock);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "locking %s: %s", c->conf.state_dir,
                                 strerror(-r));
        r = guard_list(c->nft, gc_chain, &ctx);
        if (r < 0 && !ctx.first_error)
                ctx.first_error = r;
        for (size_t k = 0; k < ctx.n_stale; k++) {
                r = guard_remove(c->nft, ctx.stale[k]);
                if (r < 0 && !ctx.first_error)
                        ctx.first_error = r; /* keep going past errors */
                ctx.removed += r == 0;
        }
        r = state_list(c->conf.state_dir, gc_record, &ctx);
        if (r < 0 && !ctx.first_error)
                ctx.first_error = r;
        if (ctx.first_error)
                return sv_errorf(err, ctx.first_error, SV_CODE_IO,
                                 "garbage collection removed %u chains but failed: %s", ctx.removed,
                                 strerror(-ctx.first_error));
        char kept[24], removed[24];
        (void)snprintf(kept, sizeof(kept), "%zu", ctx.n_keep);
        (void)snprintf(removed, sizeof(removed), "%u", ctx.removed);
        sv_log(SV_LOG_INFO, "gc done", "valid_attachments", kept, "chains_removed", removed, NULL);
        return 0;
}

static int cmd_version(const char *input, size_t len) {
        /* Any cniVersion may ask; the answer echoes it. */
        _cleanup_json_ json_t *in = NULL;
        const char *asked = "1.1.0";
        if (sv_json_parse(input, len, NETCONF_MAX_BYTES, &in, NULL) == 0)
                (void)sv_json_get_string(in, "cniVersion", false, 32, &asked, NULL);
        _cleanup_json_ json_t *versions = json_array();
        for (size_t i = 0; versions && cni_supported_versions[i]; i++)
                json_array_append_new(versions, json_string(cni_supported_versions[i]));
        _cleanup_json_ json_t *out =
                json_pack("{s:s, s:O}", "cniVersion", asked, "supportedVersions", versions);
        return out ? print_json(out) : -ENOMEM;
}

/* ---- entry point ------------------------------------------------------ */

static int open_log(const char *path) {
        return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* Points stdin, stdout and stderr at /dev/null: the runtime reads our pipes
 * until end-of-file, which it sees as soon as no process holds them. */
static void release_stdio(void) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return;
        for (int i = STDIN_FILENO; i <= STDERR_FILENO; i++)
                (void)dup2(fd, i);
        if (fd > STDERR_FILENO)
                (void)close(fd);
}

static long long elapsed_us(const struct timespec *start) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (long long)(now.tv_sec - start->tv_sec) * 1000000 +
               (now.tv_nsec - start->tv_nsec) / 1000;
}

int plugin_main(void) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        sv_log_setup("selvedge-cni", SV_LOG_INFO, STDERR_FILENO);

        sv_error err = SV_ERROR_INIT;
        call c = {0};
        int r = cni_env_read(getenv, &c.env, &err);
        if (r < 0) {
                print_error(NULL, &err);
                return 1;
        }

        _cleanup_free_ char *input = NULL;
        size_t len = 0;
        r = sv_read_fd_capped(STDIN_FILENO, NETCONF_MAX_BYTES, &input, &len);
        if (r < 0) {
                sv_errorf(&err, r, SV_CODE_IO, "reading the network configuration: %s",
                          strerror(-r));
                print_error(NULL, &err);
                return 1;
        }
        if (c.env.verb == VERB_VERSION)
                return cmd_version(input, len) < 0 ? 1 : 0;

        if ((r = netconf_parse(input, len, &c.conf, &err)) < 0) {
                print_error(NULL, &err);
                return 1;
        }
        _cleanup_close_ int log_fd = -1;
        if (c.conf.log_file && (log_fd = open_log(c.conf.log_file)) < 0)
                sv_log(SV_LOG_WARN, "cannot open logFile, logging to stderr", "path",
                       c.conf.log_file, NULL);
        sv_log_setup("selvedge-cni", c.conf.log_level, log_fd >= 0 ? log_fd : STDERR_FILENO);

        if ((c.env.verb == VERB_STATUS || c.env.verb == VERB_GC) &&
            cni_version_cmp(c.conf.cni_version, "1.1.0") < 0) {
                sv_errorf(&err, -EINVAL, SV_CODE_INCOMPATIBLE_VERSION,
                          "%s needs cniVersion 1.1.0 or later, the configuration has %s",
                          c.env.command, c.conf.cni_version);
                goto out;
        }
        if (c.env.container_id)
                guard_chain_name(c.env.container_id, c.env.ifname, c.chain);
        if ((r = sv_nft_ctx_open(&c.nft)) < 0) {
                sv_errorf(&err, r, c.env.verb == VERB_STATUS ? SV_CODE_NOT_AVAILABLE : SV_CODE_IO,
                          "opening a netfilter netlink socket: %s", strerror(-r));
                goto out;
        }

        switch (c.env.verb) {
        case VERB_ADD:
                r = cmd_add(&c, &err);
                break;
        case VERB_DEL:
                r = cmd_del(&c, &err);
                break;
        case VERB_CHECK:
                r = cmd_check(&c, &err);
                break;
        case VERB_STATUS:
                r = cmd_status(&c, &err);
                break;
        case VERB_GC:
                r = cmd_gc(&c, &err);
                break;
        case VERB_VERSION:
                break;
        }
out:;
        char us[32];
        (void)snprintf(us, sizeof(us), "%lld", elapsed_us(&start));
        bool failed = sv_error_is_set(&err);
        sv_log(failed ? SV_LOG_ERROR : SV_LOG_INFO, failed ? err.message : "done", "command",
               c.env.command, "container", c.env.container_id ? c.env.container_id : "", "ifname",
               c.env.ifname ? c.env.ifname : "", "pod_namespace", c.env.pod_namespace, "pod",
               c.env.pod_name, "duration_us", us, NULL);
        if (failed)
                print_error(c.conf.cni_version, &err);
        netconf_done(&c.conf);
        if (c.nft) {
                /* Our answer is out: do not make the runtime wait for the
                 * kernel's deferred cleanup of what we deleted (see nft/ctx.h),
                 * nor for the detached child to get a CPU and close its copies
                 * of our stdout and stderr. */
                release_stdio();
                sv_nft_ctx_close_detached(c.nft);
        }
        return failed ? 1 : 0;
}
