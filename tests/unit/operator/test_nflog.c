/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <string.h>
#include <sys/socket.h>

#include "../cmocka-prelude.h"
#include "operator/nflog.h"

/* ---- packets ---------------------------------------------------------- */

/* An IPv4 header (20 bytes, no options) then l4len bytes of transport. */
static size_t ipv4(uint8_t *p, uint8_t proto, const char *src, const char *dst, uint16_t frag,
                   size_t l4len) {
        memset(p, 0, 20 + l4len);
        p[0] = 0x45;
        uint16_t total = htons((uint16_t)(20 + l4len));
        memcpy(p + 2, &total, 2);
        uint16_t f = htons(frag);
        memcpy(p + 6, &f, 2);
        p[8] = 64;
        p[9] = proto;
        assert_int_equal(inet_pton(AF_INET, src, p + 12), 1);
        assert_int_equal(inet_pton(AF_INET, dst, p + 16), 1);
        return 20 + l4len;
}

static void ports(uint8_t *p, uint16_t sport, uint16_t dport) {
        uint16_t s = htons(sport), d = htons(dport);
        memcpy(p, &s, 2);
        memcpy(p + 2, &d, 2);
}

/* An IPv6 header with next header nh and a payload of plen bytes. */
static void ipv6(uint8_t *p, uint8_t nh, const char *src, const char *dst, size_t plen) {
        memset(p, 0, 40 + plen);
        p[0] = 0x60;
        uint16_t l = htons((uint16_t)plen);
        memcpy(p + 4, &l, 2);
        p[6] = nh;
        p[7] = 64;
        assert_int_equal(inet_pton(AF_INET6, src, p + 8), 1);
        assert_int_equal(inet_pton(AF_INET6, dst, p + 24), 1);
}

static void parses_ipv4_tcp_and_udp(void **state) {
        uint8_t b[64];
        sv_nflog_packet p = {0};
        size_t n = ipv4(b, IPPROTO_TCP, "10.42.0.7", "10.42.1.9", 0, 20);
        ports(b + 20, 43210, 8080);
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), 0);
        assert_int_equal(p.family, AF_INET);
        assert_string_equal(p.src, "10.42.0.7");
        assert_string_equal(p.dst, "10.42.1.9");
        assert_int_equal(p.proto, IPPROTO_TCP);
        assert_int_equal(p.sport, 43210);
        assert_int_equal(p.dport, 8080);

        n = ipv4(b, IPPROTO_UDP, "192.0.2.1", "192.0.2.2", 0, 8);
        ports(b + 20, 53, 5353);
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), 0);
        assert_int_equal(p.proto, IPPROTO_UDP);
        assert_int_equal(p.sport, 53);
        assert_int_equal(p.dport, 5353);

        /* Only the ports were copied of the transport header: enough. */
        n = ipv4(b, IPPROTO_TCP, "192.0.2.1", "192.0.2.2", 0, 20);
        ports(b + 20, 1, 2);
        assert_int_equal(sv_nflog_parse_ip(b, 24, &p), 0);
        assert_int_equal(p.dport, 2);
        /* Fewer bytes: no ports, the rest is known. */
        assert_int_equal(sv_nflog_parse_ip(b, 23, &p), 0);
        assert_int_equal(p.proto, IPPROTO_TCP);
        assert_int_equal(p.sport, 0);
        assert_int_equal(p.dport, 0);
        assert_string_equal(p.dst, "192.0.2.2");
}

