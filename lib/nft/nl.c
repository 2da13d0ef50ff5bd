/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/nl.h"

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
