/* SPDX-License-Identifier: Apache-2.0 */
/* An NFLOG listener (nfnetlink_log, libmnl) for the packets the nftables
 * backend logs when it denies them (`log prefix "selvedge-in" group 70`, see
 * docs/nftables.md). It binds one log group, asks for the first
 * SV_NFLOG_COPY_RANGE bytes of each packet (IPv4/IPv6 header, extension
 * headers, ports) and hands each logged packet to a callback, parsed:
 * prefix, addresses, protocol, ports.
 *
 * The socket is non-blocking: sv_nflog_read drains what is queued and
 * returns, for a poll loop on sv_nflog_fd. The kernel sends a batch after
 * SV_NFLOG_QTHRESH packets or SV_NFLOG_TIMEOUT_CS hundredths of a second,
 * whichever comes first. When the socket's receive queue overflows, the
 * kernel drops logs (counted in sv_nflog_stats.overruns).
 *
 * What comes from the kernel is parsed as untrusted: every length is checked
 * against what was received (sv_nflog_parse_msg, fuzzed). */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"

#define SV_NFLOG_PREFIX_MAX 128 /* NF_LOG_PREFIXLEN: a prefix with its NUL */
#define SV_NFLOG_COPY_RANGE 128 /* bytes of each packet copied to us */
#define SV_NFLOG_QTHRESH 16     /* packets per batch at most */
#define SV_NFLOG_TIMEOUT_CS 1   /* a batch waits at most this, in 1/100 s */
#define SV_NFLOG_READ_MAX 64    /* datagrams one sv_nflog_read takes at most */

typedef struct sv_nflog_packet {
        char prefix[SV_NFLOG_PREFIX_MAX]; /* "" when the rule set none; cut if longer */
        int family;                       /* AF_INET or AF_INET6 */
        char src[INET6_ADDRSTRLEN];
        char dst[INET6_ADDRSTRLEN];
        uint8_t proto; /* the transport protocol (after IPv6 extension headers) */
        /* Host order. 0 unless TCP, UDP, UDP-Lite, SCTP or DCCP with its ports
         * in the copied bytes (and not a non-first fragment). */
        uint16_t sport, dport;
        uint8_t hook;    /* NF_INET_* hook that logged it, 0 when absent */
        uint32_t indev;  /* input interface index, 0 when none */
        uint32_t outdev; /* output interface index, 0 when none */
} sv_nflog_packet;

/* A negative return stops sv_nflog_read, which returns it. */
typedef int (*sv_nflog_cb)(const sv_nflog_packet *p, void *userdata);

typedef struct sv_nflog sv_nflog;

/* Opens a NETLINK_NETFILTER socket in the current network namespace (the
 * caller may setns around this call; the socket stays in it) and binds log
 * group `group`: -EPERM when another socket holds it, -EPERM/-EACCES without
 * CAP_NET_ADMIN. */
int sv_nflog_open(uint16_t group, sv_nflog **out);

/* Closes the socket, which releases the group. Accepts NULL; returns NULL. */
sv_nflog *sv_nflog_free(sv_nflog *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_nflog *, sv_nflog_free);
#define _cleanup_nflog_ _cleanup_(sv_nflog_freep)

/* For poll (POLLIN). */
int sv_nflog_fd(const sv_nflog *l);

/* Reads what is queued, without blocking, and calls cb for each logged packet
 * it can parse (others are counted as malformed). Returns the number of
 * packets handed to cb, or a negative errno (a socket error, or cb's). Stops
 * after SV_NFLOG_READ_MAX datagrams, so a flood cannot hold the caller's
 * loop: the fd is still readable then. */
int sv_nflog_read(sv_nflog *l, sv_nflog_cb cb, void *userdata);

typedef struct sv_nflog_stats {
        uint64_t packets;   /* handed to the callback */
        uint64_t malformed; /* messages or datagrams that did not parse */
        uint64_t overruns;  /* times the receive queue overflowed (ENOBUFS) */
} sv_nflog_stats;

void sv_nflog_get_stats(const sv_nflog *l, sv_nflog_stats *out);

/* ---- parsers, no I/O (unit tests and fuzzing) ------------------------- */

/* Parses one netlink message of len bytes (header included; buf need not be
 * aligned). 0 and *out filled for an NFULNL_MSG_PACKET with an IPv4 or IPv6
 * payload; -ENOMSG for another message type; -EBADMSG when malformed. */
int sv_nflog_parse_msg(const void *buf, size_t len, sv_nflog_packet *out);

/* Parses the start of an IP packet (len bytes copied of it) into family,
 * src, dst, proto, sport and dport of *out; -EBADMSG when it is not the start
 * of an IPv4 or IPv6 packet. Other fields are left as they are. */
int sv_nflog_parse_ip(const uint8_t *p, size_t len, sv_nflog_packet *out);
