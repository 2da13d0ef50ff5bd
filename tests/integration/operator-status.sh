#!/usr/bin/env bash
# A leader with many statuses to write keeps its lease: 400 new policies take
# ~400 status writes, seconds of work, while the lease (short here: 3 s, renew
# deadline 2 s) must be renewed every second. The status pass yields to the
# main loop after its time budget (operator/main.c), so the leader renews,
# never logs "stopped leading", and still writes every status once.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPERATOR=${SELVEDGE_BUILD:-$ROOT/build}/selvedge-operator
PREFIX=status$$
POLICIES=400
WORK=$(mktemp -d)
OP=''

cleanup() {
	[ -z "$OP" ] || kill "$OP" 2>/dev/null
	python3 "$ROOT/tests/bench/gen-objects.py" --prefix "$PREFIX" --delete >/dev/null 2>&1
	kubectl delete namespace "$PREFIX-leases" --wait=false >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

# programmed_count: this run's policies whose status is current and Programmed.
programmed_count() {
	kubectl get servicepolicies -n "$PREFIX-0" -o json | jq '[.items[] | .metadata.generation as $g |
		select(.status.observedGeneration == $g and
			any(.status.conditions[]?; .type == "Programmed" and .status == "True"))] | length'
}
all_programmed() { [ "$(programmed_count)" -eq "$POLICIES" ]; }
logged_count() { grep -c "$1" "$WORK/op.log" || true; }
metric() {
	curl -sf --max-time 2 "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

check "objects generated ($POLICIES policies)" python3 "$ROOT/tests/bench/gen-objects.py" \
	--pods 40 --services 40 --policies "$POLICIES" --nodes 1 --namespaces 1 --prefix "$PREFIX"
check "lease namespace" kubectl create namespace "$PREFIX-leases"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$OPERATOR" --node-name "$PREFIX-node-0" --namespace "$PREFIX-leases" --kubeconfig "$KUBECONFIG" \
	--state-dir "$WORK/state" --backend "record:$WORK/state.json" --metrics-addr "127.0.0.1:$PORT" \
	--agent-socket "" --lease-duration 3 --renew-deadline 2 --retry-period 1 \
	</dev/null >/dev/null 2>"$WORK/op.log" &
OP=$!
check "the operator becomes leader" wait_for 30 grep -q 'msg="became leader"' "$WORK/op.log"
check "all $POLICIES policies Programmed" wait_for 120 all_programmed
check_output "the leader never stopped leading during the writes" '^0$' \
	logged_count 'msg="stopped leading"\|lease not renewed in time'
# Each status written once: a pass cut short skips what it already wrote.
writes=$(metric selvedge_operator_status_writes_total)
if [ -n "$writes" ] && [ "${writes%.*}" -ge "$POLICIES" ] && [ "${writes%.*}" -le $((POLICIES + 20)) ]; then
	t_pass "status writes counted: $writes for $POLICIES policies"
else
	t_fail "status writes counted: $writes for $POLICIES policies" "$(tail -n 20 "$WORK/op.log")"
fi
check_output "no status write failed" '^0$' logged_count 'msg="status write failed"'
t_done
