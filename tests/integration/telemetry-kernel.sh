#!/usr/bin/env bash
# The operator's telemetry readers against the real kernel, with real packets:
# two network namespaces joined by a veth (no route out), an `inet selvedge`
# table loaded with the nft CLI in the server's, and the test driver
# tests/tools/operator/telemetry running the readers there.
#  - NFLOG (operator/nflog.c): packets a rule logs to group 70 arrive with their
#    prefix, family, addresses, protocol and ports; the group is exclusive and
#    released when its reader exits.
#  - L4 counters (operator/conntrack.c, operator/flows.c, operator/telemetry.c):
#    in the client's namespace, a dump of the conntrack table shows what
#    /proc/net/nf_conntrack shows, counters included once the telemetry turned
#    accounting on; destroy events carry the final counters; the telemetry's
#    totals per (workload, Service) are the kernel's bytes, through DNAT,
#    counting only clients of "this node", connections ending between dumps
#    included, nothing twice.
#  - the telemetry's schedule (sv_telemetry_tick, on a clock the test gives):
#    no dump while no connection of the node's pods lives, a NEW event brings
#    the dumps back, the end of the last connection ends them.
# Needs root (network namespaces, nftables), socat and conntrack (the CLI).
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v socat >/dev/null || ! command -v conntrack >/dev/null; then
	echo "ok 1 - $T_NAME: # SKIP needs root, socat and conntrack"
	exit 0
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DRIVER=${SELVEDGE_BUILD:-$ROOT/build}/tests/tools/operator/telemetry
TAG=tk$$
A=sv-$TAG-a # the client
B=sv-$TAG-b # the server, with the table
DIR=$(mktemp -d "/tmp/sv-$TAG.XXXXXX")
GROUP=70
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -z "${AGG_PID:-}" ] || kill "$AGG_PID" 2>/dev/null
	# A background "inb cmd &" is a subshell: killing it leaves the command
	# running, so whatever still runs in the namespaces goes too.
	ip netns pids "$A" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns pids "$B" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

[ -x "$DRIVER" ] || {
	t_fail "the test driver is built" "missing: $DRIVER (make tools)"
	t_done
	exit 1
}

ip netns add "$A"
ip netns add "$B"
ip link add "a-$TAG" netns "$A" type veth peer name "b-$TAG" netns "$B"
ip -n "$A" addr add 10.199.0.1/24 dev "a-$TAG"
ip -n "$B" addr add 10.199.0.2/24 dev "b-$TAG"
ip -n "$A" addr add fd99::1/64 dev "a-$TAG" nodad
ip -n "$B" addr add fd99::2/64 dev "b-$TAG" nodad
for ns in "$A" "$B"; do
	ip -n "$ns" link set lo up
done
ip -n "$A" link set "a-$TAG" up
ip -n "$B" link set "b-$TAG" up

# The denial part of docs/nftables.md's table, on input here (the operator
# has it on forward).
cat >"$DIR/table.nft" <<'NFT'
table inet selvedge {
	chain input {
		type filter hook input priority filter; policy accept;
		meta l4proto { tcp, udp } th dport 9999 log prefix "selvedge-in" group 70 drop
		icmp type echo-request log prefix "selvedge-icmp" group 70
	}
}
NFT
check "the table loads with the nft CLI" ip netns exec "$B" nft -f "$DIR/table.nft"

inb() { ip netns exec "$B" "$@"; }
ina() { ip netns exec "$A" "$@"; }

# ---- NFLOG -----------------------------------------------------------------
# Background processes are started without a subshell, so $! is theirs.
ip netns exec "$B" "$DRIVER" nflog "$GROUP" 4 10000 >"$DIR/nflog.out" 2>"$DIR/nflog.err" &
NFLOG_PID=$!
PIDS+=("$NFLOG_PID")
if wait_for 5 grep -qx ready "$DIR/nflog.out"; then
	t_pass "the reader binds group $GROUP"
