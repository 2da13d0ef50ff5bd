#!/usr/bin/env bash
# ServicePolicy and TrafficSplit enforced in the real kernel, checked with real
# TCP and UDP connections between pods of two nodes (network namespaces; see
# tests/lib/mesh-topology.sh), a private control plane and one
# selvedge-operator per node (--backend nftables):
#   a. no policy, default allow: everything connects (pods are dual-stack: the
#      policy checks of b, c and f run over IPv6 too);
#   b. a Deny policy (dev must not reach prod), on one node and across nodes;
#   c. an Allow policy: only its peers (podSelector, serviceAccount, Service),
#      only its ports;
#   d. Deny beats Allow for the same peer;
#   e. an egress policy, enforced on the source node; DNS stays allowed;
#   g. a pod sending with another pod's address reaches nobody;
#   h. policy changes reach new connections (timed, never asserted on time);
#      established connections survive policy changes;
#   i. a TrafficSplit 90/10/0 in the kernel: 2000 connections within the
#      binomial bound, none to the weight-0 backend, none through kube-proxy;
#      a weight change; endpoints churning under long-lived connections;
#   f. default deny: meshed traffic refused unless allowed; the node's own
#      probes and cluster DNS still work;
#   j. the fake kube-proxy's table is never touched; what is left once pods,
#      objects and operators are gone.
# Needs root (network namespaces, nftables). Every wait is bounded; timings
# are printed as "# ..." notes.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "# $T_NAME: skipped, needs root (network namespaces, nftables)"
	exit 0
fi
MESH_TAG=m$$
MESH_IPV6=1 # dual-stack pods: the IPv6 half of the rules meets real packets too
# shellcheck source=tests/lib/mesh-topology.sh
. "$(dirname "$0")/../lib/mesh-topology.sh"

cleanup() {
	if [ "$T_FAIL" -gt 0 ]; then
		for n in 1 2; do
			echo "# --- node n$n: operator log (last lines)"
			tail -n 30 "$MESH_DIR/n$n/operator.log" 2>/dev/null | sed 's/^/#   /'
			echo "# --- node n$n: table inet selvedge"
			mesh_nx "$n" nft list table inet selvedge 2>&1 | head -n 150 | sed 's/^/#   /'
		done
	fi
	mesh_cleanup
}
trap cleanup EXIT

for need in "$MESH_CNITOOL" "$MESH_PLUGINS/bridge" "$MESH_OPERATOR" "$MESH_BUILD/selvedge-cni"; do
	[ -x "$need" ] || { t_fail "prerequisite $need"; t_done; exit 1; }
done

WEB_IP=10.96.78.10
GATEWAY_IP=10.96.78.11
REVIEWS_IP=10.96.78.20
DNS_IP=10.96.0.10
SP=servicepolicies.selvedge.dev
TS=trafficsplits.selvedge.dev
WORKLOADS="dev-a dev-b prod-a prod-b prod-c prod-d mallory"
T_SENT=0 # when the last change or delete_timed started, and its pid
T_PID=

# ---------------------------------------------------------------- helpers

now_ms() { date +%s%3N; }

# expect NAME WANT FROM IP PORT [udp]: one connection from pod FROM; its
# outcome ("ok POD", "timeout" for dropped, "refused"...) must match the
# extended regex WANT.
expect() {
	local name=$1 want=$2 got
	if [ "${6:-tcp}" = udp ]; then got=$(mesh_try_udp "$3" "$4" "$5"); else got=$(mesh_try "$3" "$4" "$5"); fi
	if [[ $got =~ ^($want)$ ]]; then t_pass "$name"; else t_fail "$name" "$3 -> $4:$5 ${6:-tcp}: want '$want', got '$got'"; fi
}
# reaches NAME FROM TO [PORT] / blocked NAME FROM TO [PORT]: pod to pod IP.
# Blocked means dropped (a timeout), as the design's deny chains do: a refusal
# would mean nothing listens, which is a broken test bed, not a policy.
reaches() { expect "$1" "ok $3" "$2" "$(mesh_ip "$3")" "${4:-8080}"; }
blocked() { expect "$1" timeout "$2" "$(mesh_ip "$3")" "${4:-8080}"; }
# The same to the destination pod's IPv6 address (from the source's IPv6 one).
reaches6() { expect "$1" "ok $3" "$2" "$(mesh_ip6 "$3")" "${4:-8080}"; }
blocked6() { expect "$1" timeout "$2" "$(mesh_ip6 "$3")" "${4:-8080}"; }

