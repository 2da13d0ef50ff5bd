/* SPDX-License-Identifier: Apache-2.0 */
/* Network interfaces of the current network namespace, read over rtnetlink. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sv_link {
        int ifindex;
        int peer_ifindex; /* IFLA_LINK: a veth's peer, in the peer's namespace */
        bool peer_in_other_netns;
        char name[IF_NAMESIZE];
        char kind[16]; /* "veth", "bridge", ... or "" */
        uint8_t mac[6];
        bool has_mac;
} sv_link;

/* -ENODEV when no such interface exists. */
int sv_link_get_by_name(const char *name, sv_link *out);
int sv_link_get_by_index(int ifindex, sv_link *out);
