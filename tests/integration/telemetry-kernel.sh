#!/usr/bin/env bash
# The operator's telemetry readers against the real kernel, with real packets:
# two network namespaces joined by a veth (no route out), an `inet selvedge`
# table loaded with the nft CLI in the server's, and the test driver
# tests/tools/operator/telemetry running the readers there.
#  - NFLOG (operator/nflog.c): packets a rule logs to group 70 arrive with their
#    prefix, family, addresses, protocol and ports; the group is exclusive and
#    released when its reader exits.
#  - Flows (operator/flows.c, lib/nft/setelem.c): the dynamic sets flows4/6 and
#    conns4/6, updated from input and output as docs/nftables.md has them,
#    read back with the counters `nft list set` shows; the aggregator's totals
#    grow by what the kernel counted, through expiry (a flushed set), counter
#    restarts and a rebuilt table.
# Needs root (network namespaces, nftables) and socat.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v socat >/dev/null; then
	echo "ok 1 - $T_NAME: # SKIP needs root and socat"
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

# The telemetry part of docs/nftables.md's table, on input and output here (the
# operator has it on forward). `ct original proto-dst` has no type of its own:
# nft 1.0.6 types it from the transport protocol of the rule (meta l4proto),
# hence one rule per protocol; the set's `counter` gives every element a
# counter, as does `counter` inside the braces.
cat >"$DIR/table.nft" <<'NFT'
table inet selvedge {
	set flows4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags dynamic,timeout
		timeout 1h
		size 65536
		counter
	}
	set conns4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags dynamic,timeout
		timeout 1h
		size 65536
		counter
	}
	set flows6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags dynamic,timeout
		timeout 1h
		size 65536
		counter
	}
	set conns6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags dynamic,timeout
		timeout 1h
		size 65536
		counter
	}
	chain telemetry {
		meta l4proto tcp update @flows4 { ct original ip saddr . ct original ip daddr . ct original protocol . ct original proto-dst counter }
		meta l4proto udp update @flows4 { ct original ip saddr . ct original ip daddr . ct original protocol . ct original proto-dst counter }
		meta l4proto tcp update @flows6 { ct original ip6 saddr . ct original ip6 daddr . ct original protocol . ct original proto-dst counter }
		meta l4proto udp update @flows6 { ct original ip6 saddr . ct original ip6 daddr . ct original protocol . ct original proto-dst counter }
		ct state new meta l4proto tcp update @conns4 { ct original ip saddr . ct original ip daddr . ct original protocol . ct original proto-dst counter }
		ct state new meta l4proto udp update @conns4 { ct original ip saddr . ct original ip daddr . ct original protocol . ct original proto-dst counter }
		ct state new meta l4proto tcp update @conns6 { ct original ip6 saddr . ct original ip6 daddr . ct original protocol . ct original proto-dst counter }
		ct state new meta l4proto udp update @conns6 { ct original ip6 saddr . ct original ip6 daddr . ct original protocol . ct original proto-dst counter }
	}
	chain input {
		type filter hook input priority filter; policy accept;
		meta l4proto { tcp, udp } th dport 9999 log prefix "selvedge-in" group 70 drop
		icmp type echo-request log prefix "selvedge-icmp" group 70
		jump telemetry
	}
	chain output {
		type filter hook output priority filter; policy accept;
		jump telemetry
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

# ---- flows ---------------------------------------------------------------
ip netns exec "$B" socat -u TCP4-LISTEN:8080,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$B" socat -u TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1 OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$B" socat -u UDP4-RECV:5353 OPEN:/dev/null >/dev/null 2>&1 &
PIDS+=($!)
wait_for 5 sh -c "ip netns exec $B ss -Hltn | grep -q ':8080'"

# send BYTES [socat address]: BYTES of zeros over one connection.
send() { head -c "$1" /dev/zero | ina socat -u - "${2:-TCP4:10.199.0.2:8080}"; }

# The kernel's view: "packets bytes" of one element, from nft's JSON.
nft_elem() {
	inb nft -j list set inet selvedge "$1" | jq -r --arg src "$2" --arg port "$3" \
		'.nftables[].set? // empty | .elem[]? | .elem | select(.val.concat[0] == $src and .val.concat[3] == ($port | tonumber)) | "\(.counter.packets) \(.counter.bytes)"'
}
# Ours: "packets bytes" of the same element, through sv_flows_read.
our_elem() {
	inb "$DRIVER" flows selvedge "$1" | awk -v src="$2" -v port="$3" \
		'{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
		 f["src"] == src && f["dport"] == port { print f["packets"], f["bytes"] }'
}
same_as_nft() { [ -n "$(nft_elem "$@")" ] && [ "$(nft_elem "$@")" = "$(our_elem "$@")" ]; }

for _ in 1 2 3; do send 10000; done
send 3000 'TCP6:[fd99::2]:8080'
ina socat -u - UDP4-SENDTO:10.199.0.2:5353 <<<"hello" 2>/dev/null
sleep 0.3 # the last FIN/ACKs

if wait_for 3 same_as_nft flows4 10.199.0.1 8080; then
	t_pass "flows4, TCP: our counters are nft's ($(our_elem flows4 10.199.0.1 8080))"
else
	t_fail "flows4, TCP: our counters are nft's" "nft: $(nft_elem flows4 10.199.0.1 8080)" \
		"ours: $(our_elem flows4 10.199.0.1 8080)" "$(inb "$DRIVER" flows selvedge flows4 2>&1)"
fi
read -r pk by <<<"$(our_elem flows4 10.199.0.1 8080)"
if [ "${by:-0}" -gt 30000 ] && [ "${pk:-0}" -ge 12 ]; then
	t_pass "flows4 counts both directions of the 3 connections: $pk packets, $by bytes"
else
	t_fail "flows4 counts both directions of the 3 connections" "packets=$pk bytes=$by"
fi
check_output "flows4, UDP: 1 packet of 20 + 8 + 6 bytes" \
	'^family=4 src=10.199.0.1 dst=10.199.0.2 proto=17 dport=5353 packets=1 bytes=34$' \
	inb "$DRIVER" flows selvedge flows4
check_output "conns4: 3 connections opened (SYNs in state new)" \
	'^family=4 src=10.199.0.1 dst=10.199.0.2 proto=6 dport=8080 packets=3 ' \
	inb "$DRIVER" flows selvedge conns4
if wait_for 3 same_as_nft flows6 fd99::1 8080; then
	t_pass "flows6 (40-byte keys): our counters are nft's ($(our_elem flows6 fd99::1 8080))"
else
	t_fail "flows6 (40-byte keys): our counters are nft's" "nft: $(nft_elem flows6 fd99::1 8080)" \
		"ours: $(our_elem flows6 fd99::1 8080)"
fi
check_output "conns6: 1 connection" \
	'^family=6 src=fd99::1 dst=fd99::2 proto=6 dport=8080 packets=1 ' \
	inb "$DRIVER" flows selvedge conns6
check_fails_with "a set that does not exist is ENOENT" "No such file" \
	inb "$DRIVER" flows selvedge nosuch

# ---- the aggregator, across reads -------------------------------------------
coproc AGG { exec ip netns exec "$B" "$DRIVER" agg selvedge metrics 2>&1; }
# agg_read: one read; prints the driver's answer up to "end".
agg_read() {
	local line
	echo read >&"${AGG[1]}"
	while IFS= read -r -t 5 line <&"${AGG[0]}"; do
		[ "$line" = end ] && return 0
		printf '%s\n' "$line"
	done
	return 1
}
# The kernel's bytes of the TCP element (0 when there is none).
kbytes() { local v; v=$(nft_elem flows4 10.199.0.1 8080); v=${v#* }; echo "${v:-0}"; }
kconns() { local v; v=$(nft_elem conns4 10.199.0.1 8080); v=${v% *}; echo "${v:-0}"; }
TOTAL_RE='^total source=src-10.199.0.1 destination=dst-10.199.0.2:8080'

out=$(agg_read)
expect_b=$(kbytes)
expect_c=$(kconns)
check_output "first read: the totals are the kernel's counters" \
	"$TOTAL_RE bytes=$expect_b connections=$expect_c\$" echo "$out"
check_output "and are exported as selvedge_l4_bytes_total" \
	"^metric selvedge_l4_bytes_total\\{source=\"src-10.199.0.1\",destination=\"dst-10.199.0.2:8080\"\\} $expect_b\$" \
	echo "$out"
check_output "and selvedge_l4_connections_total" \
	"^metric selvedge_l4_connections_total\\{source=\"src-10.199.0.1\",destination=\"dst-10.199.0.2:8080\"\\} $expect_c\$" \
	echo "$out"
check_output "the IPv6 flow has its own pair" \
	'^total source=src-fd99::1 destination=dst-fd99::2:8080 bytes=[1-9][0-9]* connections=1$' echo "$out"

out=$(agg_read)
check_output "a read with no new traffic adds nothing" "$TOTAL_RE bytes=$expect_b connections=$expect_c\$" \
	echo "$out"

send 5000
sleep 0.2
out=$(agg_read)
expect_b=$(kbytes)
expect_c=$(kconns)
check_output "more traffic on the same element: the totals follow the kernel's counters" \
	"$TOTAL_RE bytes=$expect_b connections=$expect_c\$" echo "$out"

# Expiry: the elements go (as when their timeout passes), then come back with
# new, smaller counters.
inb nft flush set inet selvedge flows4
inb nft flush set inet selvedge conns4
out=$(agg_read)
check_output "elements gone: the totals stay" "$TOTAL_RE bytes=$expect_b connections=$expect_c\$" \
	echo "$out"
send 2000
sleep 0.2
small=$(kbytes)
out=$(agg_read)
expect_b=$((expect_b + small))
expect_c=$((expect_c + 1))
check_output "a new element is counted whole ($small bytes)" \
	"$TOTAL_RE bytes=$expect_b connections=$expect_c\$" echo "$out"

# A rebuilt table: the new element grows past what the old one last had, so
# only the table's new handle tells it is new.
inb nft delete table inet selvedge
inb nft -f "$DIR/table.nft"
send 20000
sleep 0.2
big=$(kbytes)
out=$(agg_read)
expect_b=$((expect_b + big))
expect_c=$((expect_c + 1))
if [ "$big" -gt "$small" ]; then
	check_output "after a table rebuild, a new element larger than the old one is counted whole ($big bytes)" \
		"$TOTAL_RE bytes=$expect_b connections=$expect_c\$" echo "$out"
else
	t_fail "after a table rebuild, the new element is larger than the old" "old $small, new $big"
fi
check_output "and the exported counter is the same total" \
	"^metric selvedge_l4_bytes_total\\{source=\"src-10.199.0.1\",destination=\"dst-10.199.0.2:8080\"\\} $expect_b\$" \
	echo "$out"

# The table gone: reads succeed, totals stay.
inb nft delete table inet selvedge
out=$(agg_read)
if grep -q '^error' <<<"$out"; then
	t_fail "with no table at all, a read is empty, not an error" "$out"
else
	check_output "with no table at all, a read is empty and the totals stay" \
		"$TOTAL_RE bytes=$expect_b connections=$expect_c\$" echo "$out"
fi
agg_pid=$AGG_PID
eval "exec ${AGG[1]}>&-"
if wait "$agg_pid"; then
	t_pass "the aggregator's driver exits cleanly at the end of its input"
else
	t_fail "the aggregator's driver exits cleanly at the end of its input" "status $?"
fi

t_done
