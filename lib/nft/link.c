/* SPDX-License-Identifier: Apache-2.0 */
#include "nft/link.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "base/macro.h"
#include "nft/nl.h"

static int linkinfo_cb(const struct nlattr *a, void *data) {
        sv_link *l = data;
        if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
                (void)snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(a));
        return MNL_CB_OK;
}

static int attr_cb(const struct nlattr *a, void *data) {
        sv_link *l = data;
        switch (mnl_attr_get_type(a)) {
        case IFLA_IFNAME:
                if (mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
                        (void)snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
                break;
        case IFLA_ADDRESS:
                if (mnl_attr_get_payload_len(a) == sizeof(l->mac)) {
                        memcpy(l->mac, mnl_attr_get_payload(a), sizeof(l->mac));
                        l->has_mac = true;
                }
                break;
        case IFLA_LINK:
                if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
                        l->peer_ifindex = (int)mnl_attr_get_u32(a);
                break;
        case IFLA_LINK_NETNSID:
                l->peer_in_other_netns = true;
                break;
        case IFLA_LINKINFO:
                (void)mnl_attr_parse_nested(a, linkinfo_cb, l);
                break;
        }
        return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data) {
        sv_link *l = data;
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        l->ifindex = ifi->ifi_index;
        return mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, l) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int get_link(const char *name, int ifindex, sv_link *out) {
        char buf[SV_NL_BUF_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        nlh->nlmsg_seq = 1;
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        if (name) {
                if (strlen(name) >= IF_NAMESIZE)
                        return -EINVAL;
                mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        }

        _cleanup_mnl_socket_ struct mnl_socket *nl = NULL;
        int e = sv_nl_open(NETLINK_ROUTE, &nl);
        if (e < 0)
                return e;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return negative_errno();

        sv_link l = {0};
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0)
                return negative_errno();
        if (mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), link_cb, &l) < 0)
                return errno == ENODEV || errno == ENOENT ? -ENODEV : negative_errno();
        if (l.ifindex <= 0)
                return -ENODEV;
        *out = l;
        return 0;
}

int sv_link_get_by_name(const char *name, sv_link *out) {
        return get_link(name, 0, out);
}

int sv_link_get_by_index(int ifindex, sv_link *out) {
        if (ifindex <= 0)
                return -EINVAL;
        return get_link(NULL, ifindex, out);
}