static void ipv4_without_ports(void **state) {
        uint8_t b[64];
        sv_nflog_packet p = {0};
        /* ICMP */
        size_t n = ipv4(b, IPPROTO_ICMP, "10.0.0.1", "10.0.0.2", 0, 8);
        b[20] = 8;
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), 0);
        assert_int_equal(p.proto, IPPROTO_ICMP);
        assert_int_equal(p.sport, 0);
        assert_int_equal(p.dport, 0);
        /* A later fragment: what follows the header is not a TCP header. */
        n = ipv4(b, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 185, 20);
        ports(b + 20, 1234, 80);
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), 0);
        assert_int_equal(p.dport, 0);
        /* The first fragment (MF set, offset 0) has the ports. */
        n = ipv4(b, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 0x2000, 20);
        ports(b + 20, 1234, 80);
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), 0);
        assert_int_equal(p.dport, 80);
        /* Link-layer padding after a short packet is not a transport header. */
        n = ipv4(b, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 0, 0);
        ports(b + 20, 1, 2);
        assert_int_equal(sv_nflog_parse_ip(b, n + 8, &p), 0);
        assert_int_equal(p.dport, 0);
        /* Options: the transport header starts after them. */
        memset(b, 0, sizeof(b));
        n = ipv4(b, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 0, 12);
        b[0] = 0x46;
        ports(b + 24, 7, 9);
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), 0);
        assert_int_equal(p.sport, 7);
        assert_int_equal(p.dport, 9);
}

static void refuses_what_is_not_ip(void **state) {
        uint8_t b[64];
        sv_nflog_packet p = {.proto = 99};
        size_t n = ipv4(b, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 0, 20);
        assert_int_equal(sv_nflog_parse_ip(b, 19, &p), -EBADMSG); /* short */
        assert_int_equal(sv_nflog_parse_ip(b, 0, &p), -EBADMSG);
        b[0] = 0x44; /* IHL 16 bytes */
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), -EBADMSG);
        b[0] = 0x4f; /* IHL 60 bytes, more than copied */
        assert_int_equal(sv_nflog_parse_ip(b, 40, &p), -EBADMSG);
        b[0] = 0x45;
        b[2] = 0;
        b[3] = 10; /* total length shorter than the header */
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), -EBADMSG);
        b[0] = 0x55; /* version 5 */
        assert_int_equal(sv_nflog_parse_ip(b, n, &p), -EBADMSG);
        ipv6(b, IPPROTO_TCP, "::1", "::2", 20);
        assert_int_equal(sv_nflog_parse_ip(b, 39, &p), -EBADMSG);
        assert_int_equal(p.proto, 99); /* untouched on failure */
}

static void parses_ipv6_and_its_extension_headers(void **state) {
        uint8_t b[128];
        sv_nflog_packet p = {0};
        ipv6(b, IPPROTO_TCP, "fd00::7", "2001:db8::9", 20);
        ports(b + 40, 40000, 443);
        assert_int_equal(sv_nflog_parse_ip(b, 60, &p), 0);
        assert_int_equal(p.family, AF_INET6);
        assert_string_equal(p.src, "fd00::7");
        assert_string_equal(p.dst, "2001:db8::9");
        assert_int_equal(p.proto, IPPROTO_TCP);
        assert_int_equal(p.sport, 40000);
        assert_int_equal(p.dport, 443);

        /* hop-by-hop (8 bytes), destination options (16), first fragment, UDP */
        ipv6(b, IPPROTO_HOPOPTS, "fd00::1", "fd00::2", 8 + 16 + 8 + 8);
        b[40] = IPPROTO_DSTOPTS;
        b[41] = 0;
        b[48] = IPPROTO_FRAGMENT;
        b[49] = 1;
        b[64] = IPPROTO_UDP;
        b[66] = 0x00;
        b[67] = 0x01; /* offset 0, more fragments */
        ports(b + 72, 5000, 53);
        assert_int_equal(sv_nflog_parse_ip(b, 80, &p), 0);
        assert_int_equal(p.proto, IPPROTO_UDP);
        assert_int_equal(p.sport, 5000);
        assert_int_equal(p.dport, 53);
        /* Copied up to the middle of the ports: protocol known, no ports. */
        assert_int_equal(sv_nflog_parse_ip(b, 74, &p), 0);
        assert_int_equal(p.proto, IPPROTO_UDP);
        assert_int_equal(p.dport, 0);
        /* Cut inside the destination options: the protocol is the header
         * that could not be read past. */
        assert_int_equal(sv_nflog_parse_ip(b, 60, &p), 0);
        assert_int_equal(p.proto, IPPROTO_FRAGMENT);
        assert_int_equal(p.dport, 0);

        /* A later fragment: no ports. */
        b[66] = 0x00;
        b[67] = 0x08;
        assert_int_equal(sv_nflog_parse_ip(b, 80, &p), 0);
        assert_int_equal(p.proto, IPPROTO_UDP);
        assert_int_equal(p.dport, 0);

        /* AH: (len + 2) * 4 bytes. */
        ipv6(b, IPPROTO_AH, "fd00::1", "fd00::2", 16 + 20);
        b[40] = IPPROTO_TCP;
        b[41] = 2; /* 16 bytes */
        ports(b + 56, 1, 22);
        assert_int_equal(sv_nflog_parse_ip(b, 76, &p), 0);
        assert_int_equal(p.proto, IPPROTO_TCP);
        assert_int_equal(p.dport, 22);

        /* A chain of more extension headers than we follow: no ports. */
        ipv6(b, IPPROTO_DSTOPTS, "fd00::1", "fd00::2", 80);
        for (int i = 0; i < 10; i++)
                b[40 + 8 * i] = IPPROTO_DSTOPTS;
        assert_int_equal(sv_nflog_parse_ip(b, 120, &p), 0);
        assert_int_equal(p.proto, IPPROTO_DSTOPTS);
        assert_int_equal(p.dport, 0);
}