# change / delete_timed: apply the manifest on stdin / delete an object in
# the background, noting when kubectl started and when it returned, so that
# settle can probe meanwhile.
timed() {
	T_SENT=$(now_ms)
	rm -f "$MESH_DIR/timed.done"
	("$@" <"$MESH_DIR/timed.in" >/dev/null && now_ms >"$MESH_DIR/timed.done") &
	T_PID=$!
}
change() {
	cat >"$MESH_DIR/timed.in"
	timed kubectl apply -f -
}
delete_timed() {
	: >"$MESH_DIR/timed.in"
	timed kubectl -n "$2" delete "$1" "$3"
}
# settle NAME SECONDS WANT FROM IP PORT: polls (bounded) until a new
# connection's outcome matches WANT, while the last change or delete_timed
# runs; prints when the first probe that saw the new verdict started, from
# kubectl's start (so kubectl's own time is in it), and when kubectl
# returned. Probes start about every 30 ms while they pass, every 0.13 s
# while their SYN is dropped (a handshake between namespaces takes well under
# a millisecond).
settle() {
	local name=$1 secs=$2 want=$3 from=$4 ip=$5 port=$6 ta got end back
	end=$(($(now_ms) + secs * 1000))
	while :; do
		ta=$(now_ms)
		got=$(MESH_TIMEOUT=0.1 mesh_try "$from" "$ip" "$port")
		[[ $got =~ ^($want)$ ]] && break
		if [ "$(now_ms)" -ge "$end" ]; then
			wait "$T_PID"
			t_fail "$name" "after ${secs}s: $from -> $ip:$port want '$want', got '$got'"
			return 1
		fi
		sleep 0.02
	done
	if ! wait "$T_PID"; then t_fail "$name" "kubectl failed"; return 1; fi
	back=$(cat "$MESH_DIR/timed.done")
	echo "# $name: seen by a probe started $((ta - T_SENT)) ms after kubectl started (which returned after $((back - T_SENT)) ms)"
	t_pass "$name"
}

programmed() { check "$1 $3/$4 Programmed on both nodes" mesh_wait_programmed "$2" "$3" "$4" 30; }
delete() { kubectl -n "$2" delete "$1" "$3" --ignore-not-found >/dev/null; }

# denials NODE: selvedge_policy_denials_total of node NODE's operator, summed;
# denials_above NODE N: more than N.
denials() { mesh_metrics "$1" | awk '/^selvedge_policy_denials_total/ { s += $NF } END { print s + 0 }'; }
denials_above() { [ "$(denials "$1")" -gt "$2" ]; }
# node_reaches NODE POD: the node itself (as the kubelet probing) connects to
# POD's port 8080; traffic from the node goes through output, never forward.
node_reaches() {
	[ "$(mesh_nx "$1" "$MESH_PY" "$MESH_DIR/mesh.py" connect "$(mesh_ip "$2")" 8080 "$MESH_TIMEOUT")" = "ok $2" ]
}
# stream_ok OUT MIN_LINES: a long-lived session ended well, having echoed at
# least MIN_LINES lines.
stream_ok() {
	local out=$1 i
	for i in $(seq 1 150); do
		grep -q . "$out" 2>/dev/null && break
		sleep 0.1
	done
	grep -Eq '^ok sent=([0-9]+) echoed=\1$' "$out" || { cat "$out"; return 1; }
	[ "$(sed -E 's/.*echoed=([0-9]+).*/\1/' "$out")" -ge "$2" ] || { cat "$out"; return 1; }
}

# ---------------------------------------------------------------- the cluster

t0=$(now_ms)
if mesh_cp_up; then t_pass "private control plane up, CRDs installed"; else
	t_fail "private control plane up" "$(tail -5 "$MESH_DIR/cp.log")"
	t_done
	exit 1
fi
check "namespace kube-system" sh -c "kubectl create namespace kube-system --dry-run=client -o yaml | kubectl apply -f -"
if mesh_nodes_up; then t_pass "two nodes linked, bridges, fake kube-proxy"; else t_fail "two nodes"; t_done; exit 1; fi
if mesh_has_nftables; then
	t_pass "the operator has the nftables backend"
else
	t_fail "the operator has the nftables backend" "$MESH_OPERATOR --help lists no nftables: running with the record backend, nothing is enforced"
fi
for n in 1 2; do
	if mesh_operator_start "$n"; then t_pass "operator on node n$n ready"; else
		t_fail "operator on node n$n ready" "$(tail -5 "$MESH_DIR/n$n/operator.log")"
		t_done
		exit 1
	fi
done
echo "# control plane, nodes and operators: $(($(now_ms) - t0)) ms"

t0=$(now_ms)
# node ns name sa labels...
pods_ok=1
while read -r node ns name sa lbls; do
	# shellcheck disable=SC2086 # labels are words
	mesh_pod "$node" "$ns" "$name" "$sa" $lbls || { pods_ok=0; echo "# pod $name failed"; }
