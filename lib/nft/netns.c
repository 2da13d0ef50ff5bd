/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>

#include "base/macro.h"

int sv_netns_run(const char *path, int (*fn)(void *userdata), void *userdata) {
        _cleanup_close_ int origin = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (origin < 0)
                return negative_errno();
        _cleanup_close_ int target = open(path, O_RDONLY | O_CLOEXEC);
        if (target < 0)
                return negative_errno();
        if (setns(target, CLONE_NEWNET) < 0)
                return negative_errno();

        int r = fn(userdata);

        if (setns(origin, CLONE_NEWNET) < 0)
                abort();
        return r;
}
