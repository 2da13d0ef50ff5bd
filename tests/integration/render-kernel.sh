#!/usr/bin/env bash
# The nftables backend against the real kernel, without a cluster: saved
# states (the renderer's golden cases) are applied through netlink into one
# network namespace, and the same golden text is loaded with `nft -f` into
# another; both kernels must then hold the same ruleset. Incremental changes
# (pod churn, policy changes, the default flipping) must leave exactly what a
# full load of the target would, and nobody else's table is touched.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPERATOR=${SELVEDGE_BUILD:-$ROOT/build}/selvedge-operator
DATA=$ROOT/tests/unit/operator/testdata/render
A=sv-rk-a-$$
B=sv-rk-b-$$
TMP=$(mktemp -d)
cleanup() {
	ip netns pids "$A" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns pids "$B" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"

flags_for() { # CASE -> the operator flags its golden file was made with
	case "$1" in default-deny*) echo "--default-policy deny" ;; esac
}
# NOFLOW_SETS=1 compares without the L4 counter sets.
NOFLOW=()
[ -z "${NOFLOW_SETS:-}" ] || NOFLOW=(--no-flow-counters)

# apply CASE [FROM]: our netlink path into A; prints the operator's summary.
apply() {
	local from=()
	[ $# -lt 2 ] || from=(--render-from "$2")
	# The summary goes to stderr; the ruleset text to stdout is not wanted here.
	# shellcheck disable=SC2046,SC2069
	"$OPERATOR" --render "$1" "${from[@]}" --backend nftables --netns "/var/run/netns/$A" \
		$(flags_for "$(basename "$1" .json)") "${NOFLOW[@]}" 2>&1 >/dev/null
}

# same_as TEXT_FILE: A's ruleset equals what nft makes of TEXT_FILE in B.
# Chains are listed in creation order, which differs: compare sorted lines.
same_as() {
	ip netns exec "$B" nft flush ruleset
	ip netns exec "$B" nft -f "$1" || return 1
	diff <(ip netns exec "$A" nft list table inet selvedge | sort) \
		<(ip netns exec "$B" nft list table inet selvedge | sort)
}

# Someone else's table, which must survive everything below.
ip netns exec "$A" nft -f - <<'EOF'
table ip kube-proxy {
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.96.0.10 tcp dport 80 dnat to 10.78.1.2:8080
	}
}
EOF
KP_BEFORE=$(ip netns exec "$A" nft list table ip kube-proxy)

for c in basic default-deny dual-stack; do
	# shellcheck disable=SC2046
	"$OPERATOR" --render "$DATA/$c.json" $(flags_for "$c") >"$TMP/$c.full.nft"
	check "$c: --render prints the golden ruleset" cmp "$TMP/$c.full.nft" "$DATA/$c.nft"
	# shellcheck disable=SC2046
	"$OPERATOR" --render "$DATA/$c.json" $(flags_for "$c") "${NOFLOW[@]}" >"$TMP/$c.nft"
	check_output "$c: full sync" 'applied: full' apply "$DATA/$c.json"
	check "$c: the kernel holds what nft makes of the same text" same_as "$TMP/$c.nft"
done

# Pod churn: a pod joins that an existing policy selects.
jq '.state.localPods += [{"namespace":"prod","name":"web-1","identity":"prod/web","ips":["10.78.1.9"]}]
  | .state.policies[1].targets += ["10.78.1.9"] | .state.peerGroups[0] += ["10.78.2.77"]' \
	"$DATA/basic.json" >"$TMP/churn.json"
"$OPERATOR" --render "$TMP/churn.json" "${NOFLOW[@]}" >"$TMP/churn.nft"
check_output "pod churn is an incremental transaction of elements only" \
	'applied: incremental, 3 messages, .* chains \+0 ~0 -0, sets \+0 -0, elements \+3 -0' \
	apply "$TMP/churn.json" "$DATA/basic.json"
check "pod churn: the kernel equals a full load of the new state" same_as "$TMP/churn.nft"
"$OPERATOR" --render "$DATA/basic.json" "${NOFLOW[@]}" >"$TMP/basic.nft"
check_output "the pod leaves: elements removed" 'applied: incremental, .* elements \+0 -3' \
	apply "$DATA/basic.json" "$TMP/churn.json"
check "the pod left: the kernel equals the old state" same_as "$TMP/basic.nft"

# Structure changes patched in place: policies edited, split weights changed.
jq '.state.policies[0].ingress[0].ports = [{"port": 8443, "protocol": "TCP"}]
  | .state.policies |= map(select(.name != "client-egress"))
  | .state.splits[0].backends[0].weight = 50' "$DATA/basic.json" >"$TMP/edited.json"
"$OPERATOR" --render "$TMP/edited.json" "${NOFLOW[@]}" >"$TMP/edited.nft"
check_output "policy and split edits are incremental" 'applied: incremental' \
	apply "$TMP/edited.json" "$DATA/basic.json"
check "edits: the kernel equals a full load of the edited state" same_as "$TMP/edited.nft"

# Bad input: nothing is applied, the table stays as it was.
BEFORE=$(ip netns exec "$A" nft list table inet selvedge)
echo '[1, 2' >"$TMP/bad.json"
check_fails_with "a malformed state is refused" 'bad.json|JSON|parse' \
	"$OPERATOR" --render "$TMP/bad.json" --backend nftables --netns "/var/run/netns/$A"
check "a refused state leaves the table as it was" \
	test "$BEFORE" = "$(ip netns exec "$A" nft list table inet selvedge)"

check "kube-proxy's table is untouched" \
	test "$KP_BEFORE" = "$(ip netns exec "$A" nft list table ip kube-proxy)"
check "only our table and kube-proxy's exist" \
	test "$(ip netns exec "$A" nft list tables | sort | tr '\n' ' ')" = \
	"table inet selvedge table ip kube-proxy "
t_done
