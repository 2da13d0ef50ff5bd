/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/nl.h"

#include <errno.h>
#include <sys/socket.h>

int sv_nl_open(int bus, struct mnl_socket **out) {
        _cleanup_mnl_socket_ struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
        if (!nl)
                return negative_errno();
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        *out = TAKE_PTR(nl);
        return 0;
}

void sv_nl_drain(struct mnl_socket *nl) {
        char buf[SV_NL_BUF_SIZE];
        while (recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT) > 0 || errno == EINTR)
                ;
}
