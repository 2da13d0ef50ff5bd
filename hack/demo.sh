#!/usr/bin/env bash
# The local demo: Selvedge doing its main job on the real kernel.
#
#   1. A private Kubernetes control plane (etcd + kube-apiserver) with
#      Selvedge's API installed; the schema refuses an invalid object.
#   2. Two "nodes" (network namespaces joined by a link), pods wired through
#      cnitool + bridge + selvedge-cni, one selvedge-operator per node with
#      --backend nftables (the test bed of tests/lib/mesh-topology.sh).
#   3. dev -> prod connects; a ServicePolicy denying dev -> prod is applied;
#      dev -> prod is then dropped (same node and across nodes) while prod ->
#      prod still works; the policy's status, the denials in /metrics and the
#      node's nftables table.
#   4. A TrafficSplit 90/10 over 200 connections, and the L4 counters.
#   5. Everything is removed on exit (namespaces, processes, control plane).
#
# Needs root (network namespaces, nftables); re-runs itself with sudo when it
# can. All traffic stays inside the demo's namespaces; every wait is bounded.
set -u
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$SELVEDGE_ROOT" || exit 1

DEMO_T0=$SECONDS
if [ -t 1 ]; then B=$'\033[1m' D=$'\033[2m' G=$'\033[32m' R=$'\033[31m' N=$'\033[0m'; else B='' D='' G='' R='' N=''; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
note() { printf '%s%s%s\n' "$D" "$*" "$N"; }
indent() { sed 's/\t/  /g; s/^/    /'; }
now_ms() { date +%s%3N; }

# The programs, built as the calling user, before any sudo.
make -s build/selvedge-operator build/selvedge-cni || die "build failed"
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "the demo needs root (network namespaces, nftables)"
	log "demo: network namespaces and nftables need root: running again with sudo"
	exec sudo env "SELVEDGE_CACHE=$SELVEDGE_CACHE" "$SELVEDGE_ROOT/hack/demo.sh" "$@"
fi

# A private control plane and test bed, with their own names and ports (the
# shared control plane is 36443, operator-resilience 26543, the mesh test
# 36643, the mesh benchmark 36743).
export MESH_TAG=demo MESH_CP_NAME=demo MESH_CP_PORT=36843 MESH_ETCD_PORT=32779
for need in "$SELVEDGE_BIN/cnitool" "$SELVEDGE_CACHE/cni-plugins/bridge" \
	"$SELVEDGE_CACHE/cni-plugins/host-local" "$SELVEDGE_BIN/kubectl"; do
	[ -x "$need" ] || die "$need missing: run hack/install-deps.sh (make demo does)"
done
for cmd in nft ip jq curl python3; do
	command -v "$cmd" >/dev/null || die "$cmd missing: run hack/install-deps.sh (make demo does)"
done
build/selvedge-operator --help 2>&1 | grep -q nftables || die "this selvedge-operator has no nftables backend"
# Namespaces left by a demo that was killed outright (one demo runs at a time:
# its control plane is private to it).
for ns in $(ip netns list | awk '{ print $1 }' | grep -E "^sv-$MESH_TAG-"); do
	log "demo: removing namespace $ns left by an earlier run"
	ip netns del "$ns"
done
# Bridged pod-to-pod traffic must meet netfilter (k3s and kubeadm load it too).
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter 2>/dev/null ||
	die "the br_netfilter kernel module is needed (modprobe br_netfilter)"

# shellcheck source=tests/lib/mesh-topology.sh
. tests/lib/mesh-topology.sh
# kubectl's discovery cache, gone with the rest.
export KUBECACHEDIR=$MESH_DIR/kube-cache

