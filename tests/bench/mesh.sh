#!/usr/bin/env bash
# Benchmark: the packet path between two pods on different nodes of the mesh
# test bed (tests/lib/mesh-topology.sh), in five modes, interleaved round by
# round so that all see the same machine:
#   none    no Selvedge in the kernel: operator stopped, table inet selvedge
#           and the CNI guard table absent (kube-proxy's table stays);
#   guard   the CNI plugin's anti-spoofing chains only;
#   hook    guard + one empty filter chain on the forward hook of each node
#           (a table of the bench's own): not a mode of the mesh but the
#           fixed cost of any stateful policy in nftables, so that the rest
#           of policy's cost can be told from it;
#   policy  guard + the operator running (--backend nftables) with
#           --no-flow-counters, policies that select both pods and allow the
#           traffic, an unrelated Deny policy and a TrafficSplit the traffic
#           does not use;
#   mesh    the same with the per-connection L4 counters (the default:
#           conntrack accounting on, the table dumped every 10 s, destroy
#           events read as they come).
# BENCH_KUBE_PROXY_FORWARD=1 gives every mode, none included, the forward
# chain that kube-proxy's nftables mode keeps on a real node (filter, forward,
# priority -110; "ct state new" jumps to its Service checks): there the hook
# is already on, and the figures are what the mesh adds to such a node. The
# default, without it, is the stricter bare baseline.
# Figures: iperf3 single-stream throughput, request/response latency on one
# persistent TCP connection (p50/p99, Python client and server, so the base
# is tens of microseconds of which the mesh's part is the difference), and
# new connections per second (each one a connect, a reply and a close).
# Prints figures and ratios; never passes or fails on time.
# A single stream on 2 vCPUs scatters by a few per cent from run to run:
# more rounds tighten the medians; the middle half of the per-round ratios
# shows the spread.
#   tests/bench/mesh.sh [ROUNDS=9] [IPERF_SECONDS=4] [ROUND_TRIPS=2000] [CONNECTIONS=1000]
set -euo pipefail
ROUNDS=${1:-9}
IPERF_SECONDS=${2:-4}
RR=${3:-2000}
CONNS=${4:-1000}
if [ "$(id -u)" -ne 0 ]; then
	echo "bench mesh: skipped, needs root (network namespaces, nftables)"
	exit 0
fi
MESH_TAG=mb$$
MESH_CP_NAME=mesh-bench
MESH_CP_PORT=36743
MESH_ETCD_PORT=32679
# shellcheck source=tests/lib/mesh-topology.sh
. "$(dirname "$0")/../lib/mesh-topology.sh"
BENCH_PIDS=()
cleanup() {
	local p
	for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	mesh_cleanup
}
trap cleanup EXIT
command -v iperf3 >/dev/null || { echo "iperf3 missing: run hack/install-deps.sh"; exit 1; }
mesh_has_nftables || { echo "$MESH_OPERATOR has no nftables backend"; exit 1; }

mesh_cp_up
mesh_nodes_up
mesh_operator_start 1
mesh_operator_start 2
mesh_pod 1 dev client client app=client
mesh_pod 2 prod server server app=server
mesh_pod 2 prod other other app=other
mesh_service prod server 10.96.78.30 iperf:5201:5201:TCP,echo:7000:7000:TCP,http:80:8080:TCP server
mesh_service prod other 10.96.78.31 http:80:8080:TCP other
if [ "${BENCH_KUBE_PROXY_FORWARD:-0}" = 1 ]; then
	# In a table of the bench's own: the test bed rewrites table ip
	# kube-proxy whenever a Service changes.
	for n in 1 2; do
		mesh_nx "$n" nft -f - <<EOF
table ip bench_kube_proxy_filter {
	set cluster-ips {
		type ipv4_addr
		elements = { 10.96.78.30, 10.96.78.31 }
	}
	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
	}
	chain filter-forward {
		type filter hook forward priority -110; policy accept;
		ct state new jump service-endpoints-check
		ct state new jump cluster-ips-check
	}
	chain service-endpoints-check {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}
	chain cluster-ips-check {
		ip daddr @cluster-ips reject
	}
}
EOF
	done
	echo "baseline: kube-proxy's forward chain on both nodes in every mode"
