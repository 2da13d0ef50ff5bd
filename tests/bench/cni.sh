#!/usr/bin/env bash
# Benchmark: ADD+DEL of N pods through bridge + host-local, with and without
# selvedge-cni chained, sequentially and W at a time. Prints median and p99 per
# pod for each, and what Selvedge adds. The baseline runs in the same process,
# interleaved with the measured runs, so both see the same machine.
#   tests/bench/cni.sh [PODS=200] [WORKERS=8]
set -euo pipefail
PODS=${1:-200}
WORKERS=${2:-8}
TOPO_TAG=b$$
# shellcheck source=tests/lib/cni-topology.sh
. "$(dirname "$0")/../lib/cni-topology.sh"
trap topo_cleanup EXIT

topo_net with 1.1.0 Ignore yes
topo_net without 1.1.0 Ignore no
for i in $(seq 1 "$WORKERS"); do topo_pod "sv-$TOPO_TAG-w$i"; done

# bench_cni NET COMMAND POD: topo_cni without `ip netns exec`, which gives
# every cnitool run a mount namespace of its own. The last process to leave it
# pays for its teardown (an expedited RCU grace period): cnitool in the
# baseline, but selvedge-cni's detached child (docs/cni.md) when chained, which
# would make the chained runs look cheaper than they are. A runtime runs
# plugins in its own namespaces, so neither pays there.
bench_cni() {
	local net=$1 cmd=$2 pod=$3
	nsenter --net="/var/run/netns/$NODE" env NETCONFPATH="$TOPO_DIR/net-$net" \
		CNI_PATH="$PLUGINS_NEW:$TOPO_DIR/bin" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=dev;K8S_POD_NAME=$pod;K8S_POD_UID=uid-$pod" \
		"$CNITOOL" "$cmd" "$net" "/var/run/netns/$pod"
}

# one_pod NET POD: prints the microseconds of one ADD+DEL.
one_pod() {
	local t0=$EPOCHREALTIME
	bench_cni "$1" add "$2" >/dev/null
	bench_cni "$1" del "$2" >/dev/null
	local t1=$EPOCHREALTIME
	echo $((${t1/./} - ${t0/./}))
}

# worker NET POD COUNT: COUNT cycles on one pod namespace.
worker() {
	local i
	for i in $(seq 1 "$3"); do one_pod "$1" "$2"; done
}

stats() { # file -> "median p99" in ms
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.99 + 0.999)];
		printf "%.2f %.2f", m / 1000, p / 1000 }'
}

out=$TOPO_DIR/samples
mkdir -p "$out"
# Sequential: alternate with/without per pod so drift hits both alike.
for i in $(seq 1 "$PODS"); do
	one_pod without "sv-$TOPO_TAG-w1" >>"$out/seq-without"
	one_pod with "sv-$TOPO_TAG-w1" >>"$out/seq-with"
done
# Concurrent: WORKERS pods at a time, PODS in all, each configuration in turn, twice.
per=$((PODS / WORKERS / 2))
for _ in 1 2; do
	for net in without with; do
		for w in $(seq 1 "$WORKERS"); do
			worker "$net" "sv-$TOPO_TAG-w$w" "$per" >>"$out/par-$net.$w" &
		done
		wait
	done
done
cat "$out"/par-without.* >"$out/par-without"
cat "$out"/par-with.* >"$out/par-with"

printf '\nCNI ADD+DEL per pod, %d pods, bridge + host-local (+ selvedge-cni), via cnitool\n' "$PODS"
printf '%-14s %12s %12s %12s %12s %10s %10s\n' mode "median(base)" "median(sv)" "p99(base)" "p99(sv)" "added(ms)" ratio
for mode in seq par; do
	read -r bm bp <<<"$(stats "$out/$mode-without")"
	read -r sm sp <<<"$(stats "$out/$mode-with")"
	label=sequential
	[ "$mode" = par ] && label="$WORKERS at a time"
	awk -v l="$label" -v bm="$bm" -v sm="$sm" -v bp="$bp" -v sp="$sp" 'BEGIN {
		printf "%-14s %12.2f %12.2f %12.2f %12.2f %10.2f %10.3f\n", l, bm, sm, bp, sp, sm - bm, sm / bm }'
done
# The plugin's own time per call, from its structured log (start of main to
# the answer written), separates what Selvedge does from process start-up and
# from kernel work it triggers in other processes (see docs/cni.md).
for verb in ADD DEL; do
	grep -o "command=$verb .*duration_us=[0-9]*" "$TOPO_DIR/cni.log" | grep -o '[0-9]*$' | sort -n |
		awk -v v="$verb" '{ a[NR] = $1 } END { printf "selvedge-cni %s, in-process: median %.3f ms, p99 %.3f ms (%d calls)\n", v, a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.99 + 0.999)] / 1000, NR }'
done
printf 'target: selvedge-cni adds at most 1 ms at the median (design §6)\n'