# ---------------------------------------------------------------- cleanup
DEMO_OK=0 DEMO_BAD=0 SUMMARY=""
LOGS=$SELVEDGE_CACHE/demo
finish() {
	local rc=$? t0=$SECONDS left
	trap - EXIT
	trap '' INT TERM HUP # cleanup is bounded: let it finish
	say "Cleaning up"
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	for n in 1 2; do
		mesh_operator_stop "$n" # first, so that its log ends with its stop
		cp "$MESH_DIR/n$n/operator.log" "$LOGS/operator-n$n.log" 2>/dev/null
		cp "$MESH_DIR/n$n/cni.log" "$LOGS/cni-n$n.log" 2>/dev/null
	done
	[ -z "${SUDO_UID:-}" ] || chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$LOGS"
	mesh_cleanup
	left=$(ip netns list | awk '{ print $1 }' | grep -cE "^sv-$MESH_TAG-")
	echo "    pods' servers and both operators stopped, CNI DEL for every pod, namespaces deleted,"
	echo "    control plane stopped and purged ($((SECONDS - t0)) s; namespaces left: $left)."
	echo "    The operators' and the CNI plugin's logs are in $LOGS/."
	[ "$left" -eq 0 ] || DEMO_BAD=$((DEMO_BAD + 1))
	echo
	if [ "$rc" -eq 130 ]; then
		printf '%sdemo: interrupted after %d s;%s cleaned up (namespaces left: %d).\n' \
			"$B" $((SECONDS - DEMO_T0)) "$N" "$left"
	elif [ "$rc" -eq 0 ] && [ "$DEMO_BAD" -eq 0 ]; then
		printf '%sdemo: ok in %d s:%s %s; all %d checks passed; everything cleaned up.\n' \
			"$B$G" $((SECONDS - DEMO_T0)) "$N" "$SUMMARY" "$DEMO_OK"
	else
		printf '%sdemo: FAILED after %d s:%s %s; checks: %d passed, %d failed (see above; logs in %s).\n' \
			"$B$R" $((SECONDS - DEMO_T0)) "$N" "${SUMMARY:-stopped early}" "$DEMO_OK" "$DEMO_BAD" "$LOGS"
		rc=1
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

fatal() {
	printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	DEMO_BAD=$((DEMO_BAD + 1))
	exit 1
}

# ---------------------------------------------------------------- helpers
WEB_IP=10.96.78.10

where() { echo "$(mesh_pod_field "$1" 1)/$1 (n$(mesh_pod_node "$1"))"; }
# try FROM TO_POD|TO_LABEL IP PORT WANT: one TCP connection from FROM's
# namespace; WANT is "ok" (a pod answers) or "blocked" (the SYN is dropped:
# no answer before the timeout). Prints one line.
try() {
	local from=$1 to=$2 ip=$3 port=$4 want=$5 got verdict
	got=$(mesh_try "$from" "$ip" "$port")
	case $got in
	ok\ *) verdict="connected, answered by ${got#ok }" ;;
	timeout) verdict="blocked: no answer in ${MESH_TIMEOUT}s (SYN dropped)" ;;
	*) verdict="$got" ;;
	esac
	if { [ "$want" = ok ] && [ "${got%% *}" = ok ]; } || { [ "$want" = blocked ] && [ "$got" = timeout ]; }; then
		DEMO_OK=$((DEMO_OK + 1))
		printf '    %s%-4s%s %-22s -> %-32s %s\n' "$G" ok "$N" "$(where "$from")" "$to" "$verdict"
	else
		DEMO_BAD=$((DEMO_BAD + 1))
		printf '    %s%-4s%s %-22s -> %-32s %s (expected: %s)\n' "$R" BAD "$N" "$(where "$from")" "$to" "$verdict" "$want"
	fi
}
# metric_sum NODE REGEX: the sum of the operator's /metrics samples matching.
metric_sum() { mesh_metrics "$1" | awk -v re="$2" '$0 ~ re { s += $NF } END { print s + 0 }'; }
# wait_until SECONDS CMD...: CMD every 0.2 s until it succeeds (bounded).
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ---------------------------------------------------------------- 1. the API
say "A private Kubernetes control plane (etcd + kube-apiserver on 127.0.0.1:$MESH_CP_PORT)"
t0=$SECONDS
mesh_cp_up || fatal "the control plane did not start: $(tail -3 "$MESH_DIR/cp.log")"
echo "    up in $((SECONDS - t0)) s, with Selvedge's CRDs (crds/) and the namespaces dev (env=dev) and prod (env=prod)."
kubectl get crd servicepolicies.selvedge.dev trafficsplits.selvedge.dev | indent

