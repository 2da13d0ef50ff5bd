#!/usr/bin/env bash
# The local demo: a real Kubernetes control plane with Selvedge's API installed
# and the example policies and splits applied. It shows what exists today: the
# API, its validation and its printer columns. Enforcement of these objects
# (the operator) is not built yet and the demo says so rather than pretend.
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

say "kubectl explain servicepolicy.spec.action"
kubectl explain servicepolicy.spec.action

cat <<MSG

The control plane keeps running for you to explore:
  eval "\$(hack/control-plane.sh env)"; kubectl get servicepolicies -A
Stop it with: hack/control-plane.sh down

Not enforced yet: these objects need the node operator, which is not built. The
CNI plugin's anti-spoofing runs in the tests (tests/integration/cni.sh, make test),
with forged packets between pods in network namespaces.
MSG