fi
SERVER=$(mesh_ip server)
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: server-allow, namespace: prod}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: dev}}
      podSelector: {matchLabels: {app: client}}
    ports:
    - {port: 5201, protocol: TCP}
    - {port: 7001, protocol: TCP}
    - {port: 8080, protocol: TCP}
---
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: client-egress, namespace: dev}
spec:
  podSelector: {matchLabels: {app: client}}
  egress:
  - to:
    - namespaceSelector: {matchLabels: {env: prod}}
---
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: unrelated-deny, namespace: prod}
spec:
  podSelector: {matchLabels: {app: other}}
  action: Deny
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: staging}}
---
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: other-split, namespace: prod}
spec:
  service: other
  mode: Connection
  backends:
  - {service: other, weight: 100}
EOF
for o in "servicepolicies server-allow prod" "servicepolicies client-egress dev" \
	"servicepolicies unrelated-deny prod" "trafficsplits other-split prod"; do
	read -r kind name ns <<<"$o"
	mesh_wait_programmed "$kind.selvedge.dev" "$ns" "$name" 30 >/dev/null ||
		{ echo "$name not programmed"; exit 1; }
done

# Client and server pinned to different CPUs (they run on different nodes):
# unpinned, the round trip is bimodal (same CPU or not) whatever the mode.
CPU_C=0
CPU_S=$(($(nproc) > 1 ? 1 : 0))
ip netns exec "$(mesh_pod_ns server)" taskset -c "$CPU_S" iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
BENCH_PIDS+=($!)
ip netns exec "$(mesh_pod_ns server)" taskset -c "$CPU_S" "$MESH_PY" "$MESH_DIR/mesh.py" serve server "" 7001 "" \
	"$MESH_DIR/run/echo.ready" </dev/null >/dev/null 2>&1 &
BENCH_PIDS+=($!)
for _ in $(seq 1 50); do
	[ -e "$MESH_DIR/run/echo.ready" ] && break
	sleep 0.1
done

MODES="none guard hook policy mesh"
# mode none|guard|policy|mesh: puts the nodes in that mode.
GUARD_SAVED=$MESH_DIR/guard
mode() {
	local n
	# The operator is restarted for every mode (the counters are a flag).
	for n in 1 2; do
		mesh_operator_stop "$n"
		mesh_nx "$n" nft delete table inet selvedge 2>/dev/null || true
		# The operator turns accounting on for the counters; off otherwise.
		mesh_nx "$n" sysctl -qw net.netfilter.nf_conntrack_acct=0
	done
	case "$1" in
	none)
		for n in 1 2; do
			if [ ! -s "$GUARD_SAVED.$n" ]; then
				mesh_nx "$n" nft list table netdev selvedge_guard >"$GUARD_SAVED.$n"
			fi
			mesh_nx "$n" nft delete table netdev selvedge_guard 2>/dev/null || true
		done
		;;
	*)
		for n in 1 2; do
			if [ -s "$GUARD_SAVED.$n" ] && ! mesh_nx "$n" nft list table netdev selvedge_guard >/dev/null 2>&1; then
				mesh_nx "$n" nft -f "$GUARD_SAVED.$n"
			fi
		done
		;;
	esac
	for n in 1 2; do mesh_nx "$n" nft delete table inet bench_hook 2>/dev/null || true; done
	if [ "$1" = hook ]; then
		for n in 1 2; do
			mesh_nx "$n" nft -f - <<EOF
