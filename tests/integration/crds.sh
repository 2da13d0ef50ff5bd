#!/usr/bin/env bash
# Integration test for the Selvedge CRDs (crds/): installs them in a running
# control plane, creates every example for real, and checks that each invalid
# object in the table below is refused with the intended message, plus printer
# columns, short names, categories, kubectl explain and the status subresource.
#
# Needs: KUBECONFIG exported and kubectl on PATH, e.g.
#   eval "$(hack/control-plane.sh env)" && bash tests/integration/crds.sh
# It leaves the CRDs installed and deletes the namespace it created.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CRDS=$ROOT/crds
NS=selvedge-crds-$(date +%s)-$$
# A private discovery cache, so that short names and categories of freshly
# installed CRDs are never hidden by a stale cache of another run.
KUBECACHEDIR=$(mktemp -d)
export KUBECACHEDIR

cleanup() {
	kubectl delete servicepolicies.selvedge.dev,trafficsplits.selvedge.dev --all -n "$NS" \
		--ignore-not-found --wait=false >/dev/null 2>&1
	kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1
	rm -rf "$KUBECACHEDIR"
}
trap cleanup EXIT

if ! kubectl version >/dev/null 2>&1; then
	t_fail "control plane reachable" "kubectl cannot reach the API server (KUBECONFIG=${KUBECONFIG:-unset})"
	t_done
	exit 1
fi

# ---------------------------------------------------------------- install
check "apply CRDs (server-side)" kubectl apply --server-side --force-conflicts -f "$CRDS/"
check "CRDs established" kubectl wait --for=condition=Established --timeout=60s \
	crd/servicepolicies.selvedge.dev crd/trafficsplits.selvedge.dev
check "create namespace $NS" kubectl create namespace "$NS"

