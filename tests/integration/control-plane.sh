#!/usr/bin/env bash
# The local control plane is a real Kubernetes API: kubectl lists namespaces,
# creates and reads back objects, and the server reports the pinned version.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../../hack/versions.env"

check_output "kubectl lists the built-in namespaces" '(^|\s)kube-system\s+Active' \
	kubectl get namespaces
check_output "server reports the pinned Kubernetes version" "Server Version: $KUBE_VERSION" \
	kubectl version
ns=cp-test-$$
check "create a namespace" kubectl create namespace "$ns"
check_output "the new namespace is listed" "^$ns " kubectl get namespaces --no-headers
check "create a ConfigMap" kubectl -n "$ns" create configmap probe --from-literal=k=v
check_output "read it back" '^v$' kubectl -n "$ns" get configmap probe -o 'jsonpath={.data.k}'
check_output "readyz is ok" '^ok$' kubectl get --raw /readyz
check "create a service account" kubectl -n "$ns" create serviceaccount probe
check_output "service accounts get tokens (signing key works)" '^eyJ' \
	kubectl -n "$ns" create token probe --duration 10m
kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
t_done
