/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/ctx.h"

#include <fcntl.h>
#include <signal.h>
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

void sv_nft_ctx_close_detached(sv_nft_ctx *ctx) {
        if (!ctx)
                return;
        int nlfd = mnl_socket_get_fd(ctx->nl);
        int gate[2];
        if (pipe2(gate, O_CLOEXEC) < 0) {
                sv_nft_ctx_close(ctx);
                return;
        }
        pid_t pid = fork();
        if (pid < 0) {
                safe_close(gate[0]);
                safe_close(gate[1]);
                sv_nft_ctx_close(ctx);
                return;
        }
        if (pid == 0) {
                /* Child: hold nothing but the socket and the gate, so no pipe or
                 * lock of the parent's stays open on our account. */
                (void)setsid();
                (void)signal(SIGPIPE, SIG_IGN);
                int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                for (int fd = 0; fd <= 2; fd++)
                        if (devnull >= 0)
                                (void)dup2(devnull, fd);
                for (int fd = 3; fd < 1024; fd++)
                        if (fd != nlfd && fd != gate[0])
                                (void)close(fd);
                /* Wait until the parent has dropped its reference, so the
                 * release happens here. */
                char c;
                while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                        ;
                /* Then give the kernel's deferred destroy work time to finish on
                 * its own: released while it is pending, the socket would flush
                 * it holding nf_tables' commit mutex, and the next plugin in the
                 * chain (deleting the veth) would wait behind us. */
                struct timespec pause = {.tv_sec = 0, .tv_nsec = DETACHED_RELEASE_DELAY_NS};
                while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
                        ;
                (void)close(nlfd);
                _exit(0);
        }
        safe_close(gate[0]);
        sv_nft_ctx_close(ctx); /* drops our reference; the child holds one */
        safe_close(gate[1]);   /* opens the gate */
}