done <<EOF
1 dev dev-a dev-client app=client
1 dev mallory mallory app=mallory
1 prod prod-a web app=web
1 prod prod-c checkout app=checkout
1 prod reviews-v1-a reviews app=reviews version=v1
1 prod reviews-v3-a reviews app=reviews version=v3
2 dev dev-b default app=other
2 prod prod-b web app=web
2 prod prod-d gateway app=gateway
2 prod reviews-v1-b reviews app=reviews version=v1
2 prod reviews-v2-a reviews app=reviews version=v2
EOF
MESH_TCP_PORTS=8080,53 MESH_UDP_PORTS=53 mesh_pod 2 kube-system coredns coredns k8s-app=kube-dns ||
	pods_ok=0
if [ "$pods_ok" = 1 ]; then t_pass "12 pods wired through cnitool (failurePolicy Fail), servers up"; else
	t_fail "12 pods wired through cnitool"
	t_done
	exit 1
fi
echo "# 12 pods: $(($(now_ms) - t0)) ms"

svc_ok=1
mesh_service prod web $WEB_IP http:80:8080:TCP prod-a prod-b || svc_ok=0
mesh_service prod gateway $GATEWAY_IP http:80:8080:TCP prod-d || svc_ok=0
mesh_service kube-system kube-dns $DNS_IP dns:53:53:UDP,dns-tcp:53:53:TCP coredns || svc_ok=0
mesh_service prod reviews $REVIEWS_IP http:80:8080:TCP,echo:7000:7000:TCP reviews-v1-a reviews-v1-b reviews-v2-a || svc_ok=0
mesh_service prod reviews-v1 10.96.78.21 http:80:8080:TCP,echo:7000:7000:TCP reviews-v1-a reviews-v1-b || svc_ok=0
mesh_service prod reviews-v2 10.96.78.22 http:80:8080:TCP,echo:7000:7000:TCP reviews-v2-a || svc_ok=0
mesh_service prod reviews-v3 10.96.78.23 http:80:8080:TCP,echo:7000:7000:TCP reviews-v3-a || svc_ok=0
if [ "$svc_ok" = 1 ]; then t_pass "Services with cluster IPs and EndpointSlices"; else t_fail "Services"; fi

# A workload outside the mesh: a namespace on node 1's bridge with an address
# of its own, wired by hand (no selvedge-cni, no Pod object), so the mesh has
# no identity for it: "unknown sources" in the policies below.
OUTSIDER_IP=10.78.1.250
outsider_up() {
	local ns
	ns=$(mesh_pod_ns outsider)
	ip netns add "$ns" &&
		ip -n "$(mesh_node 1)" link add sv-out0 type veth peer name eth0 netns "$ns" &&
		ip -n "$(mesh_node 1)" link set sv-out0 master svbr0 up &&
		ip -n "$ns" link set lo up && ip -n "$ns" link set eth0 up &&
		ip -n "$ns" addr add "$OUTSIDER_IP/24" dev eth0 &&
		ip -n "$ns" route add default via 10.78.1.1
}
check "an unmeshed workload on n1 (no selvedge-cni, no Pod object)" outsider_up

# ---------------------------------------------------------------- a. default allow
matrix() { # every workload pod to every other, port 8080: prints failures
	local from to got
	for from in $WORKLOADS; do
		for to in $WORKLOADS; do
			[ "$from" != "$to" ] || continue
			got=$(mesh_try "$from" "$(mesh_ip "$to")" 8080)
			[ "$got" = "ok $to" ] || echo "$from -> $to: $got"
			got=$(mesh_try "$from" "$(mesh_ip6 "$to")" 8080)
			[ "$got" = "ok $to" ] || echo "$from -> $to over IPv6: $got"
		done
	done
}
out=$(matrix)
if [ -z "$out" ]; then t_pass "a: no policy: all 42 pod pairs connect (same node and across), over IPv4 and IPv6"; else
	t_fail "a: no policy: all pod pairs connect" "$out"
fi
expect "a: Service web through kube-proxy's DNAT" "ok prod-[ab]" dev-a $WEB_IP 80
expect "a: Service gateway across nodes" "ok prod-d" dev-a $GATEWAY_IP 80
expect "a: cluster DNS over UDP" "ok coredns" dev-a $DNS_IP 53 udp
expect "a: cluster DNS over TCP" "ok coredns" dev-b $DNS_IP 53
expect "a: a port nothing listens on is refused, not dropped" refused dev-a "$(mesh_ip prod-b)" 9999
check "a: the node itself reaches a pod (kubelet probe)" node_reaches 1 prod-a
reaches "a: the unmeshed workload reaches a pod (same node)" outsider prod-c
reaches "a: the unmeshed workload reaches a pod (across)" outsider prod-b