/* ---- netlink messages ------------------------------------------------- */

struct msg {
        uint8_t buf[1024];
        struct nlmsghdr *nlh;
};

static void msg_start(struct msg *m, uint16_t type, uint8_t family) {
        memset(m->buf, 0, sizeof(m->buf));
        m->nlh = mnl_nlmsg_put_header(m->buf);
        m->nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_ULOG << 8) | type);
        struct nfgenmsg *g = mnl_nlmsg_put_extra_header(m->nlh, sizeof(*g));
        g->nfgen_family = family;
        g->version = NFNETLINK_V0;
        g->res_id = htons(70);
}

static size_t tcp_packet(uint8_t *b) {
        size_t n = ipv4(b, IPPROTO_TCP, "10.42.0.7", "10.42.1.9", 0, 20);
        ports(b + 20, 43210, 8080);
        return n;
}

static void parses_a_packet_message(void **state) {
        struct msg m;
        uint8_t pkt[64];
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        struct nfulnl_msg_packet_hdr h = {.hw_protocol = htons(0x0800), .hook = 2};
        mnl_attr_put(m.nlh, NFULA_PACKET_HDR, sizeof(h), &h);
        mnl_attr_put_u32(m.nlh, NFULA_IFINDEX_INDEV, htonl(3));
        mnl_attr_put_u32(m.nlh, NFULA_IFINDEX_OUTDEV, htonl(4));
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        mnl_attr_put_strz(m.nlh, NFULA_PREFIX, "selvedge-in");

        sv_nflog_packet p;
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), 0);
        assert_string_equal(p.prefix, "selvedge-in");
        assert_int_equal(p.family, AF_INET);
        assert_string_equal(p.src, "10.42.0.7");
        assert_string_equal(p.dst, "10.42.1.9");
        assert_int_equal(p.proto, IPPROTO_TCP);
        assert_int_equal(p.sport, 43210);
        assert_int_equal(p.dport, 8080);
        assert_int_equal(p.hook, 2);
        assert_int_equal(p.indev, 3);
        assert_int_equal(p.outdev, 4);

        /* At an odd address, as a fuzzer hands it. */
        uint8_t odd[sizeof(m.buf) + 1];
        memcpy(odd + 1, m.buf, m.nlh->nlmsg_len);
        memset(&p, 0, sizeof(p));
        assert_int_equal(sv_nflog_parse_msg(odd + 1, m.nlh->nlmsg_len, &p), 0);
        assert_int_equal(p.dport, 8080);
        /* A longer buffer is fine: the message says where it ends. */
        assert_int_equal(sv_nflog_parse_msg(m.buf, sizeof(m.buf), &p), 0);
}