say "Selvedge's API (kubectl api-resources --api-group selvedge.dev)"
kubectl api-resources --api-group selvedge.dev | indent

say "The API server's schema refuses an invalid TrafficSplit (every weight 0)"
if out=$(kubectl apply -f - 2>&1 <<'YAML'
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: broken, namespace: prod}
spec:
  service: web
  backends:
  - {service: web-v1, weight: 0}
  - {service: web-v2, weight: 0}
YAML
); then
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: the invalid object was accepted"
else
	DEMO_OK=$((DEMO_OK + 1))
	fold -s -w 100 <<<"$out" | indent
fi
echo "    The examples in crds/examples/ pass (kubectl apply --dry-run=server: validated, not stored):"
kubectl apply --dry-run=server -f crds/examples/ 2>&1 | indent

# ---------------------------------------------------------------- 2. nodes and pods
say "Two nodes, each with its selvedge-operator (--backend nftables)"
t0=$(now_ms)
mesh_nodes_up || fatal "the node namespaces could not be set up"
for n in 1 2; do
	mesh_operator_start "$n" || fatal "the operator of node n$n did not become ready: $(tail -3 "$MESH_DIR/n$n/operator.log")"
done
cat <<EOF
    Nodes n1 and n2 are network namespaces joined by a link (pods 10.78.1.0/24 and 10.78.2.0/24),
    with nothing routed out of them. One operator per node watches the API and programs its
    node's kernel: table inet selvedge (nftables), and NFLOG for denials. Ready in $(($(now_ms) - t0)) ms.
EOF

say "Pods, wired by cnitool through bridge + host-local + selvedge-cni (failurePolicy Fail)"
t0=$SECONDS
# node namespace name serviceaccount labels...
while read -r node ns name sa lbls; do
	# shellcheck disable=SC2086 # labels are words
	mesh_pod "$node" "$ns" "$name" "$sa" $lbls || fatal "pod $name could not be wired"
done <<EOF
1 dev dev-client client app=client
1 prod checkout checkout app=checkout
1 prod web-v1-a web app=web version=v1
2 prod web-v1-b web app=web version=v1
2 prod web-v2 web app=web version=v2
EOF
if ! mesh_service prod web $WEB_IP http:80:8080:TCP web-v1-a web-v1-b web-v2 ||
	! mesh_service prod web-v1 10.96.78.11 http:80:8080:TCP web-v1-a web-v1-b ||
	! mesh_service prod web-v2 10.96.78.12 http:80:8080:TCP web-v2; then
	fatal "the Services could not be created"
fi
echo "    5 pods in $((SECONDS - t0)) s. Each runs a small TCP server on port 8080 that answers with its"
echo "    pod's name, so a client sees who it reached. Services: prod/web (cluster IP $WEB_IP:80,"
echo "    all three web pods), prod/web-v1 and prod/web-v2; a stand-in for kube-proxy DNATs cluster IPs."
kubectl get pods -A -o wide --sort-by=.spec.nodeName |
	awk '{ printf "%-10s %-11s %-8s %-12s %s\n", $1, $2, $4, $7, $8 }' | indent

# ---------------------------------------------------------------- 3. policy
say "No policy yet: everything connects, dev -> prod included"
try dev-client "$(where web-v1-a)" "$(mesh_ip web-v1-a)" 8080 ok
try dev-client "$(where web-v1-b)" "$(mesh_ip web-v1-b)" 8080 ok
try dev-client "Service prod/web $WEB_IP:80" $WEB_IP 80 ok