else
	t_fail "the reader binds group $GROUP" "$(cat "$DIR/nflog.err")"
fi
check_fails_with "a second reader of the same group is refused (EPERM)" "Operation not permitted" \
	inb "$DRIVER" nflog "$GROUP" 1 100
# One SYN each (connect-timeout ends them before the first retransmission),
# then a UDP datagram, an IPv6 SYN and a ping.
ina socat -u /dev/null TCP4:10.199.0.2:9999,sourceport=40001,connect-timeout=0.3 2>/dev/null
ina socat -u - UDP4-SENDTO:10.199.0.2:9999,sourceport=40002 <<<"denied" 2>/dev/null
ina socat -u /dev/null 'TCP6:[fd99::2]:9999,sourceport=40003,connect-timeout=0.3' 2>/dev/null
ina ping -c 1 -W 1 10.199.0.2 >/dev/null 2>&1
if wait "$NFLOG_PID"; then
	t_pass "the reader receives the 4 logged packets"
else
	t_fail "the reader receives the 4 logged packets" "$(cat "$DIR/nflog.out" "$DIR/nflog.err")"
fi
check_output "a denied TCP SYN: prefix, addresses, ports, input hook (1)" \
	'^prefix=selvedge-in family=4 src=10.199.0.1 dst=10.199.0.2 proto=6 sport=40001 dport=9999 hook=1 indev=[1-9]' \
	cat "$DIR/nflog.out"
check_output "a denied UDP datagram" \
	'^prefix=selvedge-in family=4 src=10.199.0.1 dst=10.199.0.2 proto=17 sport=40002 dport=9999 ' \
	cat "$DIR/nflog.out"
check_output "a denied IPv6 SYN" \
	'^prefix=selvedge-in family=6 src=fd99::1 dst=fd99::2 proto=6 sport=40003 dport=9999 ' \
	cat "$DIR/nflog.out"
check_output "ICMP: another prefix, no ports" \
	'^prefix=selvedge-icmp family=4 src=10.199.0.1 dst=10.199.0.2 proto=1 sport=0 dport=0 ' \
	cat "$DIR/nflog.out"
check_output "nothing malformed, no overrun" '^stats packets=4 malformed=0 overruns=0$' \
	cat "$DIR/nflog.out"
# The group was released with the reader's socket.
ip netns exec "$B" "$DRIVER" nflog "$GROUP" 1 3000 >"$DIR/nflog2.out" 2>&1 &
NFLOG_PID=$!
PIDS+=("$NFLOG_PID")
wait_for 5 grep -qx ready "$DIR/nflog2.out"
ina socat -u /dev/null TCP4:10.199.0.2:9999,sourceport=40004,connect-timeout=0.3 2>/dev/null
if wait "$NFLOG_PID" && grep -q 'sport=40004 dport=9999' "$DIR/nflog2.out"; then
	t_pass "the group is free again once its reader exits"
else
	t_fail "the group is free again once its reader exits" "$(cat "$DIR/nflog2.out")"
fi

# ---- L4 counters from conntrack ------------------------------------------
# A is "the node" of the client pod 10.199.0.1 / fd99::1: its conntrack runs
# (a ct rule), and a cluster IP 10.96.0.10:80 is DNATed to the server's 8080,
# as kube-proxy or a split would.
ina ip route add 10.96.0.0/24 dev "a-$TAG"
cat >"$DIR/node.nft" <<'NFT'
table inet selvedge_test {
	chain output {
		type filter hook output priority filter; policy accept;
		ct state new counter
	}
	chain nat_output {
		type nat hook output priority -100; policy accept;
		ip daddr 10.96.0.10 tcp dport 80 dnat ip to 10.199.0.2:8080
	}
}
NFT
check "the client's node table loads" ina nft -f "$DIR/node.nft"
cat >"$DIR/state.json" <<'JSON'
{"localPods": [{"ips": ["10.199.0.1", "fd99::1"]}],
 "identities": {"dev/client": ["10.199.0.1", "fd99::1"],
                "prod/server": ["10.199.0.2", "fd99::2"]},
 "services": [{"namespace": "prod", "name": "server", "clusterIPs": ["10.96.0.10"],
               "endpoints": ["10.199.0.2", "fd99::2"]}]}