# ---------------------------------------------------------------- b. Deny dev -> prod
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: dev-must-not-reach-prod, namespace: prod}
spec:
  podSelector: {}
  action: Deny
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: dev}}
EOF
programmed "b:" $SP prod dev-must-not-reach-prod
d1=$(denials 1)
d2=$(denials 2)
blocked "b: dev -> prod denied on the same node (n1)" dev-a prod-a
blocked "b: dev -> prod denied on the same node (n2)" dev-b prod-b
blocked "b: dev -> prod denied across nodes (n1 -> n2)" dev-a prod-b
blocked "b: dev -> prod denied across nodes (n2 -> n1)" dev-b prod-a
blocked "b: dev -> prod denied on every port" dev-a prod-c 9090
blocked6 "b: dev -> prod denied over IPv6 (same node)" dev-a prod-a
blocked6 "b: dev -> prod denied over IPv6 (across)" dev-b prod-a
expect "b: dev -> prod denied through the Service's cluster IP" timeout dev-a $WEB_IP 80
reaches "b: prod -> prod still works (same node)" prod-c prod-a
reaches "b: prod -> prod still works (across)" prod-a prod-b
reaches6 "b: prod -> prod still works over IPv6 (across)" prod-a prod-b
reaches "b: dev -> dev is not affected" dev-a dev-b
reaches "b: prod -> dev is not affected (the policy is ingress only)" prod-a dev-a
reaches "b: an unmeshed source matches no namespace selector: it reaches prod" outsider prod-b
check "b: denials counted in /metrics on n1 (selvedge_policy_denials_total, from NFLOG)" \
	wait_for 5 denials_above 1 "$d1"
check "b: and on n2" wait_for 5 denials_above 2 "$d2"
check_output "b: denials are labelled with the source workload (dev/...) and the destination" \
	'^selvedge_policy_denials_total\{direction="in",source="dev/[^"]+",destination="[^"]+"\} [1-9]' \
	mesh_metrics 1
delete_timed $SP prod dev-must-not-reach-prod
settle "b: policy deleted: dev -> prod connects again" 10 "ok prod-a" dev-a "$(mesh_ip prod-a)" 8080

# ---------------------------------------------------------------- c. Allow list
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-allow-list, namespace: prod}
spec:
  targetRef: {kind: Service, name: web}
  action: Allow
  ingress:
  - from:
    - podSelector: {matchLabels: {app: checkout}}
    - serviceAccount: {name: dev-client, namespace: dev}
    - service: {name: gateway}
    ports:
    - {port: 8080, protocol: TCP}
EOF
programmed "c:" $SP prod web-allow-list
reaches "c: podSelector peer passes (same node)" prod-c prod-a
reaches "c: podSelector peer passes (across)" prod-c prod-b
reaches "c: serviceAccount peer passes (across)" dev-a prod-b
reaches6 "c: serviceAccount peer passes over IPv6 (across)" dev-a prod-b
reaches6 "c: podSelector peer passes over IPv6 (same node)" prod-c prod-a
expect "c: serviceAccount peer passes through the cluster IP" "ok prod-[ab]" dev-a $WEB_IP 80
reaches "c: Service peer passes (across)" prod-d prod-a
reaches "c: Service peer passes (same node)" prod-d prod-b
reaches6 "c: Service peer passes over IPv6 (the Service lists IPv4 endpoints only)" prod-d prod-a
blocked "c: listed peer, unlisted port: refused" prod-c prod-a 9090
blocked "c: unlisted peer refused (same node)" dev-b prod-b
blocked "c: unlisted peer refused (across)" dev-b prod-a
blocked6 "c: unlisted peer refused over IPv6 (across)" dev-b prod-a
blocked6 "c: listed peer, unlisted port: refused over IPv6" prod-c prod-a 9090
blocked "c: another target is no peer: refused" prod-a prod-b
blocked "c: unlisted peer refused (mallory)" mallory prod-a
blocked "c: an unmeshed source is in no Allow list: refused" outsider prod-a
reaches "c: pods the policy does not select are not affected" dev-b prod-d

# ---------------------------------------------------------------- d. Deny beats Allow
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-deny-dev-client, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  action: Deny
  ingress:
  - from:
    - serviceAccount: {name: dev-client, namespace: dev}
    ports:
    - {port: 8080, protocol: TCP}
EOF
programmed "d:" $SP prod web-deny-dev-client
blocked "d: Deny beats Allow for the same peer (across)" dev-a prod-b
blocked "d: Deny beats Allow for the same peer (same node)" dev-a prod-a
reaches "d: the other Allow peers still pass" prod-c prod-b
delete $SP prod web-deny-dev-client
delete_timed $SP prod web-allow-list
settle "c/d: policies deleted: everyone reaches web again" 10 "ok prod-b" dev-b "$(mesh_ip prod-b)" 8080

# ---------------------------------------------------------------- e. egress
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: client-egress, namespace: dev}
spec:
  podSelector: {matchLabels: {app: client}}
  action: Allow
  egress:
  - to:
    - podSelector: {matchLabels: {app: other}}
    ports:
    - {port: 8080, protocol: TCP}
