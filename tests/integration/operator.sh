#!/usr/bin/env bash
# Integration test for selvedge-operator against the real local control plane:
# metrics and health endpoints; create/update/delete of pods, Services,
# EndpointSlices, namespaces, ServicePolicies and TrafficSplits converging into
# the compiled node state (backend record:); status conditions, node reports
# and Warning Events; no status hot loop; leader election (kill -9, graceful
# stop, paused leader); restart from the persisted state with the API server
# unreachable; bad flags.
#
# Needs: KUBECONFIG exported and kubectl on PATH, the CRDs installed (applied
# here again), and build/selvedge-operator (SELVEDGE_BUILD=build by default):
#   make build/selvedge-operator && eval "$(hack/control-plane.sh env)" &&
#   bash tests/integration/operator.sh
# There is no kubelet and no controller-manager: pods get their IPs by a status
# patch and EndpointSlices are written by hand. Everything lives in namespaces
# unique to the run (workloads, a peer namespace, the operators' Leases); the
# objects are deleted at the end, the namespaces stay Terminating (no namespace
# controller), like in crds.sh.
# The jq filters name jq variables ($ns, ...) in single quotes on purpose.
# shellcheck disable=SC2016
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SELVEDGE_BUILD:-$ROOT/build}
OPERATOR=$BUILD/selvedge-operator
RUN=$(date +%s)-$$
NS=selvedge-op-$RUN  # workloads and mesh objects
NS2=$NS-peer         # a second namespace, for namespaceSelector and serviceAccount peers
LNS=$NS-sys          # the operators' Leases (--namespace)
NODE_A=op-$RUN-a     # runs operator A
NODE_B=op-$RUN-b     # runs operator B
NODE_R=op-$RUN-r     # a node without an operator
ID_A=op-a-$RUN       # leader-election identities (and status field managers)
ID_B=op-b-$RUN
PEER_LABEL=selvedge-test-peer # set to $RUN on NS2 to select it
SP=servicepolicies.selvedge.dev
TS=trafficsplits.selvedge.dev
WAIT=20 # seconds any convergence may take
# Short leader-election timings, so that a takeover is quick to observe.
LEASE=6
RENEW=4
RETRY=1
# Pod IPs unique to the run (outside the Service range 10.96.0.0/12), so that
# pods of other runs never share them.
IPB=10.$((RANDOM % 80 + 10)).$((RANDOM % 256))
WEB1=$IPB.11    # pod web-1 on node A, app=web, ServiceAccount web
WEB2=$IPB.12    # pod web-2 on node R, app=web, ServiceAccount web
CLIENT=$IPB.21  # pod client-1 on node R, app=client, ServiceAccount client
CLIENT2=$IPB.22 # its address after a change
OTHER=$IPB.31   # pod other-1 in NS2 on node R, ServiceAccount robot
UNREADY=$IPB.99 # an endpoint that is not ready
JQ_ARGS=(--arg ns "$NS" --arg ns2 "$NS2" --arg web1 "$WEB1" --arg web2 "$WEB2"
	--arg client "$CLIENT" --arg client2 "$CLIENT2" --arg other "$OTHER")
