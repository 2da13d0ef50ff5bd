# shellcheck shell=bash
# A test node for the CNI tests: one network namespace as the node, pods as
# namespaces wired by the reference bridge + host-local plugins through
# cnitool, with selvedge-cni chained. Nothing leaves the node namespace: the
# bridge lives inside it and it has no other link.
#
# Callers set TOPO_TAG (short, unique) before sourcing, and call topo_cleanup
# on exit.
: "${TOPO_TAG:?set TOPO_TAG}"
CACHE_DIR=${SELVEDGE_CACHE:-$HOME/.cache/selvedge}
CNITOOL=$CACHE_DIR/bin/cnitool
PLUGINS_NEW=$CACHE_DIR/cni-plugins # speaks CNI 1.1.0
PLUGINS_DEBIAN=/usr/lib/cni        # speaks up to 1.0.0
SV_BIN=${SELVEDGE_BUILD:-build}/selvedge-cni

# On tmpfs, like /run on a real node.
TOPO_DIR=$(mktemp -d "/dev/shm/sv-$TOPO_TAG.XXXXXX")
NODE=sv-$TOPO_TAG-node
mkdir -p "$TOPO_DIR/bin"
cp "$SV_BIN" "$TOPO_DIR/bin/selvedge-cni"
ip netns add "$NODE"
ip -n "$NODE" link set lo up

# topo_net NAME VERSION POLICY [with-selvedge: yes|no]: writes a conflist.
topo_net() {
	local name=$1 version=$2 policy=$3 with=${4:-yes} dir=$TOPO_DIR/net-$1
	mkdir -p "$dir"
	local selvedge=""
	if [ "$with" = yes ]; then
		selvedge=",{\"type\":\"selvedge-cni\",\"failurePolicy\":\"$policy\",\"stateDir\":\"$TOPO_DIR/state\",\"agentSocket\":\"$TOPO_DIR/agent.sock\",\"agentTimeoutMs\":${TOPO_AGENT_TIMEOUT_MS:-500},\"logFile\":\"$TOPO_DIR/cni.log\"}"
	fi
	cat >"$dir/10-$name.conflist" <<JSON
{"cniVersion":"$version","name":"$name","plugins":[
 {"type":"bridge","bridge":"svbr0","isGateway":true,"ipam":{"type":"host-local",
  "ranges":[[{"subnet":"10.77.0.0/24"}],[{"subnet":"fd77::/64"}]],"dataDir":"$TOPO_DIR/ipam"}}$selvedge]}
JSON
}

# topo_cni NET VERSION COMMAND POD: runs cnitool for POD on network NET.
topo_cni() {
	local net=$1 version=$2 cmd=$3 pod=$4 plugins=$PLUGINS_NEW
	[ "$version" = 1.1.0 ] || plugins=$PLUGINS_DEBIAN
	# gc and status take a namespace argument they do not use: give the node's.
	local target=/var/run/netns/$pod
	case "$cmd" in gc | status) target=/var/run/netns/$NODE ;; esac
	ip netns exec "$NODE" env NETCONFPATH="$TOPO_DIR/net-$net" CNI_PATH="$plugins:$TOPO_DIR/bin" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=dev;K8S_POD_NAME=$pod;K8S_POD_UID=uid-$pod" \
		"$CNITOOL" "$cmd" "$net" "$target"
}

# plugin NET VERB POD [PREV_RESULT_JSON]: runs selvedge-cni alone, as the
# runtime would, with the selvedge entry of NET's conflist; prints its stdout.
plugin() {
	local net=$1 verb=$2 pod=$3 prev=${4:-null} conf cid
	conf=$(jq -c --argjson prev "$prev" '.plugins[-1] + {cniVersion, name} +
		(if $prev == null then {} else {prevResult: $prev} end)' "$TOPO_DIR/net-$net/10-$net.conflist")
	cid=cnitool-$(printf '%s' "/var/run/netns/$pod" | sha512sum | cut -c1-20)
	ip netns exec "$NODE" env CNI_COMMAND="$verb" CNI_CONTAINERID="$cid" CNI_NETNS="/var/run/netns/$pod" \
		CNI_IFNAME=eth0 CNI_PATH="$TOPO_DIR/bin" "$TOPO_DIR/bin/selvedge-cni" <<<"$conf"
}

topo_pod() { ip netns add "$1"; }

pod_ip4() { ip -n "$1" -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }'; }

# Chains and records left behind.
guard_chains() { ip netns exec "$NODE" nft -j list chains netdev 2>/dev/null | jq '[.nftables[] | select(.chain.table == "selvedge_guard")] | length'; }
state_records() { find "$TOPO_DIR/state/pods" -name '*.json' 2>/dev/null | wc -l; }
guard_drops() { ip netns exec "$NODE" nft -j list table netdev selvedge_guard | jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add // 0'; }

topo_cleanup() {
	local ns
	[ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^sv-$TOPO_TAG-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$TOPO_DIR"
}

# A stand-in for the node agent's socket (the agent itself arrives with the
# operator): answers every request with ok and a service account.
agent_start() {
	cat >"$TOPO_DIR/agent.sh" <<'SH'
#!/bin/sh
cat >/dev/null
echo '{"ok":true,"serviceAccount":"default"}'
SH
	chmod +x "$TOPO_DIR/agent.sh"
	socat UNIX-LISTEN:"$TOPO_DIR/agent.sock",fork,unlink-early EXEC:"$TOPO_DIR/agent.sh" &
	AGENT_PID=$!
	for _ in $(seq 1 50); do [ -S "$TOPO_DIR/agent.sock" ] && return 0; sleep 0.1; done
	return 1
}
agent_stop() { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=; rm -f "$TOPO_DIR/agent.sock"; }
