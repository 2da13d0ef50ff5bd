/* SPDX-License-Identifier: Apache-2.0 */
/* The ctnetlink parser against messages built as the kernel builds them
 * (ctnetlink_fill_info: nested tuples, big-endian counters and id). The
 * kernel's own messages are parsed in tests/integration/telemetry-kernel.sh. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <string.h>
#include <sys/socket.h>

#include "../cmocka-prelude.h"
#include "operator/conntrack.h"

typedef struct msg_spec {
        int family;
        uint8_t type; /* IPCTNL_MSG_CT_NEW or _DELETE */
        const char *osrc, *odst, *rsrc, *rdst;
        uint8_t proto;
        uint16_t osport, odport, rsport, rdport;
        bool ports;
        int counters; /* 0 none, 64 or 32 bits */
        uint64_t obytes, rbytes;
        bool no_reply;
        uint32_t id;
} msg_spec;

static void put_tuple(struct nlmsghdr *nlh, int attr, int family, const char *src, const char *dst,
                      uint8_t proto, bool ports, uint16_t sport, uint16_t dport) {
        uint8_t a[16];
        struct nlattr *t = mnl_attr_nest_start(nlh, attr);
        struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        size_t alen = family == AF_INET ? 4 : 16;
        assert_int_equal(inet_pton(family, src, a), 1);
        mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen, a);
        assert_int_equal(inet_pton(family, dst, a), 1);
        mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, a);
        mnl_attr_nest_end(nlh, ip);
        struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
        mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
        if (ports) {
                mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
                mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
        }
        mnl_attr_nest_end(nlh, pr);
        mnl_attr_nest_end(nlh, t);
}

static void put_counters(struct nlmsghdr *nlh, int attr, int bits, uint64_t bytes) {
        struct nlattr *c = mnl_attr_nest_start(nlh, attr);
        if (bits == 64) {
                mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(3));
                mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(bytes));
        } else {
                mnl_attr_put_u32(nlh, CTA_COUNTERS32_PACKETS, htonl(3));
                mnl_attr_put_u32(nlh, CTA_COUNTERS32_BYTES, htonl((uint32_t)bytes));
        }
        mnl_attr_nest_end(nlh, c);
}

static struct nlmsghdr *build(char *buf, const msg_spec *m) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | m->type;
        struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = (uint8_t)m->family;
        put_tuple(nlh, CTA_TUPLE_ORIG, m->family, m->osrc, m->odst, m->proto, m->ports, m->osport,
                  m->odport);
        if (!m->no_reply)
                put_tuple(nlh, CTA_TUPLE_REPLY, m->family, m->rsrc, m->rdst, m->proto, m->ports,
                          m->rsport, m->rdport);
        mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0x18e));
        if (m->counters) {
                put_counters(nlh, CTA_COUNTERS_ORIG, m->counters, m->obytes);
                put_counters(nlh, CTA_COUNTERS_REPLY, m->counters, m->rbytes);
        }
        if (m->id)
                mnl_attr_put_u32(nlh, CTA_ID, htonl(m->id));
        return nlh;
}

static const msg_spec tcp4 = {
        .family = AF_INET,
        .type = IPCTNL_MSG_CT_NEW,
        .osrc = "10.42.0.7",
        .odst = "10.43.0.10", /* a cluster IP... */
        .rsrc = "10.42.1.9",  /* ...DNATed to a pod */
        .rdst = "10.42.0.7",
        .proto = 6,
        .osport = 40000,
        .odport = 80,
        .rsport = 8080,
        .rdport = 40000,
        .ports = true,
        .counters = 64,
        .obytes = 5000000000ull, /* past 32 bits */
        .rbytes = 1234,
        .id = 0xdeadbeef,
};

static void parses_an_ipv4_entry(void **state) {
        char buf[4096];
        struct nlmsghdr *nlh = build(buf, &tcp4);
        sv_ct_entry e;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), 0);
        assert_int_equal(e.family, AF_INET);
        assert_int_equal(e.proto, 6);
        assert_int_equal(e.id, 0xdeadbeef);
        assert_false(e.destroyed);
        assert_true(e.has_counters);
        char a[INET6_ADDRSTRLEN];
        assert_string_equal(inet_ntop(AF_INET, e.orig.src, a, sizeof(a)), "10.42.0.7");
        assert_string_equal(inet_ntop(AF_INET, e.orig.dst, a, sizeof(a)), "10.43.0.10");
        assert_string_equal(inet_ntop(AF_INET, e.reply.src, a, sizeof(a)), "10.42.1.9");
        assert_int_equal(e.orig.sport, 40000);
        assert_int_equal(e.orig.dport, 80);
        assert_int_equal(e.reply.sport, 8080);
        assert_int_equal(e.reply.dport, 40000);
        assert_int_equal(e.bytes[0], 5000000000ull);
        assert_int_equal(e.bytes[1], 1234);
        assert_int_equal(e.packets[0], 3);

        /* A message need not be aligned in the caller's buffer. */
        char odd[4097];
        memcpy(odd + 1, buf, nlh->nlmsg_len);
        sv_ct_entry f;
        assert_int_equal(sv_ct_parse_msg(odd + 1, nlh->nlmsg_len, &f), 0);
        assert_memory_equal(&e, &f, sizeof(e));
}