JSON
inb socat -u TCP4-LISTEN:8080,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
inb socat -u TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1 OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
inb socat -u UDP4-RECV:5353 OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
ina socat -u TCP4-LISTEN:9000,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
wait_for 5 sh -c "ip netns exec $B ss -Hltn | grep -q ':8080' && ip netns exec $A ss -Hltn | grep -q ':9000'"

acct=$(ina sysctl -n net.netfilter.nf_conntrack_acct)
coproc AGG { exec ip netns exec "$A" "$DRIVER" agg "$DIR/state.json" 71 2>&1; }
# agg CMD: one command ("read" or "drain"); prints the answer up to "end".
agg() {
	local line
	echo "$1" >&"${AGG[1]}"
	while IFS= read -r -t 10 line <&"${AGG[0]}"; do
		[ "$line" = end ] && return 0
		printf '%s\n' "$line"
	done
	return 1
}
IFS= read -r -t 10 agg_ready <&"${AGG[0]}"
if [ "$agg_ready" = ready ] && [ "$(ina sysctl -n net.netfilter.nf_conntrack_acct)" = 1 ]; then
	t_pass "the telemetry turns accounting on in its namespace (it was $acct)"
else
	t_fail "the telemetry turns accounting on in its namespace" "driver: $agg_ready" \
		"nf_conntrack_acct=$(ina sysctl -n net.netfilter.nf_conntrack_acct)"
fi

# The kernel's bytes of our client's connections to the server, both ways.
kernel_bytes() {
	ina "$DRIVER" ct-dump | awk '/ src=(10.199.0.1|fd99::1) / && / server=(10.199.0.2|fd99::2) / {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		split(f["bytes"], b, ","); s += b[1] + b[2] } END { print s + 0 }'
}
PAIR='source="dev/client",destination="prod/server"'
metric() { awk -v s="$2" '$1 == "metric" && $2 == s { print $3 }' <<<"$1"; }

# The schedule. No connection yet: the first dump finds none of the node's
# pods, so the telemetry follows NEW events and dumps once more at once; the
# second finds none either, and no dump is due any more, however long.
out=$(agg "tick 0")
if grep -qx 'due 0' <<<"$out" && [ "$(metric "$out" selvedge_l4_table_reads_total)" = 1 ]; then
	t_pass "schedule: the first dump finds no connection; a second is due at once"
else
	t_fail "schedule: the first dump finds no connection; a second is due at once" "$out"
fi
out=$(agg "tick 0")
if grep -qx 'due never' <<<"$out" && [ "$(metric "$out" selvedge_l4_table_reads_total)" = 2 ]; then
	t_pass "schedule: after the second, the node is quiet: no dump due"
else
	t_fail "schedule: after the second, the node is quiet: no dump due" "$out"
fi
out=$(agg "tick 100000")
if grep -qx 'due never' <<<"$out" && [ "$(metric "$out" selvedge_l4_table_reads_total)" = 2 ]; then
	t_pass "schedule: 100 s later, still no dump"
else
	t_fail "schedule: 100 s later, still no dump" "$out"
fi
# A connection of the node's pod starts and stays open: its NEW event counts
# it and brings the dumps back, every 10 s while it lives.
ina socat -u SYSTEM:'head -c 2000 /dev/zero; sleep 60' TCP4:10.199.0.2:8080,sourceport=40010 \
	>/dev/null 2>&1 &