EOF
programmed "e:" $SP dev client-egress
# A test-owned counter in n2 sees whether a refused SYN ever left n1.
mesh_nx 2 nft -f - <<EOF
table ip mesh-probe {
	chain pre {
		type filter hook prerouting priority -400; policy accept;
		ip saddr $(mesh_ip dev-a) ip daddr $(mesh_ip prod-b) tcp dport 8080 counter
	}
}
EOF
reaches "e: egress to a listed peer passes (across)" dev-a dev-b
blocked "e: listed peer, unlisted port: refused" dev-a dev-b 9090
blocked "e: unlisted destination refused (same node)" dev-a prod-a
blocked "e: unlisted destination refused (across)" dev-a prod-b
probe=$(mesh_nx 2 nft -j list table ip mesh-probe | jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add // 0')
if [ "$probe" = 0 ]; then t_pass "e: refused on the source node: nothing reached n2"; else
	t_fail "e: refused on the source node" "$probe packets from dev-a to prod-b:8080 arrived in n2"
fi
mesh_nx 2 nft delete table ip mesh-probe
expect "e: DNS stays allowed (UDP)" "ok coredns" dev-a $DNS_IP 53 udp
expect "e: DNS stays allowed (TCP)" "ok coredns" dev-a $DNS_IP 53
reaches "e: other pods' egress is not affected" mallory prod-a
reaches "e: ingress to the selected pod is not affected" dev-b dev-a
delete_timed $SP dev client-egress
settle "e: policy deleted: dev-a reaches prod again" 10 "ok prod-a" dev-a "$(mesh_ip prod-a)" 8080

# ---------------------------------------------------------------- g. spoofing
reaches "g: before: mallory reaches prod-a" mallory prod-a
guard_drops() {
	mesh_nx 1 nft -j list table netdev selvedge_guard |
		jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add // 0'
}
g0=$(guard_drops)
spoof() { # POD: mallory takes POD's address and tries everyone else
	local ip to got out=""
	ip=$(mesh_ip "$1")
	mesh_run mallory ip addr add "$ip/32" dev eth0 || return 1
	for to in prod-a prod-c dev-a prod-b dev-b coredns; do
		[ "$to" != "$1" ] || continue # that address is now mallory's own
		got=$(mesh_try mallory "$(mesh_ip "$to")" 8080 "$ip")
		[ "$got" = timeout ] || out+="as $1 -> $to: $got; "
	done
	got=$(mesh_try mallory $WEB_IP 80 "$ip")
	[ "$got" = timeout ] || out+="as $1 -> web: $got; "
	mesh_run mallory ip addr del "$ip/32" dev eth0
	[ -z "$out" ] || { echo "$out"; return 1; }
}
check "g: with prod-c's address (same node), mallory reaches nobody" spoof prod-c
check "g: with dev-b's address (other node), mallory reaches nobody" spoof dev-b
g1=$(guard_drops)
if [ "$g1" -gt "$g0" ]; then t_pass "g: the guard counted the forged packets ($((g1 - g0)))"; else
	t_fail "g: the guard counted the forged packets" "$g0 -> $g1"
fi
reaches "g: after: mallory, with its own address, reaches prod-a again" mallory prod-a

# ---------------------------------------------------------------- h. changes and established connections
change <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-deny-checkout, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  action: Deny
  ingress:
  - from:
    - podSelector: {matchLabels: {app: checkout}}
EOF
settle "h: new Deny policy reaches new connections (across)" 10 timeout prod-c "$(mesh_ip prod-b)" 8080
blocked "h: and on the same node" prod-c prod-a
change <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-deny-checkout, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  action: Deny
  ingress:
  - from:
    - podSelector: {matchLabels: {app: checkout}}
    ports:
    - {port: 9090, protocol: TCP}
EOF
settle "h: policy narrowed to port 9090: 8080 passes again" 10 "ok prod-b" prod-c "$(mesh_ip prod-b)" 8080
blocked "h: and 9090 is still refused" prod-c prod-b 9090
delete_timed $SP prod web-deny-checkout
settle "h: policy deleted: 9090 passes again" 10 "ok prod-b" prod-c "$(mesh_ip prod-b)" 9090

# A session that sends a line every 100 ms must not notice an unrelated change.
S1=$MESH_DIR/stream1
if mesh_stream_start dev-a "$(mesh_ip dev-b)" 7000 4 "$S1"; then t_pass "h: long-lived session dev-a -> dev-b open"; else t_fail "h: long-lived session open" "$(cat "$S1")"; fi
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: unrelated, namespace: prod}
spec:
  podSelector: {matchLabels: {app: gateway}}
  action: Deny
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: dev}}
EOF
programmed "h:" $SP prod unrelated
blocked "h: the unrelated policy is in force" dev-a prod-d
check "h: the session survived the unrelated change, every line echoed" stream_ok "$S1" 30
delete $SP prod unrelated
# The design: a policy change affects new connections only (established
# traffic is accepted before any policy).
S2=$MESH_DIR/stream2
if mesh_stream_start prod-c "$(mesh_ip prod-a)" 7000 4 "$S2"; then t_pass "h: long-lived session prod-c -> prod-a open"; else t_fail "h: long-lived session open" "$(cat "$S2")"; fi
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-deny-checkout, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  action: Deny
  ingress:
  - from:
    - podSelector: {matchLabels: {app: checkout}}