table inet bench_hook {
	chain forward {
		type filter hook forward priority 0; policy accept;
	}
}
EOF
		done
	fi
	case "$1" in policy | mesh)
		# The state is restored from disk before the API is asked: ready
		# means the policies are in the kernel.
		MESH_OPERATOR_EXTRA=
		[ "$1" = mesh ] || MESH_OPERATOR_EXTRA=--no-flow-counters
		mesh_operator_start 1
		mesh_operator_start 2
		;;
	esac
}
# check_mode MODE: the path is in the expected state, and the traffic passes.
check_mode() {
	local has_sv=0 has_guard=0
	mesh_nx 2 nft list table inet selvedge >/dev/null 2>&1 && has_sv=1
	mesh_nx 2 nft list table netdev selvedge_guard >/dev/null 2>&1 && has_guard=1
	case "$1" in
	none) [ "$has_sv$has_guard" = 00 ] ;;
	guard | hook) [ "$has_sv$has_guard" = 01 ] ;;
	policy | mesh) [ "$has_sv$has_guard" = 11 ] ;;
	esac || { echo "mode $1: table inet selvedge $has_sv, guard $has_guard"; exit 1; }
	if [ "$has_sv" = 1 ]; then
		local acct
		acct=$(mesh_nx 2 sysctl -n net.netfilter.nf_conntrack_acct)
		[ "$acct" = "$([ "$1" = mesh ] && echo 1 || echo 0)" ] ||
			{ echo "mode $1: conntrack accounting $acct"; exit 1; }
	fi
	[ "$(mesh_try client "$SERVER" 8080)" = "ok server" ] || { echo "mode $1: no connectivity"; exit 1; }
}

