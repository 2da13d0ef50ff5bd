#!/usr/bin/env bash
# selvedge-cni chained after the reference bridge + host-local plugins, driven
# by cnitool in network namespaces: every verb for each supported version,
# anti-spoofing proven with real packets, failure policies, and 50 concurrent
# pods leaving nothing behind.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
TOPO_TAG=c$$
# shellcheck source=tests/lib/cni-topology.sh
. "$(dirname "$0")/../lib/cni-topology.sh"
trap topo_cleanup EXIT

check "the plugin does not link libcurl" hack/check-layering.sh binaries "${SELVEDGE_BUILD:-build}"

# ---- every verb, per version -------------------------------------------
for v in 0.4.0 1.0.0 1.1.0; do
	net=v${v//./}
	topo_net "$net" "$v" Ignore
	pod=sv-$TOPO_TAG-p$net
	topo_pod "$pod"
	out=$(topo_cni "$net" "$v" add "$pod" 2>&1)
	if [ "$(jq -r .cniVersion <<<"$out" 2>/dev/null)" = "$v" ] &&
		[ "$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)" = "$(pod_ip4 "$pod")" ]; then
		t_pass "$v: ADD returns the primary plugin's result in version $v"
	else
		t_fail "$v: ADD returns the primary plugin's result in version $v" "$out"
	fi
	host_if=$(ip -n "$NODE" -j link show master svbr0 type veth | jq -r '.[-1].ifname')
	check_output "$v: ADD installed a guard chain on the pod's host interface" "device \"$host_if\"" \
		ip netns exec "$NODE" nft list table netdev selvedge_guard
	check_output "$v: ADD wrote the pod's state record" '"name":"'"$pod"'"' \
		sh -c "cat $TOPO_DIR/state/pods/*.json"
	check "$v: CHECK passes" topo_cni "$net" "$v" check "$pod"
	if [ "$v" = 1.1.0 ]; then
		check "$v: STATUS passes (cnitool)" topo_cni "$net" "$v" status "$pod"
	fi
	check "$v: DEL" topo_cni "$net" "$v" del "$pod"
	check_output "$v: DEL removed the chain and the record" '^0 0$' echo "$(guard_chains)" "$(state_records)"
	check "$v: DEL again succeeds" topo_cni "$net" "$v" del "$pod"
	check_fails_with "$v: CHECK after DEL fails: no record (code 3)" '"code":3,"msg":"no Selvedge record' \
		plugin "$net" CHECK "$pod" "$out"
	ip netns del "$pod"
done

# ---- DEL after the network namespace is gone -----------------------------
pod=sv-$TOPO_TAG-gone
topo_pod "$pod"
topo_cni v110 1.1.0 add "$pod" >/dev/null 2>&1
ip netns del "$pod"
check "DEL succeeds when the pod's namespace is gone" topo_cni v110 1.1.0 del "$pod"
check_output "and leaves no chain or record" '^0 0$' echo "$(guard_chains)" "$(state_records)"

# ---- GC keeps valid attachments, removes the rest ------------------------
keep=sv-$TOPO_TAG-keep
stale=sv-$TOPO_TAG-stale
topo_pod "$keep"
topo_pod "$stale"
topo_cni v110 1.1.0 add "$keep" >/dev/null 2>&1
topo_cni v110 1.1.0 add "$stale" >/dev/null 2>&1
keep_id=$(jq -r 'select(.name == "'"$keep"'") | .containerID' "$TOPO_DIR"/state/pods/*.json)
gc_conf=$(jq -c --arg id "$keep_id" '. + {"cni.dev/valid-attachments": [{containerID: $id, ifname: "eth0"}]} | .plugins[1] + {cniVersion, name, "cni.dev/valid-attachments"}' \
	"$TOPO_DIR/net-v110/10-v110.conflist")
check "GC through the plugin" bash -c "ip netns exec $NODE env CNI_COMMAND=GC CNI_PATH=$TOPO_DIR/bin $TOPO_DIR/bin/selvedge-cni <<<'$gc_conf'"
check_output "GC removed only the stale attachment" '^1 1$' echo "$(guard_chains)" "$(state_records)"
check_output "the kept record is the valid one" "\"name\":\"$keep\"" sh -c "cat $TOPO_DIR/state/pods/*.json"
check "cnitool gc (libcni sends no valid attachments)" topo_cni v110 1.1.0 gc x
check_output "so everything of ours is gone" '^0 0$' echo "$(guard_chains)" "$(state_records)"
topo_cni v110 1.1.0 del "$keep" >/dev/null 2>&1
topo_cni v110 1.1.0 del "$stale" >/dev/null 2>&1

# ---- a repeated ADD replaces the chain atomically -------------------------
pod=sv-$TOPO_TAG-twice
topo_pod "$pod"
result=$(topo_cni v110 1.1.0 add "$pod" 2>/dev/null)
cid=$(jq -r .containerID "$TOPO_DIR"/state/pods/*.json)
conf=$(jq -c --argjson prev "$result" '.plugins[1] + {cniVersion, name, prevResult: $prev}' "$TOPO_DIR/net-v110/10-v110.conflist")
again() { ip netns exec "$NODE" env CNI_COMMAND=ADD CNI_CONTAINERID="$cid" CNI_NETNS=/var/run/netns/"$pod" CNI_IFNAME=eth0 CNI_PATH="$TOPO_DIR/bin" "$TOPO_DIR/bin/selvedge-cni" <<<"$conf"; }
check_output "ADD for an attachment that exists succeeds with the same result" '"cniVersion":"1.1.0"' again
check_output "and still leaves exactly one chain" '^1$' guard_chains
check "CHECK passes after the repeated ADD" topo_cni v110 1.1.0 check "$pod"
check_fails_with "the primary plugin refuses a second interface of the same name" 'already exists|exists' \
	topo_cni v110 1.1.0 add "$pod"
check_output "a failed ADD of the chain leaves the pod's guard in place" '^1$' guard_chains
topo_cni v110 1.1.0 del "$pod" >/dev/null 2>&1
ip netns del "$pod"

# ---- anti-spoofing with real packets --------------------------------------
topo_net plain 1.1.0 Ignore no
a=sv-$TOPO_TAG-a
b=sv-$TOPO_TAG-b
c=sv-$TOPO_TAG-c
u=sv-$TOPO_TAG-u
for p in "$a" "$b" "$c"; do topo_pod "$p" && topo_cni v110 1.1.0 add "$p" >/dev/null 2>&1; done
topo_pod "$u" && topo_cni plain 1.1.0 add "$u" >/dev/null 2>&1 # unguarded control pod
ipb=$(pod_ip4 "$b")
ipc=$(pod_ip4 "$c")
# Count, inside pod b, what arrives claiming to come from pod c.
ip netns exec "$b" nft -f - <<NFT
table ip probe {
	chain input_probe {
		type filter hook input priority 0
		ip saddr $ipc counter
	}
}
NFT
from_c() { ip netns exec "$b" nft -j list table ip probe | jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add'; }
check "pod a reaches pod b with its own address" ip netns exec "$a" ping -c 1 -W 2 "$ipb"
check "pod c reaches pod b" ip netns exec "$c" ping -c 1 -W 2 "$ipb"
before=$(from_c)
drops_before=$(guard_drops)
ip -n "$a" addr add "$ipc/32" dev eth0
ip netns exec "$a" ping -c 3 -i 0.2 -W 1 -I "$ipc" "$ipb" >/dev/null 2>&1
check_output "pod a forging pod c's IP reaches nobody (b saw nothing new)" "^$before\$" from_c
drops=$(guard_drops)
if [ "$drops" -ge $((drops_before + 3)) ]; then t_pass "the forged packets were dropped and counted ($((drops - drops_before)))"; else t_fail "forged packets counted" "before=$drops_before after=$drops"; fi
ip -n "$a" addr del "$ipc/32" dev eth0
# Control: the same forgery from an unguarded pod arrives, so the check above can fail.
ip -n "$u" addr add "$ipc/32" dev eth0
ip netns exec "$u" ping -c 3 -i 0.2 -W 1 -I "$ipc" "$ipb" >/dev/null 2>&1
after=$(from_c)
if [ "$after" -gt "$before" ]; then t_pass "control: an unguarded pod's forgery does arrive ($((after - before)))"; else t_fail "control: unguarded forgery should arrive" "before=$before after=$after"; fi
ip -n "$u" addr del "$ipc/32" dev eth0
# MAC forgery: pod a takes another MAC and keeps its own IP.
ipa=$(pod_ip4 "$a")
ip netns exec "$b" nft add rule ip probe input_probe ip saddr "$ipa" counter
from_a() { ip netns exec "$b" nft -j list table ip probe | jq '[.nftables[] | .rule? // empty | select(.expr[0].match.right == "'"$ipa"'") | .expr[] | .counter? // empty | .packets] | add'; }
ip netns exec "$a" ping -c 1 -W 2 "$ipb" >/dev/null 2>&1
before=$(from_a)
ip -n "$a" link set eth0 address 02:00:00:00:00:99
ip -n "$a" neigh flush dev eth0
ip netns exec "$a" ping -c 3 -i 0.2 -W 1 "$ipb" >/dev/null 2>&1
check_output "pod a with a forged MAC reaches nobody" "^$before\$" from_a
for p in "$a" "$b" "$c"; do topo_cni v110 1.1.0 del "$p" >/dev/null 2>&1; ip netns del "$p"; done
topo_cni plain 1.1.0 del "$u" >/dev/null 2>&1
ip netns del "$u"

# ---- failure policies ---------------------------------------------------------
topo_net fail 1.1.0 Fail
pod=sv-$TOPO_TAG-f
topo_pod "$pod"
check_fails_with "Fail policy, no agent: libcni reports the agent is missing" 'mesh agent at .* did not answer' \
	topo_cni fail 1.1.0 add "$pod"
topo_cni fail 1.1.0 del "$pod" >/dev/null 2>&1
prev=$(topo_cni plain 1.1.0 add "$pod" 2>/dev/null)
check_fails_with "Fail policy, no agent: ADD says try again later (code 11)" '"code":11,"msg":"failurePolicy Fail: mesh agent' \
	plugin fail ADD "$pod" "$prev"
check_output "and rolled back: no chain, no record" '^0 0$' echo "$(guard_chains)" "$(state_records)"
check_fails_with "Fail policy, no agent: STATUS is not available (code 50)" '"code":50' plugin fail STATUS "$pod"
topo_cni plain 1.1.0 del "$pod" >/dev/null 2>&1
agent_start
check "Fail policy with the agent up: ADD succeeds" topo_cni fail 1.1.0 add "$pod"
check_output "the record is meshed with the agent's service account" '"meshed":true.*"serviceAccount":"default"' \
	sh -c "cat $TOPO_DIR/state/pods/*.json"
check "STATUS with the agent up" topo_cni fail 1.1.0 status x
check "CHECK with the agent's confirmation" topo_cni fail 1.1.0 check "$pod"
agent_stop
check "DEL does not need the agent" topo_cni fail 1.1.0 del "$pod"
check_output "and leaves nothing" '^0 0$' echo "$(guard_chains)" "$(state_records)"
ip netns del "$pod"

# ---- 50 pods added and deleted concurrently -----------------------------------
pods=()
for i in $(seq 1 50); do pods+=("sv-$TOPO_TAG-m$i"); done
for p in "${pods[@]}"; do topo_pod "$p"; done
export -f topo_cni
export NODE TOPO_DIR CNITOOL PLUGINS_NEW PLUGINS_DEBIAN
printf '%s\n' "${pods[@]}" | xargs -P 8 -I{} bash -c 'topo_cni v110 1.1.0 add {} >/dev/null 2>&1 || echo "add failed: {}"' >"$TOPO_DIR/many.log"
check_output "50 concurrent ADDs all succeed" '^$' cat "$TOPO_DIR/many.log"
check_output "50 chains and 50 records" '^50 50$' echo "$(guard_chains)" "$(state_records)"
printf '%s\n' "${pods[@]}" | xargs -P 8 -I{} bash -c 'topo_cni v110 1.1.0 del {} >/dev/null 2>&1 || echo "del failed: {}"' >"$TOPO_DIR/many.log"
check_output "50 concurrent DELs all succeed" '^$' cat "$TOPO_DIR/many.log"
check_output "nothing left behind: no chain, no record, no temp file" '^0 0 0$' \
	sh -c "echo $(guard_chains) $(state_records) \$(find $TOPO_DIR/state -name '*.tmp.*' | wc -l)"
check_output "no bridge port left" '^0$' sh -c "ip -n $NODE -j link show master svbr0 | jq length"
t_done
