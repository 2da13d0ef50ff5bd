#!/usr/bin/env bash
# Edge autonomy of selvedge-operator against a private, real control plane (its
# own etcd and kube-apiserver on other ports, so stopping them disturbs no
# other test):
#   1. link to the API server cut (the apiserver keeps its history): nothing
#      changes on the node meanwhile; on return the watches resume with no
#      relist and the changes made meanwhile arrive;
#   2. apiserver stopped for SV_OUTAGE_S (30) seconds: state kept, enforcement
#      unchanged; relists counted (with the watch cache on, a restarted
#      apiserver's history starts at its restart, so one relist per watch is
#      expected there);
#   3. the same with an apiserver that serves watches from etcd (whose history
#      survives the restart): no relist at all;
#   4. etcd compacted under a watch: exactly one relist, no lost event.
# The cut is a TCP relay (socat) between the operator and the apiserver.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/../../hack/lib.sh"

OUTAGE=${SV_OUTAGE_S:-30}
CUT=${SV_CUT_S:-15}
BUILD=${SELVEDGE_BUILD:-$SELVEDGE_ROOT/build}
OPERATOR=$BUILD/selvedge-operator
export SELVEDGE_CP_DIR=$SELVEDGE_CACHE/control-plane-resilience
# Ports below the kernel's ephemeral range (32768-60999): a long-lived client
# connection (the shared control plane's, say) can hold a port of that range
# as its local port for the whole run, and the relay, stopped and started
# again during the suite, could then never bind (a CI run failed at "relay
# up" three times that way).
export SELVEDGE_CP_PORT=26543 SELVEDGE_ETCD_PORT=22479
RELAY_PORT=26544
CP=$SELVEDGE_ROOT/hack/control-plane.sh
WORK=$(mktemp -d)
NS=resilience-$$
OP_PID=
RELAY_PID=