EOF
programmed "h:" $SP prod web-deny-checkout
blocked "h: a new connection of the same pair is refused" prod-c prod-a 7000
check "h: the established session survived a policy that now denies it" stream_ok "$S2" 30
delete_timed $SP prod web-deny-checkout
settle "h: deleted: prod-c reaches prod-a again" 10 "ok prod-a" prod-c "$(mesh_ip prod-a)" 8080

# ---------------------------------------------------------------- i. TrafficSplit
# answered PATTERN: how many of mesh_many's answers ($res) came from pods
# whose names match PATTERN.
answered() { jq --arg p "^ok $1" '[.counts | to_entries[] | select(.key | test($p)) | .value] | add // 0' <<<"$res"; }
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: reviews-canary, namespace: prod}
spec:
  service: reviews
  mode: Connection
  backends:
  - {service: reviews-v1, weight: 90}
  - {service: reviews-v2, weight: 10}
  - {service: reviews-v3, weight: 0}
EOF
programmed "i:" $TS prod reviews-canary
kp0=$(mesh_kube_proxy_hits 1 prod_reviews/http)
t0=$(now_ms)
res=$(mesh_many dev-a $REVIEWS_IP 80 2000)
echo "# i: 2000 connections through the split in $(($(now_ms) - t0)) ms: $(jq -c .counts <<<"$res")"
v1=$(answered "reviews-v1-")
v2=$(answered "reviews-v2-")
v3=$(answered "reviews-v3-")
if [ $((v1 + v2 + v3)) -eq 2000 ]; then t_pass "i: 2000 of 2000 connections answered by a backend"; else
	t_fail "i: 2000 of 2000 connections answered by a backend" "$res"
fi
# 99.9 % two-sided binomial bound: |k - n p| <= 3.29 sqrt(n p (1 - p)).
if awk -v k="$v1" 'BEGIN { exit !((k - 1800) ^ 2 <= (3.29 ^ 2) * 2000 * 0.9 * 0.1) }'; then
	t_pass "i: reviews-v1 got $v1 of 2000 (90 %: 1800 +- 44)"
else
	t_fail "i: reviews-v1 share within the 99.9 % bound (1800 +- 44)" "v1=$v1 v2=$v2 v3=$v3"
fi
if [ "$v3" -eq 0 ]; then t_pass "i: the weight-0 backend got none"; else t_fail "i: the weight-0 backend got none" "v3=$v3"; fi
# Both v1 pods (one per node) take part: the backend's endpoints are spread.
check_output "i: reviews-v1 connections reach both of its pods" '"ok reviews-v1-a".*"ok reviews-v1-b"|"ok reviews-v1-b".*"ok reviews-v1-a"' echo "$res"
kp1=$(mesh_kube_proxy_hits 1 prod_reviews/http)
if [ "$kp1" = "$kp0" ]; then t_pass "i: split connections never reached kube-proxy's DNAT (our NAT runs first)"; else
	t_fail "i: split connections never reached kube-proxy's DNAT" "kube-proxy's reviews rule counted $((kp1 - kp0)) new connections"
fi
# The L4 counters of the client's node (conntrack: NEW events, dumps) see the
# same split: connections by backend Service, as the answers came.
l4() { mesh_metrics "$1" | awk -v s="selvedge_l4_$2_total{source=\"$3\",destination=\"$4\"}" '$1 == s { print $2 }'; }
l4_seen() { [ "$(l4 1 connections dev/dev-client prod/reviews-v1)" = "$v1" ]; }
if wait_for 15 l4_seen && [ "$(l4 1 connections dev/dev-client prod/reviews-v2)" = "$v2" ] &&
	[ -z "$(l4 1 connections dev/dev-client prod/reviews-v3)" ] &&
	[ "$(l4 1 bytes dev/dev-client prod/reviews-v1)" -gt "$v1" ]; then
	t_pass "i: n1's L4 counters: $v1 connections to reviews-v1, $v2 to reviews-v2 ($(l4 1 bytes dev/dev-client prod/reviews-v1) and $(l4 1 bytes dev/dev-client prod/reviews-v2) bytes), none to reviews-v3"
else
	t_fail "i: n1's L4 counters show the split's connections by backend" "answers: v1=$v1 v2=$v2 v3=$v3" \
		"$(mesh_metrics 1 | grep '^selvedge_l4_')"