# ---------------------------------------------------------------- examples
# The examples live in namespace prod; they are created in our own namespace.
in_ns() { sed "s/^  namespace: prod\$/  namespace: $NS/" "$1"; }
n_examples=0
for f in "$CRDS"/examples/*.yaml; do
	n_examples=$((n_examples + 1))
	name=$(basename "$f")
	check "example $name is created" kubectl create -f - < <(in_ns "$f")
	check "example $name can be read back" kubectl get -f - < <(in_ns "$f")
done
if [ "$n_examples" -ge 4 ]; then
	t_pass "found $n_examples examples"
else
	t_fail "expected at least 4 examples, found $n_examples"
fi

# ---------------------------------------------------------------- more valid objects
accepts() { check "accepted: $1" kubectl -n "$NS" create -f -; }

accepts "root Service as one of its own backends" <<'EOF'
apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: root-as-backend}
spec:
  service: web
  backends:
  - {service: web, weight: 90}
  - {service: web-next, weight: 10}
EOF

accepts "Deny rule without from (every source) on a port range" <<'EOF'
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: deny-debug-ports}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: In, values: [db]}, {key: debug, operator: DoesNotExist}]}
  action: Deny
  ingress:
  - ports: [{port: 9000, endPort: 9100}, {port: 5353, protocol: UDP}]
EOF

accepts "egress allow-list to a Service and a ServiceAccount" <<'EOF'
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: egress-allow}
spec:
  targetRef: {name: payments}
  egress:
  - to:
    - service: {name: ledger, namespace: finance}
    - serviceAccount: {name: audit}
    ports: [{port: 443}]
EOF

check_output "defaults: action Allow, targetRef.kind Service, protocol TCP" \
	'^Allow Service TCP$' \
	kubectl -n "$NS" get servicepolicy egress-allow \
	-o 'jsonpath={.spec.action} {.spec.targetRef.kind} {.spec.egress[0].ports[0].protocol}'
check_output "default: mode Auto" '^Auto$' \
	kubectl -n "$NS" get trafficsplit root-as-backend -o 'jsonpath={.spec.mode}'

# ---------------------------------------------------------------- invalid objects
# rejects NAME REGEX < object: creating the object must fail, with a message
# matching REGEX. Each object differs from a valid one in a single way, and the
# error must be the only one reported, so that a different validation firing
# by accident is caught.
rejects() {
	local name=$1 pattern=$2 out n
	if out=$(kubectl -n "$NS" create -f - 2>&1); then
		t_fail "rejected: $name" "object was accepted" "$out"
		return
	fi
	# The API server appends a note (not an error) when it skipped CEL rules.
	n=$(grep '^\* ' <<<"$out" | grep -vc 'some validation rules were not checked')
	if ! grep -Eq -- "$pattern" <<<"$out"; then
		t_fail "rejected: $name" "expected output matching: $pattern" "got: $out"
	elif [ "$n" -gt 1 ]; then
		t_fail "rejected: $name" "expected a single error, got $n" "$out"
	else
		t_pass "rejected: $name"
	fi
}

sp_head='apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: bad}'
ts_head='apiVersion: selvedge.dev/v1alpha1
kind: TrafficSplit
metadata: {name: bad}'

# --- ServicePolicy
rejects "both targetRef and podSelector" \
	'spec: Invalid value: "object": spec.targetRef and spec.podSelector are mutually exclusive' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  podSelector: {matchLabels: {app: payments}}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "neither targetRef nor podSelector" \
	'spec: Invalid value: "object": one of spec.targetRef or spec.podSelector is required' <<EOF
$sp_head
spec:
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "no ingress and no egress" \
	'spec: Required value: a policy must have at least one rule in spec.ingress or spec.egress' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  action: Deny
EOF

rejects "empty ingress list" \
	'spec.ingress: Invalid value: 0: spec.ingress in body should have at least 1 items' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: []
EOF

rejects "unknown action" 'spec.action: Unsupported value: "Block": supported values: "Allow", "Deny"' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  action: Block
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "targetRef kind other than Service" \
	'spec.targetRef.kind: Unsupported value: "Deployment": supported values: "Service"' <<EOF
$sp_head
spec:
  targetRef: {kind: Deployment, name: payments}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "targetRef name not a DNS-1035 label" \
	'spec.targetRef.name: Invalid value: "1payments": spec.targetRef.name in body should match' <<EOF
$sp_head
spec:
  targetRef: {name: 1payments}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "port 0" \
	'spec.ingress\[0\].ports\[0\].port: Invalid value: 0: spec.ingress\[0\].ports\[0\].port in body should be greater than or equal to 1' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 0}]}]
EOF

rejects "port 70000" \
	'spec.ingress\[0\].ports\[0\].port: Invalid value: 70000: spec.ingress\[0\].ports\[0\].port in body should be less than or equal to 65535' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 70000}]}]
EOF

rejects "endPort below port" \
	'spec.ingress\[0\].ports\[0\].endPort: Invalid value: "object": endPort must be greater than or equal to port' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 9000, endPort: 8999}]}]
EOF

rejects "unknown protocol" \
	'spec.egress\[0\].ports\[0\].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  egress: [{ports: [{port: 53, protocol: ICMP}]}]
EOF

rejects "operator In without values" \
	'matchExpressions\[0\]: Required value: operator In on key env needs at least one entry in values' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress:
  - from: [{namespaceSelector: {matchExpressions: [{key: env, operator: In}]}}]
EOF

rejects "operator Exists with values" \
	'matchExpressions\[0\]: Forbidden: operator Exists on key env takes no values' <<EOF
$sp_head
spec:
  podSelector: {matchExpressions: [{key: env, operator: Exists, values: [prod]}]}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "unknown selector operator" \
	'operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"' <<EOF
$sp_head
spec:
  podSelector: {matchExpressions: [{key: env, operator: Equals, values: [prod]}]}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "malformed label key in matchLabels" \
	'matchLabels: Invalid value: "object": matchLabels keys must be valid label keys' <<EOF
$sp_head
spec:
  podSelector: {matchLabels: {"-app": checkout}}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "malformed label value in matchLabels" \
	'matchLabels.app: Invalid value: "check out": spec.podSelector.matchLabels.app in body should match' <<EOF
$sp_head
spec:
  podSelector: {matchLabels: {app: "check out"}}
  ingress: [{ports: [{port: 8080}]}]
EOF

rejects "empty peer" \
	'spec.ingress\[0\].from\[0\]: Required value: a peer must set at least one of namespaceSelector, podSelector, serviceAccount or service' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{from: [{}]}]
EOF

rejects "serviceAccount combined with a selector in one peer" \
	'spec.ingress\[0\].from\[0\]: Forbidden: serviceAccount and service must each be used alone in a peer' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress:
  - from: [{serviceAccount: {name: frontend, namespace: web}, namespaceSelector: {matchLabels: {env: prod}}}]
EOF

rejects "empty from list" \
	'spec.ingress\[0\].from: Invalid value: 0: spec.ingress\[0\].from in body should have at least 1 items' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{from: [], ports: [{port: 8080}]}]
EOF

rejects "pathPrefix not starting with /" \
	"spec.ingress\\[0\\].http\\[0\\].pathPrefix: Invalid value: \"string\": pathPrefix must start with '/'" <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 8080}], http: [{pathPrefix: api/}]}]
EOF

rejects "pathPrefix with a query string" \
	"spec.ingress\\[0\\].http\\[0\\].pathPrefix: Invalid value: \"string\": pathPrefix must not contain whitespace, '\\?' or '#'" <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 8080}], http: [{pathPrefix: "/api?debug=1"}]}]
EOF

rejects "lower-case HTTP method" \
	'spec.ingress\[0\].http\[0\].methods\[0\]: Unsupported value: "get"' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 8080}], http: [{methods: [get]}]}]
EOF

rejects "http rule on a UDP port" \
	'spec.ingress\[0\].http: Invalid value: "object": http rules need an explicit ports list whose entries are all TCP' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 8080, protocol: UDP}], http: [{methods: [GET]}]}]
EOF

rejects "http rule without ports" \
	'spec.ingress\[0\].http: Invalid value: "object": http rules need an explicit ports list' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{http: [{methods: [GET]}]}]
EOF

rejects "http rule that sets nothing" \
	'spec.ingress\[0\].http\[0\]: Required value: an http rule must set methods and/or pathPrefix' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  ingress: [{ports: [{port: 8080}], http: [{}]}]
EOF

rejects "http rules in egress (unknown field)" \
	'unknown field "spec.egress\[0\].http"' <<EOF
$sp_head
spec:
  targetRef: {name: payments}
  egress: [{ports: [{port: 8080}], http: [{methods: [GET]}]}]
EOF

# --- TrafficSplit
rejects "all weights zero" \
	'spec.backends: Invalid value: "object": at least one backend must have a weight greater than 0' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 0}, {service: reviews-v2, weight: 0}]
EOF

rejects "duplicate backend" \
	'spec.backends\[1\]: Duplicate value: \{"service":"reviews-v1"\}' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 50}, {service: reviews-v1, weight: 50}]
EOF

rejects "negative weight" \
	'spec.backends\[0\].weight: Invalid value: -1: spec.backends\[0\].weight in body should be greater than or equal to 0' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: -1}, {service: reviews-v2, weight: 1}]
EOF

rejects "weight above 10000" \
	'spec.backends\[0\].weight: Invalid value: 10001: spec.backends\[0\].weight in body should be less than or equal to 10000' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 10001}]
EOF

rejects "too many backends (17)" \
	'spec.backends: Too many: 17: must have at most 16 items' <<EOF
$ts_head
spec:
  service: reviews
  backends:
$(for i in $(seq 1 17); do printf '  - {service: reviews-v%d, weight: 1}\n' "$i"; done)
EOF

rejects "no backends" \
	'spec.backends: Invalid value: 0: spec.backends in body should have at least 1 items' <<EOF
$ts_head
spec:
  service: reviews
  backends: []
EOF

rejects "match naming an unknown backend" \
	'spec.matches: Invalid value: "object": every matches\[\].backend must name the service of one of spec.backends' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 99}, {service: reviews-v2, weight: 1}]
  matches: [{headers: {x-canary: "true"}, backend: reviews-v3}]
EOF

rejects "matches with mode Connection" \
	'spec.mode: Invalid value: "object": matches need per-request \(L7\) splitting: use mode Request or Auto, not Connection' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 99}, {service: reviews-v2, weight: 1}]
  matches: [{headers: {x-canary: "true"}, backend: reviews-v2}]
  mode: Connection
EOF

rejects "unknown mode" \
	'spec.mode: Unsupported value: "Kernel": supported values: "Auto", "Connection", "Request"' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 1}]
  mode: Kernel
EOF

rejects "upper-case header name in a match" \
	'spec.matches\[0\].headers: Invalid value: "object": header names must be lower-case HTTP tokens' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 99}, {service: reviews-v2, weight: 1}]
  matches: [{headers: {X-Canary: "true"}, backend: reviews-v2}]
EOF

rejects "match with neither headers nor pathPrefix" \
	'spec.matches\[0\]: Required value: a match must set headers and/or pathPrefix' <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 99}, {service: reviews-v2, weight: 1}]
  matches: [{backend: reviews-v2}]
EOF

rejects "match pathPrefix not starting with /" \
	"spec.matches\\[0\\].pathPrefix: Invalid value: \"string\": pathPrefix must start with '/'" <<EOF
$ts_head
spec:
  service: reviews
  backends: [{service: reviews-v1, weight: 99}, {service: reviews-v2, weight: 1}]
  matches: [{pathPrefix: beta, backend: reviews-v2}]
EOF

rejects "root service missing" 'spec.service: Required value' <<EOF
$ts_head
spec:
  backends: [{service: reviews-v1, weight: 1}]
EOF

# ---------------------------------------------------------------- kubectl UX
check_output "printer columns of servicepolicies" '^NAME +ACTION +TARGET +READY +AGE' \
	kubectl get servicepolicies -n "$NS"
check_output "wide printer columns of servicepolicies" \
	'^NAME +ACTION +TARGET +READY +REASON +ACCEPTED +PROGRAMMED +AGE' \
	kubectl get servicepolicies -n "$NS" -o wide
check_output "short name svcpol" 'payments-allow-list +Allow +payments' kubectl get svcpol -n "$NS"
check_output "short name spol" 'dev-must-not-reach-prod +Deny ' kubectl get spol -n "$NS"
check_output "short name ts, printer columns" '^NAME +SERVICE +MODE +READY +AGE' kubectl get ts -n "$NS"
check_output "ts lists the canary" 'reviews-canary +reviews +Auto' kubectl get ts -n "$NS"
check_output "wide printer columns of trafficsplits" '^NAME +SERVICE +MODE +READY +REASON +ACCEPTED +PROGRAMMED +AGE' \
	kubectl get ts -n "$NS" -o wide
check_output "category selvedge lists ServicePolicies" 'servicepolicy.selvedge.dev/payments-allow-list' \
	kubectl get selvedge -A
check_output "category selvedge lists TrafficSplits" 'trafficsplit.selvedge.dev/reviews-canary' \
	kubectl get selvedge -A
check_output "category mesh" 'trafficsplit.selvedge.dev/ratings-header-canary' kubectl get mesh -n "$NS"
check_output "kubectl explain servicepolicy.spec.ingress.from" 'DESCRIPTION:.*' \
	kubectl explain servicepolicy.spec.ingress.from
check_output "explain describes ingress peers" 'Peers this rule covers' \
	kubectl explain servicepolicy.spec.ingress.from
check_output "explain describes selector operators" 'DoesNotExist: the label is absent' \
	kubectl explain servicepolicy.spec.ingress.from.podSelector.matchExpressions.operator
check_output "explain describes weights" 'quantised by the kernel data plane to units of 1/10000' \
	kubectl explain trafficsplit.spec.backends.weight

# ---------------------------------------------------------------- status subresource
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
status_patch() {
	printf '{"status":{"observedGeneration":1,"conditions":[%s]}}' "$1"
}
cond() { # TYPE STATUS REASON
	printf '{"type":"%s","status":"%s","reason":"%s","message":"","lastTransitionTime":"%s","observedGeneration":1}' \
		"$1" "$2" "$3" "$now"
}
good_status=$(status_patch "$(cond Accepted True Accepted),$(cond Programmed True Programmed),$(cond Ready True Ready)")
check "status subresource accepts Accepted/Programmed/Ready" \
	kubectl -n "$NS" patch servicepolicy payments-allow-list --subresource=status --type=merge -p "$good_status"
check_output "READY column shows the Ready condition" 'payments-allow-list +Allow +payments +True ' \
	kubectl get svcpol -n "$NS"
check_output "status update does not bump generation" '^1 1$' \
	kubectl -n "$NS" get servicepolicy payments-allow-list \
	-o 'jsonpath={.metadata.generation} {.status.observedGeneration}'
check "status on a TrafficSplit (BackendNotFound)" \
	kubectl -n "$NS" patch trafficsplit reviews-canary --subresource=status --type=merge \
	-p "$(status_patch "$(cond Accepted False BackendNotFound),$(cond Ready False BackendNotFound)")"
check_output "wide REASON column shows BackendNotFound" 'reviews-canary +reviews +Auto +False +BackendNotFound +False ' \
	kubectl get ts -n "$NS" -o wide
check_fails_with "status: reason must be CamelCase" \
	'status.conditions\[0\].reason: Invalid value: "not found": conditions\[0\].reason in body should match' \
	kubectl -n "$NS" patch servicepolicy payments-allow-list --subresource=status --type=merge \
	-p "$(status_patch "$(cond Ready False 'not found')")"
check_fails_with "status: condition status must be True, False or Unknown" \
	'status.conditions\[0\].status: Unsupported value: "Yes"' \
	kubectl -n "$NS" patch servicepolicy payments-allow-list --subresource=status --type=merge \
	-p "$(status_patch "$(cond Ready Yes Ready)")"
check_fails_with "status: condition types are unique" 'Duplicate value: .*"type":"Ready"' \
	kubectl -n "$NS" patch servicepolicy payments-allow-list --subresource=status --type=merge \
	-p "$(status_patch "$(cond Ready True Ready),$(cond Ready False NotProgrammed)")"
check_output "a spec change bumps generation" '^2$' \
	kubectl -n "$NS" patch servicepolicy payments-allow-list --type=merge -p '{"spec":{"action":"Deny"}}' \
	-o 'jsonpath={.metadata.generation}'

t_done