cleanup() {
	[ -z "$OP_PID" ] || kill "$OP_PID" 2>/dev/null
	relay_stop
	"$CP" down >/dev/null 2>&1
	[ "$T_FAIL" -eq 0 ] || { echo "# operator log:"; sed 's/^/#   /' "$WORK/operator.log"; } 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

relay_start() {
	socat "TCP-LISTEN:$RELAY_PORT,bind=127.0.0.1,reuseaddr,fork" \
		"TCP:127.0.0.1:$SELVEDGE_CP_PORT" </dev/null >/dev/null 2>>"$WORK/relay.log" &
	RELAY_PID=$!
	for _ in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$RELAY_PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# relay on 127.0.0.1:$RELAY_PORT not up; socat said: $(tail -n 3 "$WORK/relay.log" 2>/dev/null)"
	return 1
}
# Kills the relay and every connection it carries (its forked children).
# Not run through check (a subshell): RELAY_PID must stay set.
relay_stop() {
	[ -n "$RELAY_PID" ] || return 0
	# The children have the parent's command line.
	pkill -KILL -f "TCP-LISTEN:$RELAY_PORT," 2>/dev/null
	{ wait "$RELAY_PID"; } 2>/dev/null
	RELAY_PID=
}


metrics() { curl -sf --max-time 2 "http://127.0.0.1:$MPORT/metrics"; }
# relists [RESOURCE]: relists so far, of one informer or all.
relists() {
	metrics | awk -v r="${1:-}" '/^selvedge_operator_relists_total/ &&
		(r == "" || index($0, "resource=\"" r "\"")) { s += $2 } END { print s + 0 }'
}
record_sum() { sha256sum "$WORK/record.json" | cut -d' ' -f1; }
# Policies of this run's namespace only (the private control plane is purged
# at the start, but the check should not depend on it).
has_policy() {
	jq -e --arg ns "$NS" --arg n "$1" '.policies[] | select(.namespace == $ns and .name == $n)' \
		"$WORK/record.json"
}
lacks_policy() { ! has_policy "$1" >/dev/null; }
policy_gen_is() {
	jq -e --arg ns "$NS" --arg n "$1" --argjson g "$2" \
		'.policies[] | select(.namespace == $ns and .name == $n and .generation == $g)' \
		"$WORK/record.json"
}
policy() {
	kubectl apply -f - <<EOF
apiVersion: selvedge.dev/v1alpha1
kind: ServicePolicy
metadata: {name: $1, namespace: $NS}
spec:
  podSelector: {}
  action: ${2:-Allow}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
EOF
}

# steady_for SECONDS: the node's state and the operator's health hold while
# the API is away; checked every 5 s.
steady_for() {
	local sum end ok=0
	sum=$(record_sum)
	cp "$WORK/record.json" "$WORK/steady.json"
	end=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$end" ]; do
		sleep 5
		kill -0 "$OP_PID" 2>/dev/null || { echo "operator exited"; ok=1; }
		if [ "$(record_sum)" != "$sum" ]; then
			echo "state changed:"
			diff <(jq -S . "$WORK/steady.json") <(jq -S . "$WORK/record.json") | head -20
			ok=1
		fi
		curl -sf --max-time 2 "http://127.0.0.1:$MPORT/readyz" >/dev/null || { echo "not ready"; ok=1; }
	done
	return "$ok"
}

# A fresh etcd each run: no earlier run's objects (they once made a check
# pass too early), and no data dir bound to other ports.
"$CP" purge >/dev/null 2>&1
if ! "$CP" up >"$WORK/cp.log" 2>&1; then
	t_fail "private control plane starts" "$(tail -5 "$WORK/cp.log")"
	t_done
	exit 1
fi
eval "$("$CP" env)"
check "CRDs installed" kubectl apply --server-side --force-conflicts -f "$SELVEDGE_ROOT/crds/"
check "CRDs established" kubectl wait --for=condition=Established --timeout=60s \
	crd/servicepolicies.selvedge.dev crd/trafficsplits.selvedge.dev
check "namespace $NS" kubectl create namespace "$NS"
sed "s#server: https://127.0.0.1:$SELVEDGE_CP_PORT#server: https://127.0.0.1:$RELAY_PORT#" \
	"$KUBECONFIG" >"$WORK/kubeconfig"
if relay_start; then t_pass "relay up"; else t_fail "relay up"; fi

MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$OPERATOR" --node-name res-node --namespace "$NS" --kubeconfig "$WORK/kubeconfig" \
	--state-dir "$WORK/state" --backend "record:$WORK/record.json" \
	--metrics-addr "127.0.0.1:$MPORT" --watch-idle-timeout 20 --agent-socket "" \
	--cni-state-dir "$WORK/cni" 2>"$WORK/operator.log" &
OP_PID=$!
check "policy p-a created" policy p-a
check "operator programs p-a" wait_for 20 has_policy p-a

# How long a change may take to arrive after an outage: a watch whose last
# failure was an answer (a freshly started apiserver's 503 for a custom
# resource it is not serving yet) is not cut short by the leader election's
# pulse and waits out its backoff, at most 30 s + 50 % jitter, then lists.
ARRIVE=60

# ---------------------------------------------------------------- 1. link cut
before=$(relists)
relay_stop
check "link cut: operator keeps state and health for ${CUT}s" steady_for "$CUT"
check "meanwhile: p-b created" policy p-b
check "meanwhile: p-a changed (generation 2)" policy p-a Deny
if relay_start; then t_pass "link back"; else t_fail "link back"; fi
check "link back: p-b arrives" wait_for "$ARRIVE" has_policy p-b
check "link back: p-a generation 2 arrives" wait_for "$ARRIVE" policy_gen_is p-a 2
after=$(relists)
if [ "$after" -eq "$before" ]; then
	t_pass "link back: watches resumed without a relist"
else
	t_fail "link back: watches resumed without a relist" "relists went from $before to $after"
fi

# ---------------------------------------------------------------- 2. apiserver down (watch cache)
before=$(relists)
check "apiserver stopped" "$CP" stop-apiserver
check "apiserver down: state and health unchanged for ${OUTAGE}s" steady_for "$OUTAGE"
check "apiserver started" "$CP" start-apiserver
check "after restart: p-c created" policy p-c
check "after restart: p-c arrives" wait_for "$ARRIVE" has_policy p-c
check "after restart: p-a and p-b kept" has_policy p-a
after=$(relists)
echo "# apiserver restart (watch cache on): $((after - before)) relists over 8 informers"
if [ $((after - before)) -le 8 ]; then
	t_pass "apiserver restart: at most one relist per informer"
else
	t_fail "apiserver restart: at most one relist per informer" "relists: $before -> $after"
fi

# ---------------------------------------------------------------- 3. apiserver down (etcd history)
check "apiserver stopped" "$CP" stop-apiserver
check "apiserver restarted serving watches from etcd" \
	env SELVEDGE_CP_WATCH_CACHE=false "$CP" start-apiserver
check_output "the apiserver serves watches from etcd" 'watch-cache=false' pgrep -af kube-apiserver
check "p-d created" policy p-d
check "p-d arrives" wait_for "$ARRIVE" has_policy p-d
before=$(relists)
check "apiserver stopped" "$CP" stop-apiserver
check "apiserver down: state and health unchanged for ${OUTAGE}s" steady_for "$OUTAGE"
check "apiserver started" env SELVEDGE_CP_WATCH_CACHE=false "$CP" start-apiserver
check "after restart: p-a changed (generation 3)" policy p-a Allow
check "after restart: p-a generation 3 arrives" wait_for "$ARRIVE" policy_gen_is p-a 3
after=$(relists)
if [ "$after" -eq "$before" ]; then
	t_pass "apiserver restart with history in etcd: watches resumed without a relist"
else
	t_fail "apiserver restart with history in etcd: no relist" "relists: $before -> $after"
fi

# ---------------------------------------------------------------- 4. compaction
before_all=$(relists)
before=$(relists servicepolicies)
log_lines=$(wc -l <"$WORK/operator.log")
relay_stop
check "meanwhile: p-b deleted" kubectl -n "$NS" delete servicepolicy p-b
check "meanwhile: p-e created" policy p-e
check "meanwhile: p-a changed (generation 4)" policy p-a Deny
check_output "etcd compacted" '^[0-9]+$' "$CP" compact
if relay_start; then t_pass "link back"; else t_fail "link back"; fi
check "after compaction: p-e arrives" wait_for 60 has_policy p-e
check "after compaction: p-b's deletion arrives" wait_for 60 lacks_policy p-b
check "after compaction: p-a generation 4 arrives" wait_for 60 policy_gen_is p-a 4
# The metrics are exported at the end of the loop's turn that wrote the record.
relisted() { [ "$(relists servicepolicies)" -gt "$before" ]; }
wait_for 10 relisted
sleep 2 # a second relist would show by now
after=$(relists servicepolicies)
after_all=$(relists)
echo "# compaction: servicepolicies relisted $((after - before))x; all informers $((after_all - before_all))x"
if [ $((after - before)) -eq 1 ]; then
	t_pass "compaction: exactly one relist of the watch behind it"
else
	t_fail "compaction: exactly one relist" "servicepolicies relists: $before -> $after"
fi
check_output "compaction: the 410 came in-stream" 'servicepolicies: ERROR 410' \
	tail -n +"$((log_lines + 1))" "$WORK/operator.log"

kill "$OP_PID"
check "operator stops on SIGTERM" wait_for 10 bash -c "! kill -0 $OP_PID"
OP_PID=
if grep -q 'level=error' "$WORK/operator.log"; then
	t_fail "no error logged" "$(grep 'level=error' "$WORK/operator.log" | head -5)"
else
	t_pass "no error logged"
fi
t_done