fi
res=$(mesh_many dev-b $REVIEWS_IP 80 200)
v1=$(answered "reviews-v1-")
n=$(answered "reviews-v[123]-")
if [ "$n" -eq 200 ] && awk -v k="$v1" 'BEGIN { exit !((k - 180) ^ 2 <= (3.29 ^ 2) * 200 * 0.9 * 0.1) }'; then
	t_pass "i: split on node n2 too: reviews-v1 got $v1 of 200 (180 +- 14)"
else
	t_fail "i: split on node n2 too (180 +- 14 of 200 to v1)" "$res"
fi

# To the backend that had weight 0: no connection can have gone there before.
change <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: reviews-canary, namespace: prod}
spec:
  service: reviews
  mode: Connection
  backends:
  - {service: reviews-v1, weight: 0}
  - {service: reviews-v2, weight: 0}
  - {service: reviews-v3, weight: 100}
EOF
settle "i: weights moved to 0/0/100: new connections go to v3" 10 "ok reviews-v3-a" dev-a $REVIEWS_IP 80
res=$(mesh_many dev-a $REVIEWS_IP 80 200)
check_output "i: 200 of 200 to reviews-v3 now" '^\{"ok reviews-v3-a":200\}$' jq -c .counts <<<"$res"

# Endpoint churn under a long-lived connection through the split.
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: reviews-canary, namespace: prod}
spec:
  service: reviews
  mode: Connection
  backends:
  - {service: reviews-v1, weight: 50}
  - {service: reviews-v2, weight: 50}
EOF
programmed "i:" $TS prod reviews-canary
S3=$MESH_DIR/stream3
streams_ok=1
for s in 1 2 3 4; do
	mesh_stream_start dev-a $REVIEWS_IP 7000 6 "$S3.$s" || streams_ok=0
done
if [ "$streams_ok" = 1 ]; then t_pass "i: 4 long-lived sessions through the split open"; else t_fail "i: 4 long-lived sessions open"; fi
churn_ok=1
for eps in "reviews-v1-a" "reviews-v1-a reviews-v1-b~" "reviews-v1-b" "" "reviews-v1-a reviews-v1-b"; do
	# shellcheck disable=SC2086 # pod names are words
	mesh_endpoints prod reviews-v1 $eps || churn_ok=0
	sleep 0.5
	if [ -z "$eps" ]; then mesh_endpoints prod reviews-v2 || churn_ok=0; else mesh_endpoints prod reviews-v2 reviews-v2-a || churn_ok=0; fi
	sleep 0.5
done
if [ "$churn_ok" = 1 ]; then t_pass "i: endpoints of both backends churned 10 times"; else t_fail "i: endpoint churn"; fi
for s in 1 2 3 4; do
	check "i: session $s through the split survived the churn, every line echoed" stream_ok "$S3.$s" 40
done
mesh_endpoints prod reviews-v1 reviews-v1-b >/dev/null
t0=$(now_ms)
only_b() { [ "$(mesh_many dev-a $REVIEWS_IP 80 50 | jq '[.counts | keys[] | select(. != "ok reviews-v1-b" and . != "ok reviews-v2-a")] | length')" = 0 ]; }
if wait_for 10 only_b; then
	echo "# i: endpoint removal in effect for new connections after $(($(now_ms) - t0)) ms"
	t_pass "i: an endpoint removed from a backend gets no new connections"
else
	t_fail "i: an endpoint removed from a backend gets no new connections" "$(mesh_many dev-a $REVIEWS_IP 80 50)"
fi
mesh_endpoints prod reviews-v1 reviews-v1-a reviews-v1-b >/dev/null
check "i: kube-proxy's table is as the test wrote it" mesh_kube_proxy_unchanged
delete $TS prod reviews-canary

# ---------------------------------------------------------------- f. default deny
for n in 1 2; do
	# Not through check (a subshell): the operator is this shell's child.
	if mesh_operator_stop "$n"; then t_pass "f: operator on n$n stops cleanly (exit 0)"; else
		t_fail "f: operator on n$n stops cleanly (exit 0)"
	fi
done
MESH_DEFAULT_POLICY=deny
for n in 1 2; do
	if mesh_operator_start "$n"; then t_pass "f: operator on n$n restarted with --default-policy deny"; else
		t_fail "f: operator on n$n restarted with --default-policy deny" "$(tail -5 "$MESH_DIR/n$n/operator.log")"
	fi
