#!/usr/bin/env bash
# The CNI hand-off end to end: selvedge-cni, chained after bridge + host-local
# and driven by cnitool on a node in a network namespace, talks to the real
# selvedge-operator over its agent socket; the operator knows the pods from the
# real apiserver. An ADD is confirmed only once the pod's address is in the
# node's applied state (before the kubelet would report it), an unknown pod is
# refused with "try again later", DEL takes the pod out, and pods wired while
# the operator was down are meshed when it comes back.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
TOPO_TAG=oc$$
# The agent answers an ADD once the node's whole state is recompiled and
# applied; on a cluster holding the benchmark's 10,000 pods that is more than
# the stand-in agent's 500 ms.
TOPO_AGENT_TIMEOUT_MS=5000
# shellcheck source=tests/lib/cni-topology.sh
. "$(dirname "$0")/../lib/cni-topology.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPERATOR=${SELVEDGE_BUILD:-$ROOT/build}/selvedge-operator
NODE_NAME=opcni-node-$$
LEASE_NS=opcni-$$
LABEL=opcni-$$
OP_PID=
RECORD=$TOPO_DIR/record.json

cleanup() {
	[ -z "$OP_PID" ] || kill "$OP_PID" 2>/dev/null
	[ "$T_FAIL" -eq 0 ] || sed 's/^/#   /' "$TOPO_DIR/operator.log" 2>/dev/null | tail -20
	kubectl -n dev delete pods -l "app=$LABEL" --grace-period=0 --force >/dev/null 2>&1
	kubectl -n dev delete servicepolicy "$LABEL" --ignore-not-found >/dev/null 2>&1
	kubectl delete namespace "$LEASE_NS" --wait=false >/dev/null 2>&1
	topo_cleanup
}
trap cleanup EXIT


MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
local_pods_cached() {
	curl -sf "http://127.0.0.1:$MPORT/metrics" |
		grep -qx "selvedge_operator_cache_objects{resource=\"pods_local\"} $1"
}
op_start() {
	"$OPERATOR" --node-name "$NODE_NAME" --namespace "$LEASE_NS" --kubeconfig "$KUBECONFIG" \
		--state-dir "$TOPO_DIR/operator" --backend "record:$RECORD" \
		--metrics-addr "127.0.0.1:$MPORT" --agent-socket "$TOPO_DIR/agent.sock" \
		--cni-state-dir "$TOPO_DIR/state" --debounce-ms 20 \
		</dev/null >/dev/null 2>>"$TOPO_DIR/operator.log" &
	OP_PID=$!
	wait_for 20 grep -q 'caches synced' "$TOPO_DIR/operator.log"
}
op_stop() {
	kill "$OP_PID" 2>/dev/null
	wait "$OP_PID" 2>/dev/null
	OP_PID=
}

# api_pod NAME: a Pod on our node in namespace dev (which topo_cni names).
api_pod() {
	kubectl apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: dev, labels: {app: $LABEL}}
spec:
  nodeName: $NODE_NAME
  serviceAccountName: web
  containers: [{name: c, image: pause}]
EOF
}

local_ip_of() { jq -r --arg n "$1" '.localPods[] | select(.name == $n) | .ips[0]' "$RECORD"; }
has_local_ip() { [ "$(local_ip_of "$1")" = "$2" ]; }
no_local() { [ -z "$(local_ip_of "$1")" ]; }
targets() { jq -r --arg n "$LABEL" '.policies[] | select(.name == $n) | .targets | join(",")' "$RECORD"; }

check "namespace dev" sh -c "kubectl create namespace dev --dry-run=client -o yaml | kubectl apply -f -"
check "lease namespace" kubectl create namespace "$LEASE_NS"
check "a policy selecting the test pods" kubectl apply -f - <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: $LABEL, namespace: dev}
spec:
  podSelector: {matchLabels: {app: $LABEL}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
EOF
topo_net fail 1.1.0 Fail
topo_net ignore 1.1.0 Ignore
# Not through check (a subshell): OP_PID must stay set.
if op_start; then t_pass "operator started and synced"; else t_fail "operator started and synced"; fi
check "the agent socket is only for root (0600)" sh -c "stat -c %a '$TOPO_DIR/agent.sock' | grep -qx 600"

# ---- ADD of a pod the API knows ------------------------------------------
a=sv-$TOPO_TAG-a
check "pod $a in the API (no IP reported)" api_pod "$a"
check "the operator sees it" wait_for 10 local_pods_cached 1
topo_pod "$a"
check "Fail policy: ADD succeeds with the operator answering" topo_cni fail 1.1.0 add "$a"
ip=$(pod_ip4 "$a")
# No wait: the agent answers only once the address is in the applied state.
check "at once: the pod's address is in the node's state" has_local_ip "$a" "$ip"
# shellcheck disable=SC2016 # $ip is jq's
check_output "at once: its identity comes from the API" "dev/web" \
	jq -r --arg ip "$ip" '.identities | to_entries[] | select(.value | index([$ip])) | .key' "$RECORD"
check_output "at once: the policy selecting it targets that address" "$ip" targets
check_output "the record is meshed, with the service account" '"meshed":true.*"serviceAccount":"web"|"serviceAccount":"web".*"meshed":true' \
	sh -c "cat $TOPO_DIR/state/pods/*.json"
check "STATUS passes with the operator up" topo_cni fail 1.1.0 status "$a"

# ---- ADD of a pod the API does not know ----------------------------------
b=sv-$TOPO_TAG-b
topo_pod "$b"
check_fails_with "unknown pod: ADD is refused (the kubelet will retry)" 'mesh agent refused: pod .* is not known on node' \
	topo_cni fail 1.1.0 add "$b"
check_output "and leaves no record behind" '^1$' state_records

# ---- DEL -----------------------------------------------------------------
check "DEL" topo_cni fail 1.1.0 del "$a"
check "the pod's address leaves the state" wait_for 10 no_local "$a"
check "and the policy's targets" wait_for 10 sh -c "[ -z \"\$(jq -r --arg n $LABEL '.policies[] | select(.name == \$n) | .targets | join(\",\")' $RECORD)\" ]"

# ---- pods wired while the operator is down --------------------------------
op_stop
c=sv-$TOPO_TAG-c
check "pod $c in the API" api_pod "$c"
topo_pod "$c"
check_fails_with "operator down: STATUS is not available (code 50)" '"code":50' \
	plugin fail STATUS "$c"
check "operator down, Ignore policy: ADD succeeds unmeshed" topo_cni ignore 1.1.0 add "$c"
check_output "its record says unmeshed" '"meshed":false' sh -c "cat $TOPO_DIR/state/pods/*.json"
if op_start; then t_pass "operator restarted"; else t_fail "operator restarted"; fi
check "it meshes the pod from the plugin's record" wait_for 10 has_local_ip "$c" "$(pod_ip4 "$c")"
check "DEL" topo_cni ignore 1.1.0 del "$c"
check "the pod leaves the state" wait_for 10 no_local "$c"

op_stop
if grep -q 'level=error' "$TOPO_DIR/operator.log"; then
	t_fail "no error logged" "$(grep 'level=error' "$TOPO_DIR/operator.log" | head -5)"
else
	t_pass "no error logged"
fi
t_done