static void prefixes_are_bounded(void **state) {
        struct msg m;
        uint8_t pkt[64];
        char longp[300];
        memset(longp, 'x', sizeof(longp));
        sv_nflog_packet p;

        /* No NUL within the attribute, and longer than we keep. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PREFIX, sizeof(longp), longp);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), 0);
        assert_int_equal(strlen(p.prefix), SV_NFLOG_PREFIX_MAX - 1);

        /* Without NUL, short. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PREFIX, 3, "abc");
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), 0);
        assert_string_equal(p.prefix, "abc");

        /* None. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), 0);
        assert_string_equal(p.prefix, "");
}

static void refuses_malformed_messages(void **state) {
        struct msg m;
        uint8_t pkt[64];
        sv_nflog_packet p = {.proto = 99};

        /* Another message type. */
        msg_start(&m, NFULNL_MSG_CONFIG, AF_INET);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), -ENOMSG);

        /* No payload. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put_strz(m.nlh, NFULA_PREFIX, "x");
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), -EBADMSG);

        /* A payload that is not IP. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, 4, "\x00\x01\x02\x03");
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), -EBADMSG);

        /* IPv4 logged by an IPv6 hook. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET6);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), -EBADMSG);
        /* ...but a bridge table (family 7) logs IP packets with its own. */
        msg_start(&m, NFULNL_MSG_PACKET, 7);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), 0);
        p.proto = 99;

        /* The message longer than the buffer, or shorter than its header. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len - 1, &p), -EBADMSG);
        assert_int_equal(sv_nflog_parse_msg(m.buf, 10, &p), -EBADMSG);
        m.nlh->nlmsg_len = 8;
        assert_int_equal(sv_nflog_parse_msg(m.buf, sizeof(m.buf), &p), -EBADMSG);
        m.nlh->nlmsg_len = NLMSG_HDRLEN + 2; /* cut inside the nfgenmsg */
        assert_int_equal(sv_nflog_parse_msg(m.buf, sizeof(m.buf), &p), -EBADMSG);

        /* An attribute longer than the message. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        struct nlattr *a = (struct nlattr *)((uint8_t *)m.nlh + NLMSG_HDRLEN + 4);
        a->nla_len = (uint16_t)(a->nla_len + 8);
        assert_int_equal(sv_nflog_parse_msg(m.buf, sizeof(m.buf), &p), -EBADMSG);
        a->nla_len = 2; /* shorter than its own header */
        assert_int_equal(sv_nflog_parse_msg(m.buf, sizeof(m.buf), &p), -EBADMSG);

        /* Attributes of the wrong size. */
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        mnl_attr_put(m.nlh, NFULA_IFINDEX_INDEV, 2, "\x00\x01");
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), -EBADMSG);
        msg_start(&m, NFULNL_MSG_PACKET, AF_INET);
        mnl_attr_put(m.nlh, NFULA_PAYLOAD, tcp_packet(pkt), pkt);
        mnl_attr_put(m.nlh, NFULA_PACKET_HDR, 2, "\x08\x00");
        assert_int_equal(sv_nflog_parse_msg(m.buf, m.nlh->nlmsg_len, &p), -EBADMSG);

        assert_int_equal(p.proto, 99); /* *out untouched on failure */
        assert_int_equal(sv_nflog_parse_msg(NULL, 100, &p), -EBADMSG);
}

static void free_accepts_null(void **state) {
        assert_null(sv_nflog_free(NULL));
        assert_int_equal(sv_nflog_fd(NULL), -EBADF);
        sv_nflog_stats s = {.packets = 5};
        sv_nflog_get_stats(NULL, &s);
        assert_int_equal(s.packets, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_ipv4_tcp_and_udp),
                cmocka_unit_test(ipv4_without_ports),
                cmocka_unit_test(refuses_what_is_not_ip),
                cmocka_unit_test(parses_ipv6_and_its_extension_headers),
                cmocka_unit_test(parses_a_packet_message),
                cmocka_unit_test(prefixes_are_bounded),
                cmocka_unit_test(refuses_malformed_messages),
                cmocka_unit_test(free_accepts_null),
        };
        return cmocka_run_group_tests_name("operator/nflog", tests, NULL, NULL);
}
