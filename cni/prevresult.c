/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/prevresult.h"

#include <arpa/inet.h>
#include <string.h>

#define PREV_LIST_MAX 64

/* Parses "addr/prefix" into out; the prefix is validated and dropped. */
static int parse_cidr(const char *s, int *family, void *out) {
        char buf[INET6_ADDRSTRLEN + 8];
        const char *slash = strchr(s, '/');
        if (!slash || (size_t)(slash - s) >= INET6_ADDRSTRLEN)
                return -EINVAL;
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = '\0';
        const char *prefix = slash + 1;
        size_t plen = strlen(prefix);
        if (plen == 0 || plen > 3 || strspn(prefix, "0123456789") != plen)
                return -EINVAL;
        int bits = 0;
        for (const char *p = prefix; *p; p++)
                bits = bits * 10 + (*p - '0');
        if (inet_pton(AF_INET, buf, out) == 1 && bits <= 32) {
                *family = AF_INET;
                return 0;
        }
        if (inet_pton(AF_INET6, buf, out) == 1 && bits <= 128) {
                *family = AF_INET6;
                return 0;
        }
        return -EINVAL;
}

int prevresult_pod_addrs(json_t *prev, const char *ifname, pod_addrs *out, sv_error *err) {
        json_t *interfaces = NULL, *ips = NULL;
        int r = sv_json_get_array(prev, "interfaces", false, PREV_LIST_MAX, &interfaces, err);
        if (r < 0 && r != -ENOENT)
                goto bad;
        r = sv_json_get_array(prev, "ips", false, PREV_LIST_MAX, &ips, err);
        if (r < 0 && r != -ENOENT)
                goto bad;

        pod_addrs a = {0};
        size_t i;
        json_t *ip;
        json_array_foreach (ips, i, ip) {
                uint64_t idx;
                r = sv_json_get_uint(ip, "interface", false, PREV_LIST_MAX - 1, &idx, err);
                if (r < 0 && r != -ENOENT)
                        goto bad;
                if (r == 0) {
                        json_t *iface = json_array_get(interfaces, (size_t)idx);
                        const char *name = NULL, *sandbox = NULL;
                        if (!iface)
                                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                                 "prevResult: ips[%zu].interface %llu names no "
                                                 "entry of interfaces",
                                                 i, (unsigned long long)idx);
                        if (sv_json_get_string(iface, "name", false, 64, &name, NULL) < 0 ||
                            strcmp(name, ifname) != 0)
                                continue;
                        /* The same name outside the sandbox is a host interface. */
                        if (sv_json_get_string(iface, "sandbox", false, 4096, &sandbox, NULL) < 0 ||
                            !*sandbox)
                                continue;
                }
                const char *cidr;
                r = sv_json_get_string(ip, "address", true, 64, &cidr, err);
                if (r < 0)
                        goto bad;
                int family;
                union {
                        struct in_addr v4;
                        struct in6_addr v6;
                } addr;
                if (parse_cidr(cidr, &family, &addr) < 0)
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "prevResult: ips[%zu].address \"%s\" is not an "
                                         "address/prefix",
                                         i, cidr);
                if ((family == AF_INET ? a.n4 : a.n6) >= POD_ADDRS_MAX)
                        return sv_errorf(err, -E2BIG, SV_CODE_INVALID_CONFIG,
                                         "prevResult: more than %d addresses of one family",
                                         POD_ADDRS_MAX);
                if (family == AF_INET)
                        a.v4[a.n4++] = addr.v4;
                else
                        a.v6[a.n6++] = addr.v6;
        }
        if (a.n4 + a.n6 == 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "prevResult has no IP address for interface \"%s\": "
                                 "selvedge-cni must follow a plugin that assigns addresses",
                                 ifname);
        *out = a;
        return 0;
bad:
        sv_error_prefix(err, "prevResult: ");
        return r;
}

json_t *pod_addrs_to_json(const pod_addrs *a) {
        json_t *list = json_array();
        char buf[INET6_ADDRSTRLEN];
        for (size_t i = 0; list && i < a->n4; i++)
                if (inet_ntop(AF_INET, &a->v4[i], buf, sizeof(buf)))
                        json_array_append_new(list, json_string(buf));
        for (size_t i = 0; list && i < a->n6; i++)
                if (inet_ntop(AF_INET6, &a->v6[i], buf, sizeof(buf)))
                        json_array_append_new(list, json_string(buf));
        return list;
}