static void parses_ipv6_deletes_and_old_counters(void **state) {
        char buf[4096];
        msg_spec m = tcp4;
        m.family = AF_INET6;
        m.type = IPCTNL_MSG_CT_DELETE;
        m.osrc = "fd00::7";
        m.odst = "fd00:43::a";
        m.rsrc = "fd00:42::9";
        m.rdst = "fd00::7";
        m.counters = 32;
        m.obytes = 70000;
        struct nlmsghdr *nlh = build(buf, &m);
        sv_ct_entry e;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), 0);
        assert_int_equal(e.family, AF_INET6);
        assert_true(e.destroyed);
        assert_true(e.has_counters);
        assert_int_equal(e.bytes[0], 70000);
        char a[INET6_ADDRSTRLEN];
        assert_string_equal(inet_ntop(AF_INET6, e.reply.src, a, sizeof(a)), "fd00:42::9");

        /* No accounting, no id, no ports (ICMP). */
        m = tcp4;
        m.counters = 0;
        m.id = 0;
        m.proto = 1;
        m.ports = false;
        nlh = build(buf, &m);
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), 0);
        assert_false(e.has_counters);
        assert_int_equal(e.bytes[0] + e.bytes[1], 0);
        assert_int_equal(e.id, 0);
        assert_int_equal(e.orig.sport, 0);
        assert_int_equal(e.reply.sport, 0);
}

static void refuses_what_is_not_an_entry(void **state) {
        char buf[4096];
        sv_ct_entry e = {.id = 42};
        struct nlmsghdr *nlh = build(buf, &tcp4);

        /* Another subsystem, another message type, another family. */
        nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | IPCTNL_MSG_CT_NEW;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), -ENOMSG);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), -ENOMSG);
        nlh->nlmsg_type = NLMSG_DONE;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), -ENOMSG);
        msg_spec m = tcp4;
        nlh = build(buf, &m);
        ((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family = AF_BRIDGE;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), -ENOMSG);

        /* Malformed: no reply tuple; cut short anywhere; a length past the
         * end; an address of the wrong size. */
        m.no_reply = true;
        nlh = build(buf, &m);
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), -EBADMSG);
        m = tcp4;
        m.counters = 0;
        m.id = 0;
        nlh = build(buf, &m);
        uint32_t tuples_end = nlh->nlmsg_len - 8; /* the status attribute follows them */
        nlh = build(buf, &tcp4);
        uint32_t full = nlh->nlmsg_len;
        assert_int_equal(sv_ct_parse_msg(nlh, full - 1, &e), -EBADMSG);
        for (uint32_t cut = NLMSG_HDRLEN; cut < full; cut += 4) {
                nlh->nlmsg_len = cut;
                int r = sv_ct_parse_msg(nlh, cut, &e);
                /* Without both tuples, nothing; after them, an entry with
                 * less in it, or nothing when an attribute is cut. */
                if (cut < tuples_end)
                        assert_int_equal(r, -EBADMSG);
                else
                        assert_true(r == 0 || r == -EBADMSG);
        }
        e.id = 42;
        nlh->nlmsg_len = full;
        assert_int_equal(sv_ct_parse_msg(nlh, 8, &e), -EBADMSG);
        assert_int_equal(sv_ct_parse_msg(NULL, 100, &e), -EBADMSG);
        m = tcp4;
        m.family = AF_INET6;
        m.osrc = "fd00::1";
        m.odst = "fd00::2";
        m.rsrc = "fd00::2";
        m.rdst = "fd00::1";
        nlh = build(buf, &m);
        ((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family = AF_INET;
        assert_int_equal(sv_ct_parse_msg(nlh, nlh->nlmsg_len, &e), -EBADMSG);
        assert_int_equal(e.id, 42); /* untouched on failure */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_an_ipv4_entry),
                cmocka_unit_test(parses_ipv6_deletes_and_old_counters),
                cmocka_unit_test(refuses_what_is_not_an_entry),
        };
        return cmocka_run_group_tests_name("operator/conntrack", tests, NULL, NULL);
}