LONG_PID=$!
PIDS+=("$LONG_PID")
long_sent() { [ "$(kernel_bytes)" -gt 2000 ]; }
wait_for 5 long_sent
out=$(agg drain)
if [ "$(metric "$out" "selvedge_l4_connections_total{$PAIR}")" = 1 ] &&
	[ "$(metric "$out" selvedge_l4_table_reads_total)" = 2 ]; then
	t_pass "schedule: the NEW event counts the connection, without a dump"
else
	t_fail "schedule: the NEW event counts the connection, without a dump" "$out"
fi
out=$(agg "tick 100000")
check_output "schedule: and makes a dump due in 10 s" '^due 110000$' echo "$out"
expect_b=$(kernel_bytes)
out=$(agg "tick 110000")
if grep -qx 'due 120000' <<<"$out" && [ "$(metric "$out" selvedge_l4_table_reads_total)" = 3 ] &&
	[ "$(metric "$out" "selvedge_l4_bytes_total{$PAIR}")" = "$expect_b" ]; then
	t_pass "schedule: the dump reads its $expect_b bytes; the next is due 10 s later"
else
	t_fail "schedule: the dump reads its $expect_b bytes; the next is due 10 s later" "$out"
fi
kill "$LONG_PID"

# send BYTES ADDRESS: BYTES of zeros over one connection.
send() { head -c "$1" /dev/zero | ina socat -u - "$2"; }
for p in 40011 40012 40013; do send 10000 "TCP4:10.96.0.10:80,sourceport=$p"; done
send 3000 'TCP6:[fd99::2]:8080,sourceport=40014'
ina socat -u - UDP4-SENDTO:10.199.0.2:5353,sourceport=40015 <<<"hello" 2>/dev/null
# Not ours: the client is B, whose pods are not on this node.
head -c 5000 /dev/zero | inb socat -u - TCP4:10.199.0.1:9000,sourceport=40016
sleep 0.3 # the last FIN/ACKs

# "sport obytes rbytes" of the DNATed TCP entries, from our dump and from
# /proc (the kernel's own text), sorted.
ours_dnat() {
	ina "$DRIVER" ct-dump | awk '/ proto=6 / && / dst=10.96.0.10 / && / server=10.199.0.2 sport_r=8080 / {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		split(f["bytes"], b, ","); print f["sport"], b[1], b[2] }' | sort
}
procs_dnat() {
	ina cat /proc/net/nf_conntrack | awk '$3 == "tcp" && / dst=10.96.0.10 / {
		n = 0; for (i = 1; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == "sport" && !sp) sp = kv[2];
			if (kv[1] == "bytes") by[++n] = kv[2] }
		print sp, by[1], by[2]; sp = "" }' | sort
}
out=$(ours_dnat)
if [ "$(wc -l <<<"$out")" = 3 ] && [ "$out" = "$(procs_dnat)" ] && ! grep -q ' 0 ' <<<"$out"; then
	t_pass "our dump shows the 3 DNATed connections with the kernel's counters: $(tr '\n' ';' <<<"$out")"
else
	t_fail "our dump shows the 3 DNATed connections with the kernel's counters" "ours: $out" \
		"/proc: $(procs_dnat)" "$(ina "$DRIVER" ct-dump 2>&1)"
fi
check_output "an IPv6 entry, and the UDP one, with counters" \
	'^entry family=6 proto=6 src=fd99::1 dst=fd99::2 sport=40014 dport=8080 server=fd99::2 sport_r=8080 counters=1 ' \
	ina "$DRIVER" ct-dump
check_output "the UDP datagram: 20 + 8 + 6 bytes one way" \
	'^entry family=4 proto=17 src=10.199.0.1 dst=10.199.0.2 sport=40015 dport=5353 server=10.199.0.2 sport_r=5353 counters=1 packets=1,0 bytes=34,0$' \
	ina "$DRIVER" ct-dump

expect_b=$(kernel_bytes)
out=$(agg read)
check_output "a read: the pair's bytes are the kernel's ($expect_b), through DNAT" \
	"^metric selvedge_l4_bytes_total\\{$PAIR\\} $expect_b\$" echo "$out"