# Filters shared by the jq checks on the record files and on objects.
JQ_DEFS='
def pol($n): .policies[] | select(.namespace == $ns and .name == $n);
def split($n): .splits[] | select(.namespace == $ns and .name == $n);
def has_object($n): any(.objects[]; .namespace == $ns and .name == $n);
def group($p; $rule; $peer): .peerGroups[pol($p).ingress[$rule].peers[$peer]];
def idof($ip): first(.identities | to_entries[] | select(.value | index([$ip])) | .key) // null;
def cond($t): (.status.conditions // [])[] | select(.type == $t);
def current: .status.observedGeneration == .metadata.generation;
def status_managers: [.metadata.managedFields[]? | select(.subresource == "status") | .manager] | unique;
'
TMP=$(mktemp -d)
REC_A=$TMP/rec-$NODE_A.json
REC_B=$TMP/rec-$NODE_B.json
declare -A PID PORT LOG
N_START=0

cleanup() {
	local t n
	for t in "${!PID[@]}"; do
		stop_op "$t" KILL
	done
	if [ "$T_FAIL" -gt 0 ]; then
		for t in "$TMP"/*.log; do
			[ -e "$t" ] || continue
			printf '# --- last lines of %s\n' "$(basename "$t")"
			tail -n 15 "$t" | sed 's/^/# /'
		done
	fi
	for n in "$NS" "$NS2"; do
		kubectl -n "$n" delete "$SP,$TS,services,endpointslices.discovery.k8s.io,events.events.k8s.io" \
			--all --ignore-not-found --wait=false >/dev/null 2>&1
		kubectl -n "$n" delete pods --all --force --grace-period=0 --ignore-not-found >/dev/null 2>&1
	done
	kubectl -n "$LNS" delete leases.coordination.k8s.io --all --ignore-not-found >/dev/null 2>&1
	kubectl delete namespace "$NS" "$NS2" "$LNS" --ignore-not-found --wait=false >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}


# check_eventually NAME CMD...: passes when CMD succeeds within $WAIT seconds.
check_eventually() {
	local name=$1 out
	shift
	if wait_for "$WAIT" "$@"; then
		t_pass "$name"
	else
		out=$("$@" 2>&1)
		t_fail "$name" "not true within ${WAIT}s: $*" "last output: $out"
	fi
}

# check_steady NAME SECONDS CMD...: passes when CMD keeps succeeding for SECONDS.
check_steady() {
	local name=$1 end=$(($(now_ms) + $2 * 1000)) out
	shift 2
	while [ "$(now_ms)" -lt "$end" ]; do
		if ! out=$("$@" 2>&1); then
			t_fail "$name" "stopped being true: $*" "$out"
			return
		fi
		sleep 0.2
	done
	t_pass "$name"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's ephemeral range: a port in it can be taken at any moment
# as the local end of an outgoing connection (the apiserver's to etcd), which
# the connect test does not see, and the operator then cannot bind it.
free_port() {
	local p lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 21000 ] || lo=32768
	while :; do
		p=$((20000 + RANDOM % (lo - 20000)))
		port_free "$p" && echo "$p" && return
	done
}

alive() {
	local s
	s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s:0:1}" != Z ]
}
dead() { ! alive "$1"; }

# start_op TAG NODE IDENTITY KUBECONFIG [ARGS...]: starts an operator in the
# background on a free metrics port; PID, PORT and LOG[TAG] describe it. The
# state dir and the record file belong to the node, so they survive restarts.
start_op() {
	local tag=$1 node=$2 id=$3 kc=$4
	shift 4
	N_START=$((N_START + 1))
	PORT[$tag]=$(free_port)
	LOG[$tag]=$TMP/$N_START-$tag.log
	"$OPERATOR" --node-name "$node" --identity "$id" --namespace "$LNS" --kubeconfig "$kc" \
		--state-dir "$TMP/state-$node" --backend "record:$TMP/rec-$node.json" \
		--metrics-addr "127.0.0.1:${PORT[$tag]}" --lease-duration "$LEASE" \
		--renew-deadline "$RENEW" --retry-period "$RETRY" --log-level debug \
		--agent-socket "$TMP/agent-$node.sock" --cni-state-dir "$TMP/cni-$node" "$@" \
		</dev/null >"${LOG[$tag]}" 2>&1 &
	PID[$tag]=$!
}

# stop_op TAG [SIGNAL]: signals operator TAG (default TERM), waits up to 10 s
# for it to exit (then SIGKILL); STOP_RC is its exit status.
stop_op() {
	local tag=$1 pid=${PID[$1]}
	kill -s "${2:-TERM}" "$pid" 2>/dev/null
	wait_for 10 dead "$pid" || kill -9 "$pid" 2>/dev/null
	wait "$pid"
	STOP_RC=$?
	unset "PID[$tag]"
} 2>/dev/null # no "Killed" notice from bash

logged() { grep -q -- "$2" "${LOG[$1]}"; }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:${PORT[$1]}$2"; }
http_is() { [ "$(http_code "$1" "$2")" = "$3" ]; }
metrics() { curl -sf --max-time 2 "http://127.0.0.1:${PORT[$1]}/metrics"; }
promtool_check() { metrics "$1" | promtool check metrics; }
# metric TAG SAMPLE: the value of SAMPLE (name and labels as exposed).
metric() { metrics "$1" | awk -v m="$2" '$1 == m {print $2; f = 1} END {exit !f}'; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
metric_above() {
	local v
	v=$(metric "$1" "$2") && awk -v v="$v" -v floor="$3" 'BEGIN { exit !(v + 0 > floor + 0) }'
}

# rec FILE FILTER [JQ_ARGS...]: FILTER (with JQ_DEFS) is true on the record FILE.
rec() {
	local file=$1 filter=$2
	shift 2
	jq -e "${JQ_ARGS[@]}" "$@" "$JQ_DEFS $filter" "$file"
}
# obj KIND NAME FILTER [JQ_ARGS...]: FILTER (with JQ_DEFS) is true on the object.
obj() {
	local kind=$1 name=$2 filter=$3
	shift 3
	kubectl -n "$NS" get "$kind" "$name" -o json --show-managed-fields | jq_e "${JQ_ARGS[@]}" "$@" "$JQ_DEFS $filter"
}
# objv KIND NAME FILTER [JQ_ARGS...]: prints FILTER's raw value on the object.
objv() {
	local kind=$1 name=$2 filter=$3
	shift 3
	kubectl -n "$NS" get "$kind" "$name" -o json --show-managed-fields | jq -r "${JQ_ARGS[@]}" "$@" "$JQ_DEFS $filter"
}
uid_of() { kubectl -n "$NS" get "$1" "$2" -o 'jsonpath={.metadata.uid}'; }
# healthy KIND NAME: status is current and Accepted, Programmed, Ready are True,
# Reconciling and Stalled False.
healthy() {
	obj "$1" "$2" '.metadata.generation as $g | current and
		cond("Accepted").status == "True" and cond("Programmed").status == "True" and
		cond("Ready").status == "True" and cond("Reconciling").status == "False" and
		cond("Stalled").status == "False" and all(.status.conditions[]; .observedGeneration == $g)' 
}
# broken KIND NAME REASON: current, Accepted False with REASON, Ready False
# with REASON, Stalled True with REASON, Reconciling False (nothing is under
# way: kstatus reports Failed, not InProgress).
broken() {
	obj "$1" "$2" 'current and
		(cond("Accepted") | .status == "False" and .reason == $r) and
		(cond("Ready") | .status == "False" and .reason == $r) and
		(cond("Stalled") | .status == "True" and .reason == $r) and
		(cond("Reconciling").status == "False")' --arg r "$3"
}
# programmed_on KIND NAME N M: Programmed True with the message "N of M nodes".
programmed_on() {
	obj "$1" "$2" 'current and (cond("Programmed") |
		.status == "True" and (.message | test("(^|[^0-9])\($n) of \($m) nodes")))' \
		--arg n "$3" --arg m "$4"
}
status_managers() { objv "$1" "$2" 'status_managers | join(",")'; }
# mf_time KIND NAME MANAGER: when MANAGER last wrote the status (the time of
# its managedFields entry; empty when it has none).
mf_time() {
	objv "$1" "$2" '[.metadata.managedFields[]? | select(.subresource == "status" and
		.manager == $m) | .time] | first // ""' --arg m "$3"
}
# mf_same KIND NAME MANAGER TIME: MANAGER has not written the status since TIME.
# (Its entry may shrink, or go, as another writer takes its fields over; a
# write of its own would move the time, and the writes compared here are
# seconds apart.)
mf_same() {
	local t
	t=$(mf_time "$1" "$2" "$3") || return
	[ -z "$t" ] || [ "$t" = "$4" ]
}
# report_has NODE UID GENERATION: the node's report Lease lists UID at GENERATION.
report_has() {
	kubectl -n "$LNS" get lease "selvedge-report-$1" -o json |
		jq_e --arg u "$2" --argjson g "$3" '.metadata.labels["selvedge.dev/node-report"] == "true" and
			(.metadata.annotations["selvedge.dev/programmed"] | fromjson | .[$u] == $g)'
}
report_lacks() {
	kubectl -n "$LNS" get lease "selvedge-report-$1" -o json |
		jq_e --arg u "$2" '.metadata.annotations["selvedge.dev/programmed"] | fromjson | has($u) | not'
}
lease_holder() { kubectl -n "$LNS" get lease selvedge-operator-leader -o 'jsonpath={.spec.holderIdentity}'; }
lease_holder_is() { [ "$(lease_holder)" = "$1" ]; }
# event_count NAME KIND REASON: Warning Events (events.k8s.io/v1) about object NAME.
event_count() {
	kubectl -n "$NS" get events.events.k8s.io -o json | jq --arg n "$1" --arg k "$2" --arg r "$3" \
		'[.items[] | select(.type == "Warning" and .reason == $r and .regarding.kind == $k and
			.regarding.name == $n and .regarding.apiVersion == "selvedge.dev/v1alpha1")] | length'
}
has_event() { [ "$(event_count "$@")" -ge 1 ]; }

# make_pod NS NAME NODE SA LABELS IP: a pod bound to NODE, then its IP and
# phase Running set on the status, as a kubelet would.
make_pod() {
	kubectl -n "$1" create -f - <<EOF || return
apiVersion: v1
kind: Pod
metadata: {name: $2, labels: $5}
spec:
  nodeName: $3
  serviceAccountName: $4
  containers: [{name: main, image: pause}]
EOF
	set_pod_ip "$1" "$2" "$6"
}
set_pod_ip() {
	kubectl -n "$1" patch pod "$2" --subresource=status --type=merge \
		-p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$3\",\"podIPs\":[{\"ip\":\"$3\"}]}}"
}
kcreate() { kubectl -n "$NS" create -f -; }

# ---------------------------------------------------------------- set-up
if ! kubectl version >/dev/null 2>&1; then
	t_fail "control plane reachable" "kubectl cannot reach the API server (KUBECONFIG=${KUBECONFIG:-unset})"
	t_done
	exit 1
fi
if [ ! -x "$OPERATOR" ]; then
	t_fail "operator built" "$OPERATOR is missing: make build/selvedge-operator"
	t_done
	exit 1
fi
check "apply CRDs (server-side)" kubectl apply --server-side --force-conflicts -f "$ROOT/crds/"
check "CRDs established" kubectl wait --for=condition=Established --timeout=60s \
	crd/$SP crd/$TS
for n in "$NS" "$NS2" "$LNS"; do
	check "create namespace $n" kubectl create namespace "$n"
done

# ---------------------------------------------------------------- 1. endpoints and metrics
start_op a "$NODE_A" "$ID_A" "$KUBECONFIG"
check_eventually "A: /readyz answers 200" http_is a /readyz 200
check_output "A: /healthz answers 200" '^200$' http_code a /healthz
check_output "A: an unknown path answers 404" '^404$' http_code a /nope
check_eventually "A: logs caches synced" logged a 'msg="caches synced"'
check_eventually "A: logs became leader" logged a 'msg="became leader"'
check "A: promtool check metrics passes" promtool_check a
check_eventually 'A: selvedge_operator_cache_synced{resource="servicepolicies"} 1' \
	metric_is a 'selvedge_operator_cache_synced{resource="servicepolicies"}' 1
check_eventually "A: selvedge_operator_leader 1" metric_is a selvedge_operator_leader 1
check_eventually "A: the record file is written, for node A" rec "$REC_A" '.version == 2 and .node == $node' \
	--arg node "$NODE_A"
check "A: the state dir holds the same state" cmp "$REC_A" "$TMP/state-$NODE_A/state.json"

# ---------------------------------------------------------------- 2. pods, services, slices
check "create pod web-1 on node A" make_pod "$NS" web-1 "$NODE_A" web '{app: web}' "$WEB1"
check "create pod web-2 on node R" make_pod "$NS" web-2 "$NODE_R" web '{app: web}' "$WEB2"
check "create pod client-1 on node R" make_pod "$NS" client-1 "$NODE_R" client '{app: client}' "$CLIENT"
check "create pod other-1 in $NS2 on node R" make_pod "$NS2" other-1 "$NODE_R" robot '{app: other}' "$OTHER"
check "create Service web" kcreate <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
check "create EndpointSlice of web (one endpoint not ready)" kcreate <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["$WEB1"], conditions: {ready: true}, nodeName: $NODE_A}
- {addresses: ["$WEB2"], conditions: {ready: true}, nodeName: $NODE_R}
- {addresses: ["$UNREADY"], conditions: {ready: false}, nodeName: $NODE_R}
EOF
check_eventually "record: local pod web-1 with identity $NS/web, and only it" rec "$REC_A" \
	'[.localPods[] | select(.namespace == $ns)] == [{namespace: $ns, name: "web-1", identity: "\($ns)/web", ips: [$web1]}]'
check_eventually "record: identities of all four pods" rec "$REC_A" \
	'idof($web1) == "\($ns)/web" and idof($web2) == "\($ns)/web" and
	idof($client) == "\($ns)/client" and idof($other) == "\($ns2)/robot"'
web_vips=$(kubectl -n "$NS" get service web -o json | jq -c '.spec.clusterIPs')
check_eventually "record: Service web with cluster IPs, ports and ready endpoints (the local one too)" rec "$REC_A" \
	'.services[] | select(.namespace == $ns and .name == "web") |
	.clusterIPs == $vips and
	.ports == [{name: "http", protocol: "TCP", port: 80, targetPort: 8080}] and
	.endpoints == ([$web1, $web2] | sort) and .localEndpoints == [$web1]' \
	--argjson vips "$web_vips"
# The compile keeps the Services part between compiles: a slice change must
# reach it.
check "EndpointSlice of web: the third endpoint becomes ready" kubectl -n "$NS" patch endpointslice \
	web-abcde --type=json -p '[{"op":"replace","path":"/endpoints/2/conditions/ready","value":true}]'
check_eventually "record: Service web lists it" rec "$REC_A" \
	'.services[] | select(.namespace == $ns and .name == "web") |
	.endpoints == ([$web1, $web2, $unready] | sort) and .localEndpoints == [$web1]' --arg unready "$UNREADY"
check "and not ready again" kubectl -n "$NS" patch endpointslice web-abcde --type=json \
	-p '[{"op":"replace","path":"/endpoints/2/conditions/ready","value":false}]'
check_eventually "record: Service web without it" rec "$REC_A" \
	'.services[] | select(.namespace == $ns and .name == "web") | .endpoints == ([$web1, $web2] | sort)'
# An update that changes nothing the operator keeps of a pod (a condition in
# its status, as the kubelet writes them all the time) is dropped at the
# informer: no compile. A label is kept: that compiles.
SYNCS=selvedge_operator_sync_duration_seconds_count
UNCHANGED='selvedge_operator_unchanged_updates_total{resource="pods_local"}'
unchanged=$(metric a "$UNCHANGED")
syncs=$(metric a "$SYNCS")
check "pod web-1: its Ready condition is set (status only)" kubectl -n "$NS" patch pod web-1 \
	--subresource=status --type=merge -p '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}'
check_eventually "A: counted as an unchanged update of pods_local" metric_above a "$UNCHANGED" "$unchanged"
sleep 0.5
check_output "A: and no compile followed it" "^$syncs\$" metric a "$SYNCS"
check "pod web-1: a label is added" kubectl -n "$NS" label pod web-1 tier=front
check_eventually "A: that compiles" metric_above a "$SYNCS" "$syncs"
check_output "A: and is no unchanged update" "^$((unchanged + 1))\$" metric a "$UNCHANGED"

# ---------------------------------------------------------------- 2. ServicePolicy
check "create ServicePolicy web-allow" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: web-allow}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    - serviceAccount: {name: robot, namespace: $NS2}
    - namespaceSelector: {matchLabels: {$PEER_LABEL: "$RUN"}}
    ports: [{port: 8080}]
EOF
check_eventually "record: web-allow, generation 1, Allow, targets = the local web pod only" rec "$REC_A" \
	'pol("web-allow") | .generation == 1 and .action == "Allow" and .targets == [$web1] and
	.uid == $uid' --arg uid "$(uid_of $SP web-allow)"
check_output "record: web-allow's rule has three peers and port 8080/TCP" '^true$' rec "$REC_A" \
	'pol("web-allow").ingress | length == 1 and (.[0].peers | length) == 3 and
	.[0].ports == [{port: 8080, protocol: "TCP"}]'
check_output "record: podSelector peer group = the client pod" '^true$' rec "$REC_A" \
	'group("web-allow"; 0; 0) == [$client]'
check_output "record: serviceAccount peer group = the robot pod of $NS2" '^true$' rec "$REC_A" \
	'group("web-allow"; 0; 1) == [$other]'
check_output "record: namespaceSelector peer group is empty (no namespace labelled)" '^true$' rec "$REC_A" \
	'group("web-allow"; 0; 2) == []'
check_output "record: web-allow listed in objects" '^true$' rec "$REC_A" \
	'any(.objects[]; . == {kind: "ServicePolicy", namespace: $ns, name: "web-allow", uid: $uid, generation: 1})' \
	--arg uid "$(uid_of $SP web-allow)"

check "update web-allow: action Deny" kubectl -n "$NS" patch $SP web-allow --type=merge -p '{"spec":{"action":"Deny"}}'
check_eventually "record: web-allow at generation 2, action Deny" rec "$REC_A" \
	'pol("web-allow") | .generation == 2 and .action == "Deny" and .targets == [$web1]'

check "label namespace $NS2 $PEER_LABEL=$RUN" kubectl label namespace "$NS2" "$PEER_LABEL=$RUN"
check_eventually "record: namespaceSelector peer group now holds $NS2's pod" rec "$REC_A" \
	'group("web-allow"; 0; 2) == [$other]'
check "remove the label from $NS2" kubectl label namespace "$NS2" "$PEER_LABEL-"
check_eventually "record: namespaceSelector peer group empty again" rec "$REC_A" \
	'group("web-allow"; 0; 2) == []'

check "change client-1's IP" set_pod_ip "$NS" client-1 "$CLIENT2"
check_eventually "record: identities follow the new IP, the old one is gone" rec "$REC_A" \
	'idof($client2) == "\($ns)/client" and idof($client) == null'
check_eventually "record: podSelector peer group follows the new IP" rec "$REC_A" \
	'group("web-allow"; 0; 0) == [$client2]'
check "delete pod client-1" kubectl -n "$NS" delete pod client-1 --force --grace-period=0
check_eventually "record: client-1's IP is gone from identities" rec "$REC_A" \
	'idof($client2) == null'
check_eventually "record: podSelector peer group is empty" rec "$REC_A" \
	'group("web-allow"; 0; 0) == []'
check "pod web-2 finishes (phase Succeeded)" kubectl -n "$NS" patch pod web-2 --subresource=status \
	--type=merge -p '{"status":{"phase":"Succeeded"}}'
check_eventually "record: a finished pod's IP is not an identity" rec "$REC_A" \
	'idof($web2) == null'
check "change web-allow's podSelector to match nothing" kubectl -n "$NS" patch $SP web-allow --type=merge \
	-p '{"spec":{"podSelector":{"matchLabels":{"app":"none"}}}}'
check_eventually "record: generation 3, no targets" rec "$REC_A" \
	'pol("web-allow") | .generation == 3 and .targets == []'
check "change it back" kubectl -n "$NS" patch $SP web-allow --type=merge \
	-p '{"spec":{"podSelector":{"matchLabels":{"app":"web"}}}}'
check_eventually "record: generation 4, targets the local web pod again" rec "$REC_A" \
	'pol("web-allow") | .generation == 4 and .targets == [$web1]'

# ---------------------------------------------------------------- 2. TrafficSplit
for s in web-v1 web-v2 api api-v1 shop shop-v1 web-v3; do
	kubectl -n "$NS" create service clusterip "$s" --tcp=80:8080 >/dev/null || t_fail "create Service $s"
done
# Split backends need a ready endpoint to take traffic (web-v3 has none).
for s in web-v1 web-v2 shop-v1; do
	kubectl apply -f - >/dev/null <<EOF || t_fail "EndpointSlice of $s"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $s-1, namespace: $NS, labels: {kubernetes.io/service-name: $s}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: ["$WEB2"], conditions: {ready: true}, nodeName: $NODE_R}]
EOF
done
check "create TrafficSplit web-split 99/1" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: web-split}
spec:
  service: web
  backends: [{service: web-v1, weight: 99}, {service: web-v2, weight: 1}]
EOF
check_eventually "record: web-split, generation 1, 99/1, mode Auto resolved to Connection" rec "$REC_A" \
	'split("web-split") | .generation == 1 and .service == "web" and .mode == "Connection" and
	.backends == [{service: "web-v1", weight: 99}, {service: "web-v2", weight: 1}] and
	(has("matches") | not) and .uid == $uid' --arg uid "$(uid_of $TS web-split)"
check "update web-split to 50/50" kubectl -n "$NS" patch $TS web-split --type=merge \
	-p '{"spec":{"backends":[{"service":"web-v1","weight":50},{"service":"web-v2","weight":50}]}}'
check_eventually "record: web-split at generation 2, 50/50" rec "$REC_A" \
	'split("web-split") | .generation == 2 and .mode == "Connection" and
	.backends == [{service: "web-v1", weight: 50}, {service: "web-v2", weight: 50}]'
check "add a header match to web-split" kubectl -n "$NS" patch $TS web-split --type=merge \
	-p '{"spec":{"matches":[{"headers":{"x-canary":"true"},"backend":"web-v2"}]}}'
check_eventually "record: generation 3, mode Auto resolved to Request, with the match" rec "$REC_A" \
	'split("web-split") | .generation == 3 and .mode == "Request" and
	.matches == [{headers: {"x-canary": "true"}, backend: "web-v2"}]'

# ---------------------------------------------------------------- 3. status of valid objects
for o in "$SP web-allow" "$TS web-split"; do
	read -r kind name <<<"$o"
	check_eventually "$name: observedGeneration current; Accepted, Programmed, Ready True; Reconciling, Stalled False" \
		healthy "$kind" "$name"
	check_eventually "$name: Programmed on 1 of 1 nodes" programmed_on "$kind" "$name" 1 1
	check_output "$name: status written by $ID_A only" "^$ID_A\$" status_managers "$kind" "$name"
	check_output "$name: node A's report Lease lists its uid at the current generation" '^true$' \
		report_has "$NODE_A" "$(uid_of "$kind" "$name")" "$(objv "$kind" "$name" .metadata.generation)"
done
check_output "READY column of kubectl get shows True" 'web-allow +Deny +True' kubectl -n "$NS" get $SP web-allow
# A node of a release before 7 Dec 2026 keeps heartbeat and report in one
# Lease: it counts, once.
legacy_gen=$(objv $SP web-allow .metadata.generation)
check "a node of an older release reports web-allow in one Lease" kubectl -n "$LNS" create -f - <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: selvedge-node-legacy-node
  labels: {selvedge.dev/node-report: "true"}
  annotations:
    selvedge.dev/programmed: '{"$(uid_of $SP web-allow)": $legacy_gen}'
    selvedge.dev/failed: '{}'
spec: {holderIdentity: legacy-node, leaseDurationSeconds: 60, renewTime: "2026-01-01T00:00:00.000000Z"}
EOF
check_eventually "web-allow: Programmed on 2 of 2 nodes (the older one counted once)" \
	programmed_on $SP web-allow 2 2
check "its Lease goes" kubectl -n "$LNS" delete lease selvedge-node-legacy-node
check_eventually "web-allow: Programmed on 1 of 1 nodes again" programmed_on $SP web-allow 1 1
# The heartbeat Lease is apart from the report: every operator's watch reads
# it every 20 s, and it carries no report (was the whole report, 44 KB at
# 1,000 policies).
heartbeat_lease() { kubectl -n "$LNS" get lease "selvedge-node-$NODE_A" -o json; }
heartbeat_ok() {
	heartbeat_lease | jq_e '.metadata.labels["selvedge.dev/node-report"] == "true" and
		(.spec.renewTime | length > 0) and (.metadata.annotations // {} | length == 0)'
}
check_output "node A's heartbeat Lease renews, labelled, without the report" '^true$' heartbeat_ok
heartbeat_small() { heartbeat_lease | jq -c 'del(.metadata.managedFields)' | jq_e -R 'length < 1024'; }
check_output "and it is small (under 1 KB as JSON)" '^true$' heartbeat_small
# The report is written on change only; one deleted (or edited) by someone
# else is written again at the node's next heartbeat (20 s).
syncs=$(metric a "$SYNCS")
check "someone deletes node A's report Lease" kubectl -n "$LNS" delete lease "selvedge-report-$NODE_A"
check "node A writes it again within a heartbeat period" wait_for 30 \
	report_has "$NODE_A" "$(uid_of $SP web-allow)" "$(objv $SP web-allow .metadata.generation)"
check_output "without a compile in between (no change made it write)" "^$syncs\$" metric a "$SYNCS"
# The leader remembers which statuses it found right; a copy changed by
# someone else is a new copy and is looked at again.
check "someone else sets web-allow's conditions to Programmed False" kubectl -n "$NS" patch $SP web-allow \
	--subresource=status --type=merge -p '{"status":{"conditions":[{"type":"Programmed","status":"False",
	"reason":"Tampered","message":"set by hand","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
check_eventually "web-allow: the leader puts its status back" healthy $SP web-allow
check "web-split: add backend web-v3, which has no ready endpoint" kubectl -n "$NS" patch $TS web-split \
	--type=json -p '[{"op":"add","path":"/spec/backends/-","value":{"service":"web-v3","weight":5}}]'
check_eventually "web-split: Accepted True, Ready False BackendUnavailable naming web-v3" \
	obj $TS web-split 'current and cond("Accepted").status == "True" and
	cond("Ready").status == "False" and cond("Ready").reason == "BackendUnavailable" and
	(cond("Ready").message | contains("web-v3"))'
check "web-split: remove web-v3 again" kubectl -n "$NS" patch $TS web-split --type=json \
	-p '[{"op":"remove","path":"/spec/backends/2"}]'
check_eventually "web-split: Ready again" healthy $TS web-split

# ---------------------------------------------------------------- 4. invalid references
check "create ServicePolicy sp-missing (targetRef to a missing Service)" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: sp-missing}
spec:
  targetRef: {name: late}
  ingress: [{ports: [{port: 8080}]}]
EOF
check_eventually "sp-missing: Accepted False, Ready False, Stalled True, reason BackendNotFound; Reconciling False" \
	broken $SP sp-missing BackendNotFound
check_output "sp-missing: the message names the Service" '^true$' \
	obj $SP sp-missing 'cond("Accepted").message | contains("/late")'
check_eventually "sp-missing: a Warning Event BackendNotFound regarding it" \
	has_event sp-missing ServicePolicy BackendNotFound
check_output "sp-missing: it is still compiled (what resolves is enforced)" '^true$' rec "$REC_A" \
	'pol("sp-missing") | .targets == []'
# A change of another policy alone reuses sp-missing's compile: its problem
# must still count.
check "create ServicePolicy sp-bystander (an unrelated change)" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: sp-bystander}
spec:
  podSelector: {matchLabels: {app: nobody}}
  ingress: [{ports: [{port: 9}]}]
EOF
check_eventually "record: sp-bystander compiled" rec "$REC_A" 'pol("sp-bystander") != null'
check_steady "sp-missing stays BackendNotFound for 3 s after it" 3 broken $SP sp-missing BackendNotFound
check "delete sp-bystander" kubectl -n "$NS" delete $SP sp-bystander
check "create the Service late" kubectl -n "$NS" create service clusterip late --tcp=80:8080
check_eventually "sp-missing: recovers to Accepted/Programmed/Ready True" healthy $SP sp-missing

check "create TrafficSplit ts-missing (one backend missing)" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: ts-missing}
spec:
  service: api
  backends: [{service: api-v1, weight: 50}, {service: api-nope, weight: 50}]
EOF
check_eventually "ts-missing: Accepted False, Ready False, Stalled True, reason BackendNotFound; Reconciling False" \
	broken $TS ts-missing BackendNotFound
check_output "ts-missing: the message names the missing backend" '^true$' \
	obj $TS ts-missing 'cond("Accepted").message | contains("api-nope")'
check_eventually "ts-missing: a Warning Event BackendNotFound regarding it" \
	has_event ts-missing TrafficSplit BackendNotFound
check_output "record: ts-missing keeps the backend that exists" '^true$' rec "$REC_A" \
	'split("ts-missing").backends == [{service: "api-v1", weight: 50}]'

check "create TrafficSplit shop-z on Service shop" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: shop-z}
spec: {service: shop, backends: [{service: shop-v1, weight: 1}]}
EOF
# creationTimestamp has a resolution of one second: make shop-a clearly
# younger, although its name sorts first.
sleep 1.1
check "create TrafficSplit shop-a on the same Service, later" kcreate <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: shop-a}
spec: {service: shop, backends: [{service: shop-v1, weight: 1}]}
EOF
check_eventually "shop-a (younger): Accepted False, Ready False, Stalled True, reason Conflicted; Reconciling False" \
	broken $TS shop-a Conflicted
check_output "shop-a: the message names the owner shop-z" '^true$' \
	obj $TS shop-a 'cond("Accepted").message | contains("shop-z")'
check_eventually "shop-z (older): healthy" healthy $TS shop-z
check_output "record: shop-z is compiled, shop-a is not" '^true$' rec "$REC_A" \
	'([.splits[] | select(.namespace == $ns and .service == "shop") | .name] == ["shop-z"]) and
	(has_object("shop-a") | not)'
check_eventually "shop-a: a Warning Event Conflicted regarding it" has_event shop-a TrafficSplit Conflicted

# ---------------------------------------------------------------- 5. no hot loop
check_eventually "everything converged: web-allow, web-split, sp-missing, shop-z healthy" \
	eval "healthy $SP web-allow && healthy $TS web-split && healthy $SP sp-missing && healthy $TS shop-z"
rv_sp=$(objv $SP web-allow .metadata.resourceVersion)
rv_ts=$(objv $TS web-split .metadata.resourceVersion)
writes=$(metric a selvedge_operator_status_writes_total)
check_steady "web-allow's and web-split's resourceVersion stay the same for 5 s" 5 \
	eval "[ \"\$(objv $SP web-allow .metadata.resourceVersion)\" = $rv_sp ] &&
		[ \"\$(objv $TS web-split .metadata.resourceVersion)\" = $rv_ts ]"
check_output "selvedge_operator_status_writes_total unchanged ($writes)" "^$writes\$" \
	metric a selvedge_operator_status_writes_total
check_output "one BackendNotFound Event for ts-missing (once per generation and reason)" '^1$' \
	event_count ts-missing TrafficSplit BackendNotFound
check_output "one BackendNotFound Event for sp-missing" '^1$' \
	event_count sp-missing ServicePolicy BackendNotFound

# ---------------------------------------------------------------- 6. leader election
start_op b "$NODE_B" "$ID_B" "$KUBECONFIG"
check_eventually "B: /readyz answers 200" http_is b /readyz 200
check_eventually "B: its record has web-allow without targets (web-1 is on node A)" rec "$REC_B" \
	'pol("web-allow") | .generation == 4 and .targets == []'
check_eventually "web-allow: Programmed on 2 of 2 nodes" programmed_on $SP web-allow 2 2
check_eventually "web-split: Programmed on 2 of 2 nodes" programmed_on $TS web-split 2 2
check_output "exactly one leader: A 1, B 0" '^1 0$' echo "$(metric a selvedge_operator_leader) $(metric b selvedge_operator_leader)"
check_output "the leader Lease is held by $ID_A" "^$ID_A\$" lease_holder
check_output "web-allow: status written by $ID_A only" "^$ID_A\$" status_managers $SP web-allow
check_output "web-split: status written by $ID_A only" "^$ID_A\$" status_managers $TS web-split
check "B never logged became leader" eval "! logged b 'msg=\"became leader\"'"

mf_a=$(mf_time $SP web-allow "$ID_A")
check "web-allow: $ID_A's status write is on record ($mf_a)" [ -n "$mf_a" ]
t0=$(now_ms)
stop_op a KILL
if wait_for $((LEASE + 5)) logged b 'msg="became leader"'; then
	took=$(($(now_ms) - t0))
	printf '# takeover after kill -9 of the leader: %d.%03d s (lease duration %d s)\n' \
		$((took / 1000)) $((took % 1000)) "$LEASE"
	# The lease was renewed at most a retry period before the kill, and B
	# counts the duration from when it saw that renewal.
	if [ "$took" -le $(((LEASE + 3) * 1000)) ] && [ "$took" -ge $(((LEASE - RETRY) * 1000 - 500)) ]; then
		t_pass "kill -9: B takes over after the lease duration, not before ($took ms)"
	else
		t_fail "kill -9: B takes over after the lease duration, not before" "took $took ms"
	fi
else
	t_fail "kill -9: B takes over within $((LEASE + 5)) s"
fi
check_eventually "B: selvedge_operator_leader 1" metric_is b selvedge_operator_leader 1
check_output "the leader Lease is held by $ID_B" "^$ID_B\$" lease_holder
check "update web-allow (ports 8080 -> 8443)" kubectl -n "$NS" patch $SP web-allow --type=json \
	-p '[{"op":"replace","path":"/spec/ingress/0/ports/0/port","value":8443}]'
check_eventually "web-allow: generation 5 observed; Programmed False NotProgrammed \"1 of 2 nodes\" (A is down)" \
	obj $SP web-allow 'current and .metadata.generation == 5 and
	(cond("Accepted").status == "True") and
	(cond("Programmed") | .status == "False" and .reason == "NotProgrammed" and .message == "1 of 2 nodes") and
	(cond("Ready") | .status == "False" and .reason == "NotProgrammed") and
	(cond("Reconciling") | .status == "True" and .reason == "NotProgrammed") and
	(cond("Stalled").status == "False")'
check_output "web-allow: the new status is written by $ID_B" "(^|,)$ID_B(,|\$)" status_managers $SP web-allow
check "web-allow: $ID_A did not write after the kill" mf_same $SP web-allow "$ID_A" "$mf_a"

start_op a "$NODE_A" "$ID_A" "$KUBECONFIG"
check_eventually "A restarted: /readyz 200" http_is a /readyz 200
check_eventually "A restarted: reports web-allow at generation 5" \
	report_has "$NODE_A" "$(uid_of $SP web-allow)" 5
check_eventually "web-allow: rollout finished, Programmed on 2 of 2 nodes, Ready True" \
	eval "healthy $SP web-allow && programmed_on $SP web-allow 2 2"
check_output "A restarted as a follower: selvedge_operator_leader 0" '^0$' metric a selvedge_operator_leader
check "web-allow: $ID_A (a follower) did not write" mf_same $SP web-allow "$ID_A" "$mf_a"

t0=$(now_ms)
stop_op b TERM
check_output "graceful stop of B: exit status 0" '^0$' echo "$STOP_RC"
check_output "B logged stopping" 'msg=stopping signal=15' cat "${LOG[b]}"
if wait_for $((LEASE + 5)) logged a 'msg="became leader"'; then
	took=$(($(now_ms) - t0))
	printf '# takeover after a graceful stop of the leader: %d.%03d s\n' $((took / 1000)) $((took % 1000))
	if [ "$took" -lt $(((LEASE - RETRY) * 1000)) ]; then
		t_pass "graceful stop: A takes over before the lease would expire ($took ms)"
	else
		t_fail "graceful stop: A takes over before the lease would expire" "took $took ms"
	fi
else
	t_fail "graceful stop: A takes over"
fi
check "update web-allow (generation 6)" kubectl -n "$NS" patch $SP web-allow --type=json \
	-p '[{"op":"replace","path":"/spec/ingress/0/ports/0/port","value":9443}]'
check_eventually "web-allow: generation 6 observed, written by $ID_A" \
	eval "obj $SP web-allow 'current and .metadata.generation == 6' && status_managers $SP web-allow | grep -q $ID_A"

# A paused leader (SIGSTOP) loses the lease and, once resumed, must not write.
start_op b "$NODE_B" "$ID_B" "$KUBECONFIG"
check_eventually "B restarted: /readyz 200" http_is b /readyz 200
check_eventually "web-allow: Programmed on 2 of 2 nodes again" programmed_on $SP web-allow 2 2
mf_a=$(mf_time $SP web-allow "$ID_A")
check "web-allow: $ID_A's status write is on record ($mf_a)" [ -n "$mf_a" ]
t0=$(now_ms)
kill -STOP "${PID[a]}"
if wait_for $((LEASE + 5)) logged b 'msg="became leader"'; then
	took=$(($(now_ms) - t0))
	printf '# takeover from a paused leader: %d.%03d s\n' $((took / 1000)) $((took % 1000))
	t_pass "SIGSTOP: B takes over from the paused leader"
else
	t_fail "SIGSTOP: B takes over from the paused leader"
fi
kill -CONT "${PID[a]}"
check_eventually "A resumed: logs stopped leading" logged a 'msg="stopped leading"'
check_eventually "A resumed: selvedge_operator_leader 0" metric_is a selvedge_operator_leader 0
check "update web-allow (generation 7)" kubectl -n "$NS" patch $SP web-allow --type=json \
	-p '[{"op":"replace","path":"/spec/ingress/0/ports/0/port","value":7443}]'
check_eventually "web-allow: generation 7 observed and Programmed on 2 of 2 nodes" \
	eval "healthy $SP web-allow && programmed_on $SP web-allow 2 2 && obj $SP web-allow '.metadata.generation == 7'"
check_output "web-allow: status now written by $ID_B" "(^|,)$ID_B(,|\$)" status_managers $SP web-allow
check "web-allow: the resumed $ID_A did not write" mf_same $SP web-allow "$ID_A" "$mf_a"
check_output "exactly one leader: A 0, B 1" '^0 1$' echo "$(metric a selvedge_operator_leader) $(metric b selvedge_operator_leader)"

# ---------------------------------------------------------------- 2. deletes
uid_sp=$(uid_of $SP web-allow)
uid_ts=$(uid_of $TS web-split)
check "delete ServicePolicy web-allow" kubectl -n "$NS" delete $SP web-allow
check_eventually "record A: web-allow gone from policies and objects" rec "$REC_A" \
	'([pol("web-allow")] == []) and (has_object("web-allow") | not)'
check_eventually "record B: web-allow gone" rec "$REC_B" '[pol("web-allow")] == []'
check_eventually "node A's report no longer lists web-allow" report_lacks "$NODE_A" "$uid_sp"
check "delete TrafficSplit web-split" kubectl -n "$NS" delete $TS web-split
check_eventually "record A: web-split gone from splits and objects" rec "$REC_A" \
	'([split("web-split")] == []) and (has_object("web-split") | not)'
check_eventually "node A's report no longer lists web-split" report_lacks "$NODE_A" "$uid_ts"
check "delete TrafficSplit shop-z" kubectl -n "$NS" delete $TS shop-z
check_eventually "shop-a now owns Service shop: healthy" healthy $TS shop-a
check_eventually "record A: shop-a compiled" rec "$REC_A" 'split("shop-a").service == "shop"'

# ---------------------------------------------------------------- 7. persisted state
stop_op a TERM
check_output "graceful stop of A (follower): exit status 0" '^0$' echo "$STOP_RC"
stop_op b TERM
check_output "graceful stop of B (leader): exit status 0" '^0$' echo "$STOP_RC"
check_output "the stopped leader released the Lease (holderIdentity empty)" '^$' lease_holder
cp "$REC_A" "$TMP/rec-saved.json"
n_objects=$(jq '.objects | length' "$TMP/rec-saved.json")
rm -f "$REC_A"
closed=$(free_port)
sed "s#^\( *server:\).*#\1 https://127.0.0.1:$closed#" "$KUBECONFIG" >"$TMP/offline.kubeconfig"
check_output "offline kubeconfig points to a closed port" "server: https://127.0.0.1:$closed" \
	cat "$TMP/offline.kubeconfig"
start_op off "$NODE_A" "$ID_A" "$TMP/offline.kubeconfig"
check_eventually "offline: logs re-applied the persisted state ($n_objects objects)" \
	logged off "msg=\"re-applied the persisted state\" objects=$n_objects"
check_eventually "offline: the record file is re-written with the same content" \
	cmp -s "$TMP/rec-saved.json" "$REC_A"
check_eventually "offline: /readyz 200 without the API server" http_is off /readyz 200
check_output "offline: /healthz 200" '^200$' http_code off /healthz
check_output 'offline: cache_synced{resource="servicepolicies"} 0' '^0$' \
	metric off 'selvedge_operator_cache_synced{resource="servicepolicies"}'
check_output "offline: not leader" '^0$' metric off selvedge_operator_leader
check "offline: never logged caches synced" eval "! logged off 'msg=\"caches synced\"'"
cpu0=$(awk '{print $14 + $15}' "/proc/${PID[off]}/stat")
sleep 2
cpu1=$(awk '{print $14 + $15}' "/proc/${PID[off]}/stat")
ticks=$((cpu1 - cpu0))
check "offline: no busy loop ($ticks CPU ticks in 2 s, < 0.3 s)" [ "$ticks" -lt $(($(getconf CLK_TCK) * 3 / 10)) ]

# ---------------------------------------------------------------- 8. bad flags
bad() { timeout 10 "$OPERATOR" --kubeconfig "$KUBECONFIG" --state-dir "$TMP/state-bad" --namespace "$LNS" "$@"; }
check_fails_with "missing --node-name" 'selvedge-operator: --node-name \(or \$NODE_NAME\) is required' \
	env -u NODE_NAME timeout 10 "$OPERATOR" --kubeconfig "$KUBECONFIG"
check_fails_with "bad --metrics-addr" 'bad --metrics-addr.*value=nonsense' \
	bad --node-name "$NODE_B" --metrics-addr nonsense
check_fails_with "--metrics-addr port out of range" 'bad --metrics-addr' \
	bad --node-name "$NODE_B" --metrics-addr 127.0.0.1:70000
check_fails_with "--metrics-addr already in use" 'cannot serve metrics' \
	bad --node-name "$NODE_B" --metrics-addr "127.0.0.1:${PORT[off]}"
check_fails_with "unknown --backend" 'unknown backend \\"bogus\\" \(expected none, nftables or record:/abs/path\)' \
	bad --node-name "$NODE_B" --backend bogus
check_fails_with "--backend record: with a relative path" 'unknown backend' \
	bad --node-name "$NODE_B" --backend record:rel/file.json
check_fails_with "renew deadline not below the lease duration" 'need 0 < retry-period < renew-deadline < lease-duration' \
	bad --node-name "$NODE_B" --lease-duration 5 --renew-deadline 5
check_fails_with "non-numeric --lease-duration" '--lease-duration: "soon" is not a number' \
	bad --node-name "$NODE_B" --lease-duration soon
check_fails_with "unknown --log-level" 'unknown --log-level "loud"' \
	bad --node-name "$NODE_B" --log-level loud
check_fails_with "unknown flag prints the usage" 'Usage: selvedge-operator --node-name NODE' \
	bad --node-name "$NODE_B" --bogus

stop_op off TERM
check_output "offline: SIGTERM stops it with exit status 0" '^0$' echo "$STOP_RC"

t_done