say "kubectl apply -f crds/examples/dev-must-not-reach-prod.yaml"
grep -v '^#' crds/examples/dev-must-not-reach-prod.yaml | indent
t0=$(now_ms)
kubectl apply -f crds/examples/dev-must-not-reach-prod.yaml | indent
if mesh_wait_programmed servicepolicies.selvedge.dev prod dev-must-not-reach-prod 20 >/dev/null; then
	DEMO_OK=$((DEMO_OK + 1))
	echo "    Programmed on both nodes $(($(now_ms) - t0)) ms after kubectl apply started."
else
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: not Programmed within 20 s"
fi

say "dev -> prod is now dropped, on the same node and across nodes; prod -> prod still works"
d0=$(($(metric_sum 1 '^selvedge_policy_denials_total') + $(metric_sum 2 '^selvedge_policy_denials_total')))
try dev-client "$(where web-v1-a)" "$(mesh_ip web-v1-a)" 8080 blocked
try dev-client "$(where web-v1-b)" "$(mesh_ip web-v1-b)" 8080 blocked
try dev-client "Service prod/web $WEB_IP:80" $WEB_IP 80 blocked
try checkout "$(where web-v1-a)" "$(mesh_ip web-v1-a)" 8080 ok
try checkout "$(where web-v1-b)" "$(mesh_ip web-v1-b)" 8080 ok
note "    (the ingress policy is enforced on the destination's node, in its forward hook)"

say "The policy's status, written by the operators (kubectl get servicepolicy -n prod -o wide)"
kubectl -n prod get servicepolicy dev-must-not-reach-prod -o wide | indent
kubectl -n prod get servicepolicy dev-must-not-reach-prod -o json |
	jq -r '.status.conditions[] | "\(.type)=\(.status)  \(.reason): \(.message)"' | indent

say "Denials, from NFLOG, in each operator's /metrics (selvedge_policy_denials_total)"
denied() { [ $(($(metric_sum 1 '^selvedge_policy_denials_total') + $(metric_sum 2 '^selvedge_policy_denials_total'))) -ge $((d0 + 3)) ]; }
if wait_until 5 denied; then DEMO_OK=$((DEMO_OK + 1)); else
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: fewer than 3 new denials counted within 5 s"
fi
for n in 1 2; do
	echo "    node n$n:"
	mesh_metrics "$n" | grep '^selvedge_policy_denials_total' | awk '$NF > 0' | sed 's/^/    /' | indent
done
if mesh_metrics 1 | grep '^selvedge_policy_denials_total' | awk '$NF > 0' | grep -q 'source="dev/'; then
	DEMO_OK=$((DEMO_OK + 1))
	note "    (by direction, source workload: namespace/serviceaccount, and destination Service)"
else
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: no denial labelled with the dev client's workload"
fi

say "What node n2's kernel holds (nft list table inet selvedge, an excerpt)"
echo "    The in4 map sends each local destination pod to its ingress profile chain:"
mesh_nx 2 nft list map inet selvedge in4 | awk '/^\tmap in4 \{/ { p = 1 } p { print } p && /^\t}/ { p = 0 }' | indent
chain=$(mesh_nx 2 nft -j list map inet selvedge in4 |
	jq -r '[.nftables[] | .map? // empty | .elem[]? | .[1] | .. | .target? // empty] | first // empty')
if [ -n "$chain" ]; then
	echo "    The profile chain: dev sources (peer group set) jump to deny_in, which logs and drops:"
	mesh_nx 2 nft list chain inet selvedge "$chain" | sed -n "/chain $chain/,/}/p" | indent
	mesh_nx 2 nft list chain inet selvedge deny_in | sed -n '/chain deny_in/,/}/p' | indent
fi