check_output "and 6 connections (the long one, 3 DNATed, 1 IPv6, 1 UDP)" \
	"^metric selvedge_l4_connections_total\\{$PAIR\\} 6\$" echo "$out"
if grep -q 'source="prod/server"' <<<"$out"; then
	t_fail "a connection whose client is not on this node is not counted here" "$out"
else
	t_pass "a connection whose client is not on this node is not counted here"
fi
out=$(agg read)
check_output "a read with no new traffic adds nothing" \
	"^metric selvedge_l4_bytes_total\\{$PAIR\\} $expect_b\$" echo "$out"

# Connections that end between two reads: a TIME_WAIT of 1 s lets them go
# at once; their destroy events (watched here too) carry the final counters.
ina sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1
ina "$DRIVER" ct-events 2 20000 >"$DIR/events.out" 2>"$DIR/events.err" &
EV_PID=$!
PIDS+=("$EV_PID")
wait_for 5 grep -qx ready "$DIR/events.out"
for p in 40021 40022; do send 7000 "TCP4:10.96.0.10:80,sourceport=$p"; done
# Expired entries go when conntrack's garbage collector passes (up to a
# minute when the table is small) or when a reader of the table meets them:
# /proc/net/nf_conntrack is such a reader, and not ours.
reaped() {
	ina cat /proc/net/nf_conntrack >/dev/null
	[ "$(grep -c '^destroyed .* sport=4002[12] ' "$DIR/events.out")" = 2 ]
}
wait_for 15 reaped
if wait "$EV_PID"; then
	t_pass "both connections' destroy events arrive"
else
	t_fail "both connections' destroy events arrive" "$(cat "$DIR/events.out" "$DIR/events.err")"
fi
ended_b=$(awk '/^destroyed / { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	split(f["bytes"], b, ","); s += b[1] + b[2] } END { print s + 0 }' "$DIR/events.out")
expect_b=$((expect_b + ended_b))
out=$(agg drain)
check_output "the events alone count them: +$ended_b bytes" \
	"^metric selvedge_l4_bytes_total\\{$PAIR\\} $expect_b\$" echo "$out"
check_output "and 2 connections" "^metric selvedge_l4_connections_total\\{$PAIR\\} 8\$" echo "$out"
out=$(agg read)
check_output "the next dump counts nothing twice" \
	"^metric selvedge_l4_bytes_total\\{$PAIR\\} $expect_b\$" echo "$out"
check_output "and no connection was lost to a missed event" \
	'^metric selvedge_l4_connections_vanished_total 0$' echo "$out"
# The schedule again: once the last connection is gone (the table flushed:
# their destroy events), a dump finds none, the next comes at once, and the
# node is quiet again.
ina conntrack -F >/dev/null 2>&1
out=$(agg "tick 200000")
reads=$(metric "$out" selvedge_l4_table_reads_total)
if grep -qx 'due 200000' <<<"$out" && [ "$(metric "$out" "selvedge_l4_bytes_total{$PAIR}")" = "$expect_b" ]; then
	t_pass "schedule: the table flushed, a dump finds no connection; a second is due at once"
else
	t_fail "schedule: the table flushed, a dump finds no connection; a second is due at once" "$out"
fi
out=$(agg "tick 200000")
if grep -qx 'due never' <<<"$out" && [ "$(metric "$out" selvedge_l4_table_reads_total)" = $((reads + 1)) ] &&
	[ "$(metric "$out" selvedge_l4_connections_vanished_total)" = 0 ]; then
	t_pass "schedule: quiet again, nothing lost"
else
	t_fail "schedule: quiet again, nothing lost" "$out"
fi
agg_pid=$AGG_PID
eval "exec ${AGG[1]}>&-"
if wait "$agg_pid"; then
	t_pass "the telemetry driver exits cleanly at the end of its input"
else
	t_fail "the telemetry driver exits cleanly at the end of its input" "status $?"
fi

t_done
