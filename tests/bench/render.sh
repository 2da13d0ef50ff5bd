#!/usr/bin/env bash
# Benchmark: the nftables backend at 10,000 pods (2,500 on this node), 1,000
# services and 1,000 policies, in a network namespace of its own. Prints the
# full sync (render + one transaction), one pod coming (an incremental
# transaction), one policy edited, and the same full ruleset loaded by
# `nft -f` as the baseline measured in the same run.
#   tests/bench/render.sh [PODS=10000] [POLICIES=1000] [ROUNDS=5]
set -euo pipefail
PODS=${1:-10000}
POLICIES=${2:-1000}
ROUNDS=${3:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPERATOR=${SELVEDGE_BUILD:-$ROOT/build}/selvedge-operator
NS=sv-bench-render-$$
TMP=$(mktemp -d)
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$TMP"' EXIT
ip netns add "$NS"

python3 - "$PODS" "$POLICIES" "$TMP" <<'EOF'
import json, sys
pods, policies, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
nodes, services = 4, 1000
def ip(i): return "10.%d.%d.%d" % (64 + i % nodes, (i // nodes) // 250, (i // nodes) % 250 + 2)
ns = lambda i: "ns-%d" % (i % 100)
local = [{"namespace": ns(i), "name": "pod-%d" % i, "identity": ns(i) + "/default", "ips": [ip(i)]}
         for i in range(pods) if i % nodes == 0]
ids = {}
for i in range(pods):
    ids.setdefault(ns(i) + "/default", []).append(ip(i))
ids = {k: sorted(v) for k, v in ids.items()}
per = max(1, pods // services)
svcs = []
for s in range(services):
    members = [ip(i) for i in range(s * per, min(pods, (s + 1) * per))]
    svcs.append({"namespace": ns(s * per), "name": "svc-%d" % s,
                 "clusterIPs": ["10.96.%d.%d" % (s // 250, s % 250 + 1)],
                 "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                 "endpoints": sorted(members),
                 "localEndpoints": sorted(m for m in members if m.startswith("10.64."))})
dev = sorted(ip(i) for i in range(pods) if (i % 100) % 2 == 0)
groups = [dev] + [list(s["endpoints"]) for s in svcs]
pols = []
for p in range(policies):
    s = svcs[p % services]
    targets = list(s["localEndpoints"])
    if p % 2 == 0:
        rule = {"peers": [1 + (p + 1) % services], "ports": [{"port": 8080, "protocol": "TCP"}]}
        action = "Allow"
    else:
        rule = {"peers": [0]}
        action = "Deny"
    pols.append({"namespace": s["namespace"], "name": "pol-%d" % p, "uid": "u%d" % p,
                 "generation": 1, "action": action, "targets": targets, "ingress": [rule]})
splits = [{"namespace": svcs[k]["namespace"], "name": "split-%d" % k, "uid": "s%d" % k,
           "generation": 1, "service": svcs[k]["name"], "mode": "Connection",
           "backends": [{"service": svcs[k + 1]["name"], "weight": 90},
                        {"service": svcs[k + 2]["name"], "weight": 10}]}
          for k in range(0, 300, 3)]
state = {"version": 2, "node": "node-0", "localPods": local, "identities": ids,
         "services": svcs, "peerGroups": groups, "policies": pols, "splits": splits,
         "objects": []}
json.dump(state, open(out + "/full.json", "w"))
# One more pod on this node, in a service some policies select.
state["localPods"].append({"namespace": "ns-0", "name": "pod-new", "identity": "ns-0/default",
                           "ips": ["10.64.250.2"]})
state["identities"]["ns-0/default"].append("10.64.250.2")
state["policies"][1]["targets"].append("10.64.250.2")
state["peerGroups"][0].append("10.64.250.2")
json.dump(state, open(out + "/pod.json", "w"))
state["localPods"].pop()
state["policies"][1]["targets"].pop()
state["peerGroups"][0].pop()
state["identities"]["ns-0/default"].pop()
state["policies"][0]["ingress"][0]["ports"] = [{"port": 8443, "protocol": "TCP"}]
json.dump(state, open(out + "/policy.json", "w"))
EOF

field() { # SUMMARY NAME -> the number after NAME
	sed -n "s/.*$2 \([0-9.]*\) ms.*/\1/p" <<<"$1"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$TMP/full" && : >"$TMP/pod" && : >"$TMP/policy" && : >"$TMP/nft"
"$OPERATOR" --render "$TMP/full.json" --no-flow-counters >"$TMP/full.nft"
for _ in $(seq 1 "$ROUNDS"); do
	s=$("$OPERATOR" --render "$TMP/full.json" --backend nftables --netns "/var/run/netns/$NS" 2>&1 >/dev/null)
	echo "$(field "$s" render) $(field "$s" apply)" >>"$TMP/full"
	s=$("$OPERATOR" --render "$TMP/pod.json" --render-from "$TMP/full.json" --backend nftables \
		--netns "/var/run/netns/$NS" 2>&1 >/dev/null)
	echo "$(field "$s" render) $(field "$s" apply) $(sed -n 's/.*incremental, \([0-9]*\) messages.*/\1/p' <<<"$s")" >>"$TMP/pod"
	s=$("$OPERATOR" --render "$TMP/policy.json" --render-from "$TMP/full.json" --backend nftables \
		--netns "/var/run/netns/$NS" 2>&1 >/dev/null)
	echo "$(field "$s" render) $(field "$s" apply) $(sed -n 's/.*incremental, \([0-9]*\) messages.*/\1/p' <<<"$s")" >>"$TMP/policy"
	# Baseline: the nft CLI loading the same ruleset (without the counter sets,
	# which its type checker refuses) into a clean namespace.
	ip netns exec "$NS" nft flush ruleset
	t0=$EPOCHREALTIME
	ip netns exec "$NS" nft -f "$TMP/full.nft"
	t1=$EPOCHREALTIME
	echo "$((${t1/./} - ${t0/./})) " | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$TMP/nft"
	ip netns exec "$NS" nft flush ruleset
done
bytes=$(wc -c <"$TMP/full.nft")
printf '\nnftables backend, %d pods (%d on this node), 1000 services, %d policies; median of %d\n' \
	"$PODS" "$((PODS / 4))" "$POLICIES" "$ROUNDS"
printf '  full sync:        render %s ms + one transaction %s ms\n' \
	"$(awk '{ print $1 }' "$TMP/full" | median)" "$(awk '{ print $2 }' "$TMP/full" | median)"
printf '  one pod added:    render %s ms + transaction %s ms (%s netlink messages)\n' \
	"$(awk '{ print $1 }' "$TMP/pod" | median)" "$(awk '{ print $2 }' "$TMP/pod" | median)" \
	"$(awk '{ print $3 }' "$TMP/pod" | median)"
printf '  one policy edited: render %s ms + transaction %s ms (%s netlink messages)\n' \
	"$(awk '{ print $1 }' "$TMP/policy" | median)" "$(awk '{ print $2 }' "$TMP/policy" | median)" \
	"$(awk '{ print $3 }' "$TMP/policy" | median)"
b=$(median <"$TMP/nft")
f=$(awk '{ print $2 }' "$TMP/full" | median)
printf '  baseline nft -f of the same ruleset (%s bytes): %s ms; our transaction / nft -f = %s\n' \
	"$bytes" "$b" "$(awk -v a="$f" -v b="$b" 'BEGIN { printf "%.3f", a / b }')"