# ---------------------------------------------------------------- 4. split
say "Without a split: 200 connections from prod/checkout to Service prod/web (kube-proxy)"
split_counts() { jq -r '.counts | to_entries | sort_by(.key) | map("\(.key | sub("^ok "; "")): \(.value)") | join(", ")'; }
res=$(mesh_many checkout $WEB_IP 80 200)
echo "    $(split_counts <<<"$res")   (kube-proxy spreads evenly: web-v2 gets about a third)"

say "kubectl apply: TrafficSplit prod/web-canary, 90 % to web-v1, 10 % to web-v2"
cat >"$MESH_DIR/split.yaml" <<'YAML'
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: web-canary, namespace: prod}
spec:
  service: web
  backends:
  - {service: web-v1, weight: 90}
  - {service: web-v2, weight: 10}
YAML
indent <"$MESH_DIR/split.yaml"
kubectl apply -f "$MESH_DIR/split.yaml" | indent
if mesh_wait_programmed trafficsplits.selvedge.dev prod web-canary 20 >/dev/null; then
	DEMO_OK=$((DEMO_OK + 1))
	kubectl -n prod get trafficsplit web-canary -o wide | indent
else
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: not Programmed within 20 s"
fi

say "200 connections from prod/checkout to Service prod/web, split in the kernel"
res=$(mesh_many checkout $WEB_IP 80 200)
v1=$(jq '[.counts | to_entries[] | select(.key | test("^ok web-v1-")) | .value] | add // 0' <<<"$res")
v2=$(jq '.counts["ok web-v2"] // 0' <<<"$res")
echo "    $(split_counts <<<"$res")   in $(jq .seconds <<<"$res") s"
echo "    web-v1: $v1 of 200, web-v2: $v2 of 200 (weights 90/10: 180 to web-v1 expected, +- 17 at 4 sigma)"
if [ $((v1 + v2)) -eq 200 ] && [ $(((v1 - 180) * (v1 - 180))) -le 289 ]; then DEMO_OK=$((DEMO_OK + 1)); else
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: outside the bound"
fi
echo "    The split in node n1's table (the client's node), in a NAT chain that runs before kube-proxy's:"
mesh_nx 1 nft list table inet selvedge |
	awk '/^\tchain split(_[0-9a-f]+)? \{/ { p = 1 } p { print } p && /^\t}/ { p = 0 }' | indent
note "    (each split_..._N chain then DNATs to one of backend N's ready endpoints, at random)"

say "kubectl get selvedge -A (the category lists both kinds; status from the operators)"
kubectl get selvedge -A | indent

say "L4 telemetry on node n1 (selvedge_l4_connections_total, selvedge_l4_bytes_total)"
note "    (a connection counts at its start, from conntrack's NEW event; its bytes come from a dump of the"
note "     kernel's connection tracking, every 10 s while the node's pods have connections, and its destroy event)"
# prod/checkout opened 402 connections: 2 to pods, 200 before the split, 200
# through it; a TCP handshake alone is more than 120 bytes.
l4_done() {
	[ "$(metric_sum 1 '^selvedge_l4_connections_total\{source="prod/checkout"')" -ge 402 ] &&
		[ "$(metric_sum 1 '^selvedge_l4_bytes_total\{source="prod/checkout"')" -ge $((402 * 120)) ]
}
if wait_until 15 l4_done; then DEMO_OK=$((DEMO_OK + 1)); else
	DEMO_BAD=$((DEMO_BAD + 1))
	echo "    BAD: the 402 connections and their bytes were not counted within 15 s"
fi
mesh_metrics 1 | grep -E '^selvedge_l4_(connections|bytes)_total' | indent
note "    (by source workload, namespace/serviceaccount, and destination Service, the most specific"
note "     one listing the server pod: per split backend; kept on the client's node, allowed traffic only)"

SUMMARY="2 nodes, 5 pods; dev->prod dropped once the policy was in (same node, across, via the Service), prod->prod kept working; split web-v1 $v1 / web-v2 $v2 of 200"
