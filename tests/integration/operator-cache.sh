#!/usr/bin/env bash
# The compile cache (operator/compile.c) must never change what is compiled:
# an operator that lived through a mix of changes (policy specs, pod labels,
# a namespace label, deletions) holds byte for byte the state that a fresh
# operator compiles from scratch afterwards.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPERATOR=${SELVEDGE_BUILD:-$ROOT/build}/selvedge-operator
PREFIX=cache$$
WORK=$(mktemp -d)
A='' B=''

cleanup() {
	kill $A $B 2>/dev/null
	python3 "$ROOT/tests/bench/gen-objects.py" --prefix "$PREFIX" --delete >/dev/null 2>&1
	kubectl delete namespace "$PREFIX-a" "$PREFIX-b" --wait=false >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

start() {
	"$OPERATOR" --node-name bench-node-0 --namespace "$PREFIX-$1" --kubeconfig "$KUBECONFIG" \
		--state-dir "$WORK/$1" --backend "record:$WORK/$1.json" --metrics-addr 127.0.0.1:0 \
		--agent-socket "" </dev/null >/dev/null 2>"$WORK/$1.log" &
}
# This run's policies only: another run's objects may be in the cluster too.
gen() { [ "$(jq -r --arg n "$1" --arg ns "$PREFIX-0" '.policies[] | select(.name == $n and .namespace == $ns) | .generation' "$WORK/a.json")" = "$2" ]; }
gone() { ! jq -e --arg n "$1" --arg ns "$PREFIX-0" '.policies[] | select(.name == $n and .namespace == $ns)' "$WORK/a.json"; }

check "objects generated" python3 "$ROOT/tests/bench/gen-objects.py" --pods 600 --services 60 \
	--policies 60 --nodes 2 --namespaces 3 --prefix "$PREFIX"
check "lease namespaces" kubectl create namespace "$PREFIX-a"
kubectl create namespace "$PREFIX-b" >/dev/null
start a
A=$!
check "operator A synced" wait_for 30 grep -q 'caches synced' "$WORK/a.log"
metrics_a() { curl -sf "http://127.0.0.1:$(grep -o 'metrics_port=[0-9]*' "$WORK/a.log" | head -1 | cut -d= -f2)/metrics"; }
# Lists come in pages of 250 (the operator hands each page's memory back):
# the 600 pods (none on A's node) take three, and no cache holds more than
# its pages.
list_pages() {
	metrics_a | awk -F'[{}" ]+' '
		/^selvedge_operator_list_pages_total\{/ { p[$3] = $NF }
		/^selvedge_operator_cache_objects\{/ { o[$3] = $NF }
		END { for (r in p) print r, p[r], o[r] + 0 }'
}
# The metrics are exported after the first compile.
pods_paged() { list_pages | grep -q '^pods_remote [1-9]'; }
wait_for 10 pods_paged
pages=$(list_pages)
if awk '$1 == "pods_remote" && $2 >= 3 { pods = 1 } $2 < 1 || $3 > 250 * $2 { bad = 1 }
	END { exit !(pods && !bad && NR >= 8) }' <<<"$pages"; then
	t_pass "lists are paged: $(tr '\n' ';' <<<"$pages")"
else
	t_fail "lists are paged (resource, pages, objects)" "$pages"
fi
ns=$PREFIX-0
check "A compiled pol-0" wait_for 30 gen pol-0 1
check "pol-0 and pol-3 changed" kubectl -n "$ns" patch servicepolicy pol-0 pol-3 --type=merge \
	-p '{"spec":{"action":"Deny"}}'
check "A has pol-0 generation 2" wait_for 20 gen pol-0 2
# shellcheck disable=SC2016 # $@ is the inner shell's
check "pod labels changed" sh -c "kubectl -n $ns get pods -o name | head -15 |
	xargs sh -c 'kubectl -n $ns label --overwrite \"\$@\" app=svc-1' labeler"
check "a namespace label changed" kubectl label namespace "$ns" env=prod --overwrite
check "pol-6 deleted" kubectl -n "$ns" delete servicepolicy pol-6
check "A dropped pol-6" wait_for 20 gone pol-6
check "pol-9 changed again" kubectl -n "$ns" patch servicepolicy pol-9 --type=merge \
	-p '{"spec":{"action":"Allow"}}'
check "A has pol-9 generation 2" wait_for 20 gen pol-9 2
sleep 1 # the debounced compile after the last change
start b
B=$!
check "operator B synced" wait_for 30 grep -q 'caches synced' "$WORK/b.log"
check "B applied a state" wait_for 30 test -s "$WORK/b.json"
check "A's state equals B's, compiled from scratch" cmp "$WORK/a.json" "$WORK/b.json"
t_done
