/* SPDX-License-Identifier: Apache-2.0 */
/* sv_nl_read_kernel against real sockets: a link dump answered by the kernel
 * (NETLINK_ROUTE, no privilege needed), and NETLINK_USERSOCK, on which one
 * process may send to another socket or broadcast to a group, to play a
 * sender that is not the kernel and to overflow a receive queue. */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../cmocka-prelude.h"
#include "nft/nl.h"

typedef struct seen {
        int msgs, links, done;
        int stop_after; /* return -ECANCELED from this message on; 0 never */
        int bad_len;    /* len differs from the header's nlmsg_len */
} seen;

static int on_msg(const void *msg, size_t len, void *userdata) {
        seen *s = userdata;
        struct nlmsghdr h;
        memcpy(&h, msg, sizeof(h));
        s->bad_len += h.nlmsg_len != len;
        s->msgs++;
        s->links += h.nlmsg_type == RTM_NEWLINK;
        s->done += h.nlmsg_type == NLMSG_DONE;
        if (s->stop_after && s->msgs >= s->stop_after)
                return -ECANCELED;
        return 1; /* ignored */
}

/* Each test's sockets, counts and buffer: rx is read, tx (USERSOCK) sends. */
typedef struct fixture {
        struct mnl_socket *rx, *tx;
        seen s;
        sv_nl_read_stats st;
        uint8_t buf[SV_NL_BUF_SIZE];
} fixture;

static int open_pair(void **state, int bus) {
        fixture *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        /* Left NULL where netlink is missing (a sandbox): the test skips. */
        (void)sv_nl_open(bus, &f->rx);
        if (bus == NETLINK_USERSOCK)
                (void)sv_nl_open(bus, &f->tx);
        *state = f;
        return 0;
}
static int setup_route(void **state) {
        return open_pair(state, NETLINK_ROUTE);
}
static int setup_user(void **state) {
        return open_pair(state, NETLINK_USERSOCK);
}
static int teardown(void **state) {
        fixture *f = *state;
        mnl_socket_closep(&f->rx);
        mnl_socket_closep(&f->tx);
        free(f);
        return 0;
}

static fixture *fixture_of(void **state, bool tx) {
        fixture *f = *state;
        if (!f->rx || (tx && !f->tx))
                skip();
        return f;
}

/* Reads into the first size bytes of f's buffer. */
static int read_some(fixture *f, size_t size, unsigned max_datagrams) {
        return sv_nl_read_kernel(f->rx, f->buf, size, max_datagrams, on_msg, &f->s, &f->st);
}

static void ask_for_links(struct mnl_socket *nl) {
        _Alignas(struct nlmsghdr) char buf[64];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->rtgen_family = AF_UNSPEC;
        assert_true(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0);
}

static void wait_readable(struct mnl_socket *nl) {
        struct pollfd p = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
        assert_int_equal(poll(&p, 1, 2000), 1);
}

/* Sends n messages of len bytes from one USERSOCK socket, to a port or to
 * group 1 (port 0 then: there is no kernel socket to take the unicast, so
 * the send fails once the broadcast is done). */
static void send_from_user(struct mnl_socket *from, uint32_t portid, int n, size_t len) {
        _Alignas(struct nlmsghdr) char buf[2048] = {0};
        assert_true(len >= NLMSG_HDRLEN && len <= sizeof(buf));
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_len = (uint32_t)len;
        nlh->nlmsg_type = NLMSG_MIN_TYPE;
        struct sockaddr_nl to = {
                .nl_family = AF_NETLINK, .nl_pid = portid, .nl_groups = portid ? 0 : 1};
        for (int i = 0; i < n; i++) {
                ssize_t r = sendto(mnl_socket_get_fd(from), buf, len, 0, (struct sockaddr *)&to,
                                   sizeof(to));
                if (portid)
                        assert_int_equal(r, (ssize_t)len);
        }
}

static void refuses_bad_arguments(void **state) {
        fixture *f = fixture_of(state, false);
        uint8_t *b = f->buf;
        assert_int_equal(sv_nl_read_kernel(NULL, b, 64, 1, on_msg, &f->s, &f->st), -EINVAL);
        assert_int_equal(sv_nl_read_kernel(f->rx, NULL, 64, 1, on_msg, &f->s, &f->st), -EINVAL);
        assert_int_equal(sv_nl_read_kernel(f->rx, b, 64, 1, NULL, &f->s, &f->st), -EINVAL);
        assert_int_equal(sv_nl_read_kernel(f->rx, b, 64, 1, on_msg, &f->s, NULL), -EINVAL);
        assert_int_equal(read_some(f, 0, 1), -EINVAL);
        /* Nothing queued: 0 at once, nothing counted. */
        assert_int_equal(read_some(f, 64, 1), 0);
        assert_int_equal(f->s.msgs, 0);
        assert_int_equal(f->st.malformed + f->st.overruns, 0);
}

