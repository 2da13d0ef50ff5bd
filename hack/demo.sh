#!/usr/bin/env bash
# The local demo: a real Kubernetes control plane with Selvedge's API installed,
# the example policies and splits applied, and selvedge-operator running as one
# node's agent: it compiles the node's mesh state, reports it, and writes the
# objects' status (Ready, or why not) and Warning Events. The kernel
# enforcement of that state (nftables) is not built yet and the demo says so.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$SELVEDGE_ROOT"

hack/control-plane.sh up
eval "$(hack/control-plane.sh env)"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing the Selvedge CRDs"
kubectl apply --server-side -f crds/
kubectl wait --for condition=Established --timeout=60s \
	crd/servicepolicies.selvedge.dev crd/trafficsplits.selvedge.dev

say "Namespaces for the examples"
for ns in dev prod web shop; do
	kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done
kubectl label namespace dev env=dev --overwrite >/dev/null
kubectl label namespace prod env=prod --overwrite >/dev/null

say "Applying the examples in crds/examples/"
kubectl apply --server-side -f crds/examples/

say "kubectl get selvedge -A (the category lists both kinds)"
kubectl get selvedge -A

say "An invalid TrafficSplit is rejected by the API server"
if kubectl apply -f - <<'YAML'; then
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: broken, namespace: shop}
spec:
  service: reviews
  backends:
  - {service: reviews-v1, weight: 0}
  - {service: reviews-v2, weight: 0}
YAML
	echo "unexpected: the invalid object was accepted" >&2
	exit 1
fi

say "Services the examples refer to (a missing one is reported, not refused)"
for svc in reviews reviews-v1 reviews-v2 payments; do
	kubectl -n prod create service clusterip "$svc" --tcp=80:8080 --dry-run=client -o yaml |
		kubectl apply -f - >/dev/null
done
echo "created prod/reviews, reviews-v1, reviews-v2, payments; prod/ratings is left missing"

say "Starting selvedge-operator for node demo-node"
make -s build/selvedge-operator
DEMO_DIR=$SELVEDGE_CACHE/demo
mkdir -p "$DEMO_DIR"
kubectl create namespace selvedge-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
build/selvedge-operator --node-name demo-node --namespace selvedge-system \
	--kubeconfig "$KUBECONFIG" --state-dir "$DEMO_DIR/state" \
	--backend "record:$DEMO_DIR/state-record.json" --metrics-addr 127.0.0.1:0 \
	2>"$DEMO_DIR/operator.log" &
OP=$!
trap 'kill $OP 2>/dev/null' EXIT
for _ in $(seq 1 100); do
	grep -q 'became leader' "$DEMO_DIR/operator.log" && break
	sleep 0.1
done
sleep 2
sed 's/^/  /' "$DEMO_DIR/operator.log"

say "Status written by the operator (kubectl get selvedge -A -o wide)"
kubectl get selvedge -A -o wide

say "Warning Events for broken references"
kubectl get events -n prod --field-selector type=Warning

say "The node's compiled state (what the nftables renderer will program)"
jq -c '{policies: [.policies[] | {name, action, targets, rules: ((.ingress // []) | length)}],
	splits: [.splits[] | {name, service, mode, backends}]}' "$DEMO_DIR/state-record.json"

say "kubectl explain servicepolicy.spec.action"
kubectl explain servicepolicy.spec.action

cat <<MSG

The control plane keeps running for you to explore:
  eval "\$(hack/control-plane.sh env)"; kubectl get servicepolicies -A
Stop it with: hack/control-plane.sh down

The operator was stopped at the end of the demo; its log and the node's state are
in $SELVEDGE_CACHE/demo. Not enforced yet: the nftables renderer of that state is
the next piece. The CNI plugin's anti-spoofing runs in the tests
(tests/integration/cni.sh, make test), with forged packets between pods in
network namespaces.
MSG