done
blocked "f: default deny: dev -> dev refused (across)" dev-a dev-b
blocked "f: default deny: prod -> prod refused (same node)" prod-c prod-a
blocked "f: default deny: prod -> prod refused (across)" prod-a prod-b
blocked6 "f: default deny: prod -> prod refused over IPv6 (across)" prod-a prod-b
blocked "f: default deny: an unmeshed source is refused" outsider prod-b
expect "f: default deny: Services refused too" timeout dev-a $WEB_IP 80
check "f: the node itself still reaches its pods (kubelet probe, n1)" node_reaches 1 prod-a
check "f: the node itself still reaches its pods (kubelet probe, n2)" node_reaches 2 prod-b
expect "f: cluster DNS over UDP from dev (across)" "ok coredns" dev-a $DNS_IP 53 udp
expect "f: cluster DNS over TCP from dev (across)" "ok coredns" dev-a $DNS_IP 53
expect "f: cluster DNS by pod IP from dev (same node)" "ok coredns" dev-b "$(mesh_ip coredns)" 53 udp
blocked "f: the DNS pod's other ports are refused" dev-a coredns 8080
kubectl apply -f - >/dev/null <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-from-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: web}}
EOF
programmed "f:" $SP prod web-from-web
reaches "f: allowed: prod-a -> prod-b" prod-a prod-b
reaches "f: allowed: prod-b -> prod-a" prod-b prod-a
reaches6 "f: allowed over IPv6: prod-b -> prod-a" prod-b prod-a
blocked "f: still refused: prod-c -> prod-a" prod-c prod-a
blocked "f: still refused: dev-b -> prod-b" dev-b prod-b
delete $SP prod web-from-web

# ---------------------------------------------------------------- j. what is left
check "j: kube-proxy's table was never changed by the operators" mesh_kube_proxy_unchanged
for p in $(mesh_pods); do mesh_pod_del "$p" || t_fail "j: pod $p deleted"; done
for s in web gateway reviews reviews-v1 reviews-v2 reviews-v3; do
	kubectl -n prod delete service "$s" >/dev/null
	kubectl -n prod delete endpointslice "$s-mesh" >/dev/null
done
kubectl -n kube-system delete service kube-dns >/dev/null
kubectl -n kube-system delete endpointslice kube-dns-mesh >/dev/null
# Elements of the table's sets and maps: they name pods and Services.
elements() {
	mesh_nx "$1" nft -j list table inet selvedge 2>/dev/null |
		jq '[.nftables[] | (.set // .map)? // empty | .elem // [] | length] | add // 0'
}
no_elements() { [ "$(elements "$1")" = 0 ]; }
guard_chains() {
	mesh_nx "$1" nft -j list chains netdev 2>/dev/null |
		jq '[.nftables[] | select(.chain.table? == "selvedge_guard")] | length'
}
cni_records() { find "$MESH_DIR/n$1/cni/pods" -name '*.json' 2>/dev/null | wc -l; }
for n in 1 2; do
	check "j: n$n: no pod or Service left in the operator's table" wait_for 10 no_elements "$n"
	check_output "j: n$n: no guard chain left" '^0$' guard_chains "$n"
	check_output "j: n$n: no CNI record left" '^0$' cni_records "$n"
	applied_bytes=$(mesh_metrics "$n" | awk '$1 == "selvedge_operator_state_bytes" { print $2 }')
	if mesh_operator_stop "$n"; then t_pass "j: operator on n$n stops cleanly (exit 0)"; else
		t_fail "j: operator on n$n stops cleanly (exit 0)"
	fi
	# The state is written to disk as it is dumped (never held whole): the
	# file is the last applied state, whole, and no temporary is left.
	state_files=$(find "$MESH_DIR/n$n/state" -type f | tr '\n' ' ')
	if [ "$state_files" = "$MESH_DIR/n$n/state/state.json " ] &&
		[ "$(stat -c %s "$MESH_DIR/n$n/state/state.json")" = "$applied_bytes" ] &&
		jq -e '.version == 2 and (.localPods | length) == 0' "$MESH_DIR/n$n/state/state.json" >/dev/null; then
		t_pass "j: n$n: the persisted state is the last applied one ($applied_bytes bytes, no pod), no temporary left"
	else
		t_fail "j: n$n: the persisted state is the last applied one" "files: $state_files" \
			"metric: $applied_bytes bytes" "$(head -c 300 "$MESH_DIR/n$n/state/state.json")"
	fi
done
for n in 1 2; do
	# The operator leaves its table in place when it stops (its state is on
	# disk too): a node keeps enforcing while its agent restarts.
	left=$(mesh_nx "$n" nft list tables | sort | tr '\n' ' ')
	echo "# j: n$n: tables left after the operator stopped: $left"
	extra=$(mesh_nx "$n" nft list tables | grep -vxE 'table (ip kube-proxy|inet selvedge|netdev selvedge_guard)')
	if [ -z "$extra" ]; then t_pass "j: n$n: no table but kube-proxy's and ours"; else t_fail "j: n$n: unexpected tables" "$extra"; fi
	if [ -e "$MESH_DIR/n$n/agent.sock" ]; then t_fail "j: n$n: agent socket removed on stop"; else t_pass "j: n$n: agent socket removed on stop"; fi
	if grep -q 'level=error' "$MESH_DIR/n$n/operator.log"; then
		t_fail "j: n$n: no error logged" "$(grep 'level=error' "$MESH_DIR/n$n/operator.log" | head -5)"
	else
		t_pass "j: n$n: no error logged"
	fi
done
t_done