CLK_TCK=$(getconf CLK_TCK)
# cpu_busy: ticks both CPUs spent on anything but idle, I/O wait and steal.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
# others_cpu: ticks used so far by the processes that are not the path:
# etcd, the apiserver and the operators (running in policy and mesh only).
# Their share of a window is reported, so that a mode whose window they
# disturbed shows it.
others_cpu() {
	local pids
	pids=$(pgrep -f -- "^$SELVEDGE_BIN/(etcd|kube-apiserver) .*$SELVEDGE_CP_DIR/" || true)
	pids+=" ${MESH_OP_PID[1]:-} ${MESH_OP_PID[2]:-}"
	# shellcheck disable=SC2086 # one argument per pid
	cat_stats $pids | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
cat_stats() { local p; for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done; }
# settle: waits (up to 20 s) until the machine has been quiet for a second
# (under 3 % of one CPU busy): a restarted operator's start-up, its lists and
# the apiserver's work for them are not the path's cost, and must not fall
# into one mode's window only.
settle() {
	local i b0 b1
	for i in $(seq 1 20); do
		b0=$(cpu_busy)
		sleep 1
		b1=$(cpu_busy)
		[ $((b1 - b0)) -gt $((CLK_TCK * 3 / 100)) ] || return 0
	done
	echo "(machine still busy after 20 s: $((b1 - b0)) ticks in the last second)"
}
out=$MESH_DIR/samples
mkdir -p "$out"
read -ra MODE_LIST <<<"$MODES"
for r in $(seq 1 "$ROUNDS"); do
	# Each round starts at another mode, so that no mode always follows
	# another (an operator's start-up, a warm cache) or comes last.
	for i in "${!MODE_LIST[@]}"; do
		m=${MODE_LIST[$(((i + r - 1) % ${#MODE_LIST[@]}))]}
		mode "$m"
		check_mode "$m"
		settle
		busy0=$(cpu_busy) others0=$(others_cpu)
		bps=$(mesh_run client taskset -c "$CPU_C" iperf3 -c "$SERVER" -p 5201 -t "$IPERF_SECONDS" -O 1 -P 1 -J |
			jq '.end.sum_received.bits_per_second')
		busy1=$(cpu_busy) others1=$(others_cpu)
		echo "$(((others1 - others0) * 1000 / CLK_TCK))" >>"$out/others-$m"
		echo "$bps" >>"$out/tput-$m"
		# CPU of the whole machine per MB moved (the omitted first second
		# taken at the measured rate): what the path costs, less sensitive
		# than a single stream's rate to where the scheduler put things.
		awk -v b="$((busy1 - busy0))" -v hz="$CLK_TCK" -v bps="$bps" -v s="$IPERF_SECONDS" \
			'BEGIN { printf "%.1f\n", 1e6 * b / hz / (bps * (s + 1) / 8 / 1e6) }' >>"$out/cpu-$m"
		mesh_run client taskset -c "$CPU_C" "$MESH_PY" "$MESH_DIR/mesh.py" rr "$SERVER" 7001 "$RR" >>"$out/rr-$m"
		mesh_many client "$SERVER" 8080 "$CONNS" | jq -r --argjson n "$CONNS" \
			'if .counts["ok server"] == $n then $n / .seconds else "failed \(.counts)" end' >>"$out/conn-$m"
		# The load average shows when something else shared the machine.
		printf 'round %d %-6s  %6.2f Gbit/s  %s us CPU/MB  rr p50/p99 %s us  %s conn/s  (control plane + operators: %s ms CPU in the stream)\n' "$r" "$m" \
			"$(awk '{ print $1 / 1e9 }' <<<"$bps")" "$(tail -1 "$out/cpu-$m")" "$(tail -1 "$out/rr-$m" | tr ' ' /)" \
			"$(tail -1 "$out/conn-$m" | awk '{ printf "%.0f", $1 }')" "$(tail -1 "$out/others-$m")"
	done
done

med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# quartiles: "q1-q3" of a column of numbers, the middle half of the rounds.
quartiles() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f-%.1f", v[int((NR + 3) / 4)], v[int((3 * NR + 3) / 4)] }'; }
printf '\nPod to pod across nodes (bridge, veth between nodes, fake kube-proxy), %d rounds, medians\n' "$ROUNDS"
printf '%-6s %14s %12s %12s %12s %12s %14s\n' mode "iperf3 Gbit/s" "CPU us/MB" "rr p50 us" "rr p99 us" "conn/s" "others ms CPU"
for m in $MODES; do
	printf '%-6s %14.2f %12.1f %12.1f %12.1f %12.0f %14.0f\n' "$m" \
		"$(med <"$out/tput-$m" | awk '{ print $1 / 1e9 }')" "$(med <"$out/cpu-$m")" \
		"$(cut -d' ' -f1 "$out/rr-$m" | med)" "$(cut -d' ' -f2 "$out/rr-$m" | med)" \
		"$(med <"$out/conn-$m")" "$(med <"$out/others-$m")"
done
printf '(others: CPU of etcd, the apiserver and the operators during the %d s stream)\n' "$((IPERF_SECONDS + 1))"
# Ratios: of the medians, and the median of each round's own ratio (the
# modes of one round ran back to back, so drift of the machine cancels).
for m in guard hook policy mesh; do
	awk -v m="$m" -v tb="$(med <"$out/tput-none")" -v tm="$(med <"$out/tput-$m")" \
		-v pb="$(cut -d' ' -f1 "$out/rr-none" | med)" -v pm="$(cut -d' ' -f1 "$out/rr-$m" | med)" \
		-v qb="$(cut -d' ' -f2 "$out/rr-none" | med)" -v qm="$(cut -d' ' -f2 "$out/rr-$m" | med)" \
		-v cb="$(med <"$out/conn-none")" -v cm="$(med <"$out/conn-$m")" \
		-v rt="$(paste "$out/tput-$m" "$out/tput-none" | awk '{ print 100 * $1 / $2 }' | med)" \
		-v rq="$(paste "$out/tput-$m" "$out/tput-none" | awk '{ print 100 * $1 / $2 }' | quartiles)" \
		-v rp="$(paste -d' ' "$out/rr-$m" "$out/rr-none" | awk '{ print $1 - $3 }' | med)" \
		-v rc="$(paste "$out/cpu-$m" "$out/cpu-none" | awk '{ print 100 * $1 / $2 }' | med)" \
		-v rcq="$(paste "$out/cpu-$m" "$out/cpu-none" | awk '{ print 100 * $1 / $2 }' | quartiles)" 'BEGIN {
		printf "%-6s vs none: throughput %.1f %% (per round: %.1f %%, middle half %s %%), CPU per MB %.1f %% (per round, middle half %s %%), rr p50 %+.1f us (per round: %+.1f us), rr p99 %+.1f us, new connections %.1f %%\n",
			m, 100 * tm / tb, rt, rq, rc, rcq, pm - pb, rp, qm - qb, 100 * cm / cb }'
done
printf 'targets (design): throughput >= 97 %% of none; a few microseconds added per round trip\n'