static void walks_every_message_the_kernel_sends(void **state) {
        fixture *f = fixture_of(state, false);
        ask_for_links(f->rx);
        while (!f->s.done) {
                wait_readable(f->rx);
                assert_int_equal(read_some(f, sizeof(f->buf), 64), 0);
        }
        assert_true(f->s.links >= 1); /* lo, at least */
        assert_int_equal(f->s.done, 1);
        assert_int_equal(f->s.msgs, f->s.links + 1);
        assert_int_equal(f->s.bad_len, 0);
        assert_int_equal(f->st.malformed + f->st.overruns, 0);
}

static void a_negative_callback_stops_the_read(void **state) {
        fixture *f = fixture_of(state, false);
        f->s.stop_after = 1;
        ask_for_links(f->rx);
        wait_readable(f->rx);
        assert_int_equal(read_some(f, sizeof(f->buf), 64), -ECANCELED);
        assert_int_equal(f->s.msgs, 1);
}

static void datagrams_cut_short_are_malformed(void **state) {
        fixture *f = fixture_of(state, false);
        ask_for_links(f->rx);
        wait_readable(f->rx);
        /* Room for the first message and the next header, when the datagram
         * holds more: its first message would be whole, and is still not
         * handed on. Else less than the message. */
        struct nlmsghdr h;
        ssize_t total = recv(mnl_socket_get_fd(f->rx), &h, sizeof(h), MSG_PEEK | MSG_TRUNC);
        assert_true(total >= (ssize_t)sizeof(h) && h.nlmsg_len >= sizeof(h));
        size_t size = NLMSG_ALIGN(h.nlmsg_len) + NLMSG_HDRLEN;
        if ((size_t)total <= size)
                size = h.nlmsg_len - 1;
        assert_int_equal(read_some(f, size, 1), 0);
        assert_int_equal(f->s.msgs, 0);
        assert_int_equal(f->st.malformed, 1);
}

static void other_senders_are_refused_and_reads_are_capped(void **state) {
        fixture *f = fixture_of(state, true);
        send_from_user(f->tx, mnl_socket_get_portid(f->rx), 3, NLMSG_HDRLEN);
        assert_int_equal(read_some(f, sizeof(f->buf), 2), 0);
        assert_int_equal(f->st.malformed, 2);
        assert_int_equal(read_some(f, sizeof(f->buf), 2), 0);
        assert_int_equal(f->st.malformed, 3);
        assert_int_equal(f->s.msgs, 0);
}

static void an_overflowing_queue_counts_an_overrun(void **state) {
        fixture *f = fixture_of(state, true);
        int fd = mnl_socket_get_fd(f->rx), small = 4096, group = 1;
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                skip();
        send_from_user(f->tx, 0, 64, 1024);
        for (int more = 1; more;) { /* until the queue is empty */
                uint64_t before = f->st.malformed + f->st.overruns;
                assert_int_equal(read_some(f, sizeof(f->buf), 8), 0);
                more = f->st.malformed + f->st.overruns > before;
        }
        assert_true(f->st.overruns >= 1);
        assert_true(f->st.malformed >= 1); /* what fitted, from a user sender */
        assert_int_equal(f->s.msgs, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(refuses_bad_arguments, setup_route, teardown),
                cmocka_unit_test_setup_teardown(walks_every_message_the_kernel_sends, setup_route,
                                                teardown),
                cmocka_unit_test_setup_teardown(a_negative_callback_stops_the_read, setup_route,
                                                teardown),
                cmocka_unit_test_setup_teardown(datagrams_cut_short_are_malformed, setup_route,
                                                teardown),
                cmocka_unit_test_setup_teardown(other_senders_are_refused_and_reads_are_capped,
                                                setup_user, teardown),
                cmocka_unit_test_setup_teardown(an_overflowing_queue_counts_an_overrun, setup_user,
                                                teardown),
        };
        return cmocka_run_group_tests_name("nft/nl", tests, NULL, NULL);
}
