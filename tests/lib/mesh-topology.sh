# shellcheck shell=bash
# A two-node mesh test bed on the real kernel: each node is a network
# namespace with a Linux bridge for its pods (bridge + host-local through
# cnitool, selvedge-cni chained with failurePolicy Fail), the nodes are joined
# by one veth pair and route each other's pod CIDR. Nothing is routed out of
# them: no link to the root namespace, no default route. One selvedge-operator
# per node runs in the root namespace (it reaches the private apiserver on
# 127.0.0.1) with --netns, so its netfilter and NFLOG sockets live in the node.
# A fake kube-proxy (table ip kube-proxy, nat prerouting at -100) DNATs Service
# cluster IPs to endpoints, as kube-proxy's nftables mode does.
#
#   node n1: 192.168.77.1/24, pods 10.78.1.0/24     node n2: 192.168.77.2, 10.78.2.0/24
#   with MESH_IPV6=1 also: fd77::1/64, pods fd78:1::/64   fd77::2, fd78:2::/64
#   (pods then have both families; Services and the fake kube-proxy stay IPv4)
#
# Callers set MESH_TAG (short, unique) before sourcing, call mesh_cp_up then
# mesh_nodes_up, and mesh_cleanup on exit (trap). The control plane is private
# (its own directory and ports: MESH_CP_NAME, MESH_CP_PORT, MESH_ETCD_PORT),
# so the shared one is never disturbed; one run at a time per MESH_CP_NAME.
: "${MESH_TAG:?set MESH_TAG}"
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../hack/lib.sh"
MESH_BUILD=${SELVEDGE_BUILD:-$SELVEDGE_ROOT/build}
MESH_OPERATOR=$MESH_BUILD/selvedge-operator
MESH_CNITOOL=$SELVEDGE_BIN/cnitool
MESH_PLUGINS=$SELVEDGE_CACHE/cni-plugins
MESH_CP=$SELVEDGE_ROOT/hack/control-plane.sh
# Debian's interpreter starts in ~20 ms; a version manager's shim takes longer.
MESH_PY=/usr/bin/python3
[ -x "$MESH_PY" ] || MESH_PY=$(command -v python3)
MESH_CP_NAME=${MESH_CP_NAME:-mesh}
MESH_IPV6=${MESH_IPV6:-0}
MESH_CP_PORT=${MESH_CP_PORT:-36643}
MESH_ETCD_PORT=${MESH_ETCD_PORT:-32579}
MESH_LEASE_NS=selvedge-system
MESH_NFLOG_GROUP=70
MESH_DEFAULT_POLICY=${MESH_DEFAULT_POLICY:-allow}
# Client connect timeout (s): a dropped SYN must not be mistaken for success,
# and must not take long either. Under the kernel's first SYN retransmission
# (1 s), so one attempt is one SYN: a rule that changes during an attempt
# cannot turn its outcome around.
MESH_TIMEOUT=${MESH_TIMEOUT:-0.8}

# On tmpfs, like /run on a real node.
MESH_DIR=$(mktemp -d "/dev/shm/sv-$MESH_TAG.XXXXXX")
mkdir -p "$MESH_DIR/bin" "$MESH_DIR/pods" "$MESH_DIR/run" "$MESH_DIR/svc"
declare -A MESH_OP_PID=() MESH_OP_PORT=()
MESH_BG_PIDS=()

mesh_node() { echo "sv-$MESH_TAG-n$1"; }          # node N's netns
mesh_node_name() { echo "mesh-n$1"; }             # node N in the API
mesh_pod_ns() { echo "sv-$MESH_TAG-p-$1"; }       # a pod's netns
mesh_nx() { ip netns exec "$(mesh_node "$1")" "${@:2}"; } # run in node N

# ------------------------------------------------------------------ control plane

# mesh_cp_up: a private control plane (started afresh: a killed run's etcd
# would hold its objects), the CRDs, and the namespaces dev (env=dev), prod
# (env=prod) and the Leases'. Exports KUBECONFIG and PATH.
mesh_cp_up() {
	export SELVEDGE_CP_DIR=$SELVEDGE_CACHE/control-plane-$MESH_CP_NAME
	export SELVEDGE_CP_PORT=$MESH_CP_PORT SELVEDGE_ETCD_PORT=$MESH_ETCD_PORT
	"$MESH_CP" purge >"$MESH_DIR/cp.log" 2>&1 || return 1
	"$MESH_CP" up >>"$MESH_DIR/cp.log" 2>&1 || { tail -5 "$MESH_DIR/cp.log"; return 1; }
	eval "$("$MESH_CP" env)"
	kubectl apply --server-side --force-conflicts -f "$SELVEDGE_ROOT/crds/" >/dev/null &&
		kubectl wait --for=condition=Established --timeout=60s \
			crd/servicepolicies.selvedge.dev crd/trafficsplits.selvedge.dev >/dev/null &&
		kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: $MESH_LEASE_NS}
EOF
}
# Stops the private control plane and deletes its state: it is ours alone.
mesh_cp_down() {
	[ -n "${SELVEDGE_CP_DIR:-}" ] || return 0
	"$MESH_CP" purge >/dev/null 2>&1
}

# ------------------------------------------------------------------ nodes

# mesh_nodes_up: both node namespaces, the link between them, their CNI
# configuration and an empty fake kube-proxy table.
mesh_nodes_up() {
	local n ns
	cp "$MESH_BUILD/selvedge-cni" "$MESH_DIR/bin/selvedge-cni" || return 1
	for n in 1 2; do
		ns=$(mesh_node "$n")
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
		mkdir -p "$MESH_DIR/n$n/net" "$MESH_DIR/n$n/cni"
		# Routing between nodes, and br_netfilter so that bridged pod-to-pod
		# traffic meets the forward hook (per namespace on this kernel).
		mesh_nx "$n" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 || return 1
		mesh_nx "$n" sysctl -qw net.bridge.bridge-nf-call-ip6tables=1
		local ranges='[{"subnet":"10.78.'$n'.0/24"}]' routes='{"dst":"0.0.0.0/0"}'
		if [ "$MESH_IPV6" = 1 ]; then
			mesh_nx "$n" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
			ranges+=',[{"subnet":"fd78:'$n'::/64"}]'
			routes+=',{"dst":"::/0"}'
		fi
		# Pods route everything to their node (as on a real node, where
		# Service IPs are reached that way); the node itself has no default
		# route, so nothing leaves the two nodes.
		cat >"$MESH_DIR/n$n/net/10-mesh.conflist" <<JSON
{"cniVersion":"1.1.0","name":"sv$MESH_TAG","plugins":[
 {"type":"bridge","bridge":"svbr0","isGateway":true,"ipam":{"type":"host-local",
  "ranges":[$ranges],"routes":[$routes],"dataDir":"$MESH_DIR/n$n/ipam"}},
 {"type":"selvedge-cni","failurePolicy":"Fail","agentSocket":"$MESH_DIR/n$n/agent.sock",
  "stateDir":"$MESH_DIR/n$n/cni","agentTimeoutMs":5000,"logFile":"$MESH_DIR/n$n/cni.log"}]}
JSON
	done
	ip -n "$(mesh_node 1)" link add node0 type veth peer name node0 netns "$(mesh_node 2)" || return 1
	for n in 1 2; do
		ns=$(mesh_node "$n")
		ip -n "$ns" addr add "192.168.77.$n/24" dev node0
		ip -n "$ns" link set node0 up
		ip -n "$ns" route add "10.78.$((3 - n)).0/24" via "192.168.77.$((3 - n))" || return 1
		if [ "$MESH_IPV6" = 1 ]; then
			ip -n "$ns" addr add "fd77::$n/64" dev node0 nodad || return 1
			ip -n "$ns" route add "fd78:$((3 - n))::/64" via "fd77::$((3 - n))" || return 1
		fi
	done
	mesh_kube_proxy_sync
	mesh_write_py
}

# ------------------------------------------------------------------ the fake kube-proxy

# Service records: $MESH_DIR/svc/NS_NAME holds "clusterIP", "ports" (name:port:
# target:proto, comma separated) and "endpoints" (pod names; NAME~ = not ready).
mesh_kube_proxy_rules() {
	local f cip ports eps p name port target proto ips i
	for f in "$MESH_DIR"/svc/*; do
		[ -e "$f" ] || continue
		cip=$(sed -n 1p "$f")
		ports=$(sed -n 2p "$f")
		eps=$(sed -n 3p "$f")
		ips=()
		for p in $eps; do
			[ "${p%\~}" = "$p" ] || continue # not ready: kube-proxy leaves it out
			ips+=("$(mesh_ip "$p")")
		done
		[ ${#ips[@]} -gt 0 ] || continue
		for p in ${ports//,/ }; do
			IFS=: read -r name port target proto <<<"$p"
			proto=${proto,,}
			if [ ${#ips[@]} -eq 1 ]; then
				printf '\t\tip daddr %s %s dport %s counter dnat to %s:%s comment "%s"\n' \
					"$cip" "$proto" "$port" "${ips[0]}" "$target" "$(basename "$f")/$name"
			else
				printf '\t\tip daddr %s %s dport %s counter dnat to numgen random mod %d map { ' \
					"$cip" "$proto" "$port" "${#ips[@]}"
				for i in "${!ips[@]}"; do
					[ "$i" -eq 0 ] || printf ', '
					printf '%d : %s' "$i" "${ips[$i]}"
				done
				printf ' }:%s comment "%s"\n' "$target" "$(basename "$f")/$name"
			fi
		done
	done
}
# mesh_kube_proxy_sync: rewrites table ip kube-proxy on both nodes (one
# transaction each, as kube-proxy does), then snapshots it: the operator must
# never change it (mesh_kube_proxy_unchanged).
mesh_kube_proxy_sync() {
	local n rules
	rules=$(mesh_kube_proxy_rules)
	for n in 1 2; do
		mesh_nx "$n" nft -f - <<EOF || return 1
table ip kube-proxy {}
delete table ip kube-proxy
table ip kube-proxy {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
$rules
	}
}
EOF
		mesh_nx "$n" nft -s list table ip kube-proxy >"$MESH_DIR/n$n/kube-proxy.snapshot"
	done
}
# Passes when both nodes' kube-proxy tables are as the test last wrote them.
mesh_kube_proxy_unchanged() {
	local n
	for n in 1 2; do
		diff -u "$MESH_DIR/n$n/kube-proxy.snapshot" <(mesh_nx "$n" nft -s list table ip kube-proxy) || return 1
	done
}
# mesh_kube_proxy_hits NODE NS/NAME/PORTNAME: packets counted by that rule
# (NAT chains see a connection's first packet only: connections DNATed here).
mesh_kube_proxy_hits() {
	mesh_nx "$1" nft -j list table ip kube-proxy | jq --arg c "$2" \
		'[.nftables[] | .rule? // empty | select(.comment == $c) | .expr[] | .counter? // empty | .packets] | add // 0'
}

# ------------------------------------------------------------------ pods

# mesh_pod NODE NS NAME SA [LABEL=VALUE...]: a Pod bound to node NODE in the
# API, its namespace wired by cnitool inside the node (the plugin asks that
# node's operator, which must be running: failurePolicy Fail), its IP reported
# as the kubelet would, and a server in it (mesh_serve; its ports from
# MESH_TCP_PORTS, MESH_ECHO_PORTS, MESH_UDP_PORTS when set).
mesh_pod() {
	local node=$1 ns=$2 name=$3 sa=$4 labels="" l pns ip uid
	shift 4
	for l in "$@"; do labels+="${labels:+, }${l%%=*}: \"${l#*=}\""; done
	pns=$(mesh_pod_ns "$name")
	kubectl apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $ns, labels: {$labels}}
spec:
  nodeName: $(mesh_node_name "$node")
  serviceAccountName: $sa
  containers: [{name: c, image: pause}]
EOF
	uid=$(kubectl -n "$ns" get pod "$name" -o jsonpath='{.metadata.uid}')
	ip netns add "$pns" || return 1
	echo "$ns $node $sa" >"$MESH_DIR/pods/$name"
	# The operator may not have the pod in its cache yet: "try again later"
	# (code 11); the kubelet then tears the sandbox down and retries, so do we.
	local i out
	for i in 1 2 3 4 5; do
		out=$(mesh_cni "$node" add "$name" "$ns" "$uid" 2>&1) && break
		mesh_cni "$node" del "$name" "$ns" "$uid" >/dev/null 2>&1
		[ "$i" -lt 5 ] || { echo "$out"; return 1; }
		sleep 0.5
	done
	ip=$(ip -n "$pns" -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }')
	[ -n "$ip" ] || return 1
	local ip6="" pod_ips="{\"ip\":\"$ip\"}"
	if [ "$MESH_IPV6" = 1 ]; then
		# Usable once duplicate address detection is over (about a second).
		for i in $(seq 1 40); do
			ip6=$(ip -n "$pns" -6 -o addr show dev eth0 scope global -tentative |
				awk '{ split($4, a, "/"); print a[1] }')
			[ -n "$ip6" ] && break
			sleep 0.1
		done
		[ -n "$ip6" ] || return 1
		pod_ips+=",{\"ip\":\"$ip6\"}"
	fi
	echo "$ns $node $sa $ip $ip6" >"$MESH_DIR/pods/$name"
	kubectl -n "$ns" patch pod "$name" --subresource=status --type=merge \
		-p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$ip\",\"podIPs\":[$pod_ips]}}" >/dev/null || return 1
	mesh_serve "$name" "${MESH_TCP_PORTS:-8080,9090}" "${MESH_ECHO_PORTS:-7000}" "${MESH_UDP_PORTS:-}"
}
# mesh_cni NODE VERB POD [NS UID]: cnitool inside node NODE for POD's netns.
mesh_cni() {
	local node=$1 verb=$2 name=$3 ns=${4:-} uid=${5:-}
	[ -n "$ns" ] || ns=$(mesh_pod_field "$name" 1)
	ip netns exec "$(mesh_node "$node")" env NETCONFPATH="$MESH_DIR/n$node/net" \
		CNI_PATH="$MESH_PLUGINS:$MESH_DIR/bin" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name${uid:+;K8S_POD_UID=$uid}" \
		"$MESH_CNITOOL" "$verb" "sv$MESH_TAG" "/var/run/netns/$(mesh_pod_ns "$name")"
}
# mesh_pod_field POD N: field N of the pod's record (1 ns, 2 node, 3 sa, 4 ip,
# 5 IPv6 address with MESH_IPV6=1).
mesh_pod_field() { awk -v n="$2" '{ print $n }' "$MESH_DIR/pods/$1" 2>/dev/null; }
mesh_ip() { mesh_pod_field "$1" 4; }
mesh_ip6() { mesh_pod_field "$1" 5; }
mesh_pod_node() { mesh_pod_field "$1" 2; }

# mesh_pod_del POD: its server stopped, CNI DEL, the Pod deleted, the netns gone.
mesh_pod_del() {
	local name=$1 ns node pid
	ns=$(mesh_pod_field "$name" 1)
	node=$(mesh_pod_node "$name")
	[ -n "$node" ] || return 1
	pid=$(cat "$MESH_DIR/run/$name.pid" 2>/dev/null)
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	mesh_cni "$node" del "$name" >/dev/null || return 1
	kubectl -n "$ns" delete pod "$name" --grace-period=0 --force >/dev/null 2>&1
	ip netns del "$(mesh_pod_ns "$name")"
	rm -f "$MESH_DIR/pods/$name" "$MESH_DIR/run/$name.pid"
}
# mesh_pods: every pod's name.
mesh_pods() { find "$MESH_DIR/pods" -type f -printf '%f\n' | sort; }

# mesh_run POD CMD...: runs CMD in POD's network namespace.
mesh_run() { ip netns exec "$(mesh_pod_ns "$1")" "${@:2}"; }

# ------------------------------------------------------------------ Services

# mesh_service NS NAME CLUSTER_IP PORTS POD...: a Service with a fixed cluster
# IP and no selector (no controller-manager runs), its EndpointSlice listing
# the pods (POD~ : not ready), and the fake kube-proxy's rules for it.
# PORTS: name:port:targetPort:PROTO,... e.g. http:80:8080:TCP.
mesh_service() {
	local ns=$1 name=$2 cip=$3 ports=$4 p pname port target proto yports=""
	shift 4
	for p in ${ports//,/ }; do
		IFS=: read -r pname port target proto <<<"$p"
		yports+="  - {name: $pname, port: $port, targetPort: $target, protocol: $proto}"$'\n'
	done
	kubectl apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: $ns}
spec:
  clusterIP: $cip
  ports:
$yports
EOF
	printf '%s\n%s\n' "$cip" "$ports" >"$MESH_DIR/svc/${ns}_$name"
	mesh_endpoints "$ns" "$name" "$@"
}
# mesh_endpoints NS NAME POD...: the Service's EndpointSlice now lists these
# pods (POD~ : not ready); kube-proxy follows.
mesh_endpoints() {
	local ns=$1 name=$2 f p pname port target proto eps="" yports=""
	shift 2
	f=$MESH_DIR/svc/${ns}_$name
	for p in $(sed -n 2p "$f" | tr , ' '); do
		IFS=: read -r pname port target proto <<<"$p"
		yports+="- {name: $pname, port: $target, protocol: $proto}"$'\n'
	done
	for p in "$@"; do
		local pod=${p%\~} ready=true
		[ "$pod" = "$p" ] || ready=false
		eps+="- addresses: [\"$(mesh_ip "$pod")\"]
  conditions: {ready: $ready}
  nodeName: $(mesh_node_name "$(mesh_pod_node "$pod")")
  targetRef: {kind: Pod, namespace: $ns, name: $pod}
"
	done
	[ -n "$eps" ] || eps="[]"
	kubectl apply -f - >/dev/null <<EOF || return 1
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-mesh, namespace: $ns, labels: {kubernetes.io/service-name: $name}}
addressType: IPv4
ports:
$yports
endpoints:
$(if [ "$eps" = "[]" ]; then echo "  []"; else printf '%s' "$eps"; fi)
EOF
	printf '%s\n%s\n%s\n' "$(sed -n 1p "$f")" "$(sed -n 2p "$f")" "$*" >"$f.new" && mv "$f.new" "$f"
	mesh_kube_proxy_sync
}

# ------------------------------------------------------------------ operators

# mesh_backend_args N: the backend flags this build has (nftables in node N's
# namespace; until the backend exists, the record backend).
mesh_has_nftables() { "$MESH_OPERATOR" --help 2>&1 | grep -q 'nftables'; }
mesh_backend_args() {
	if mesh_has_nftables; then
		echo "--backend nftables --netns /var/run/netns/$(mesh_node "$1")" \
			"--default-policy $MESH_DEFAULT_POLICY --nflog-group $MESH_NFLOG_GROUP"
	else
		echo "--backend record:$MESH_DIR/n$1/record.json"
	fi
}
mesh_free_port() {
	"$MESH_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# mesh_operator_start N: node N's operator, in the root namespace; waits until
# it is ready (its first state applied). MESH_DEFAULT_POLICY chooses the
# mesh-wide default; MESH_OPERATOR_EXTRA holds more flags (words).
mesh_operator_start() {
	local n=$1 args
	[ -z "${MESH_OP_PID[$n]:-}" ] || return 0
	MESH_OP_PORT[$n]=$(mesh_free_port)
	read -ra args <<<"$(mesh_backend_args "$n") ${MESH_OPERATOR_EXTRA:-}"
	echo "--- start $(date +%T.%N) ${args[*]}" >>"$MESH_DIR/n$n/operator.log"
	"$MESH_OPERATOR" --node-name "$(mesh_node_name "$n")" --namespace "$MESH_LEASE_NS" \
		--kubeconfig "$KUBECONFIG" --state-dir "$MESH_DIR/n$n/state" "${args[@]}" \
		--metrics-addr "127.0.0.1:${MESH_OP_PORT[$n]}" --agent-socket "$MESH_DIR/n$n/agent.sock" \
		--cni-state-dir "$MESH_DIR/n$n/cni" --debounce-ms 20 --log-level "${MESH_LOG_LEVEL:-info}" \
		</dev/null >/dev/null 2>>"$MESH_DIR/n$n/operator.log" &
	MESH_OP_PID[$n]=$!
	local i
	for i in $(seq 1 200); do
		kill -0 "${MESH_OP_PID[$n]}" 2>/dev/null || { MESH_OP_PID[$n]=; return 1; }
		curl -sf --max-time 1 "http://127.0.0.1:${MESH_OP_PORT[$n]}/readyz" >/dev/null &&
			[ -S "$MESH_DIR/n$n/agent.sock" ] && return 0
		sleep 0.1
	done
	[ "$i" -lt 200 ]
}
# mesh_operator_stop N: SIGTERM and wait (bounded); SIGKILL after 10 s.
# Returns the operator's exit status (0 on a clean stop).
mesh_operator_stop() {
	local n=$1 pid=${MESH_OP_PID[$1]:-} i rc=0
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$i" -lt 100 ] || { kill -9 "$pid" 2>/dev/null; rc=1; }
	wait "$pid" 2>/dev/null || rc=$?
	MESH_OP_PID[$n]=
	return "$rc"
}
mesh_metrics() { curl -sf --max-time 2 "http://127.0.0.1:${MESH_OP_PORT[$1]}/metrics"; }

# mesh_wait_programmed KIND NS NAME [SECONDS]: waits until the object's
# Programmed condition is True for its current generation (every node has it
# in its data plane).
mesh_wait_programmed() {
	local kind=$1 ns=$2 name=$3 end=$((SECONDS + ${4:-20}))
	while [ "$SECONDS" -lt "$end" ]; do
		local obj
		obj=$(kubectl -n "$ns" get "$kind" "$name" -o json 2>/dev/null) || obj=
		# The object is checked non-empty: jq -e passes on no input.
		[ -n "$obj" ] && jq -e '.metadata.generation as $g |
			any(.status.conditions[]?; .type == "Programmed" and .status == "True" and .observedGeneration == $g)' \
			<<<"$obj" >/dev/null && return 0
		sleep 0.1
	done
	kubectl -n "$ns" get "$kind" "$name" -o jsonpath='{.status}' 2>&1
	return 1
}

# ------------------------------------------------------------------ traffic

# The servers and clients: one small Python program (the standard library
# only), written where the pods can run it.
mesh_write_py() {
	cat >"$MESH_DIR/mesh.py" <<'PY'
import errno, json, socket, socketserver, sys, threading, time

def serve(name, tcp, echo, udp, ready):
    # TCP name ports: answer the pod's name and close. Echo ports: echo lines
    # until the client closes. UDP ports: answer each datagram with the name.
    class Name(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall((name + "\n").encode())
    class Echo(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(line)
                self.wfile.flush()
    class Udp(socketserver.BaseRequestHandler):
        def handle(self):
            self.request[1].sendto((name + "\n").encode(), self.client_address)
    # Dual-stack sockets: IPv4 clients arrive as ::ffff:a.b.c.d.
    class Dual:
        address_family = socket.AF_INET6
        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()
    class T(Dual, socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 512
    class U(Dual, socketserver.ThreadingUDPServer):
        pass
    servers = [T(("::", p), Name) for p in tcp] + [T(("::", p), Echo) for p in echo]
    servers += [U(("::", p), Udp) for p in udp]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    open(ready, "w").close()
    threading.Event().wait()

def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET

def classify(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return {errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "unreachable",
            errno.ENETUNREACH: "unreachable", errno.ECONNRESET: "reset",
            errno.ETIMEDOUT: "timeout", errno.EADDRNOTAVAIL: "noaddr"}.get(e.errno, "error:%s" % e)

def connect(ip, port, timeout, src=None):
    # One connection; prints "ok NAME" or why it failed.
    s = socket.socket(family(ip))
    s.settimeout(timeout)
    try:
        if src:
            s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address may be anyone's
            s.bind((src, 0))
        s.connect((ip, port))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return ("ok " + data.decode().strip()) if data else "closed"
    except OSError as e:
        return classify(e)
    finally:
        s.close()

def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        ports = lambda s: [int(p) for p in s.split(",") if p]
        serve(a[0], ports(a[1]), ports(a[2]), ports(a[3]), a[4])
    elif cmd == "connect":  # IP PORT TIMEOUT [SRC]
        print(connect(a[0], int(a[1]), float(a[2]), a[3] if len(a) > 3 else None))
    elif cmd == "many":  # IP PORT COUNT TIMEOUT: counts of each answer, JSON
        # Gives up after 20 failures: dropped connections cost a timeout each.
        counts, failed, t0 = {}, 0, time.monotonic()
        for _ in range(int(a[2])):
            r = connect(a[0], int(a[1]), float(a[3]))
            counts[r] = counts.get(r, 0) + 1
            failed += not r.startswith("ok ")
            if failed >= 20:
                counts["gave up"] = 1
                break
        print(json.dumps({"counts": counts, "seconds": round(time.monotonic() - t0, 3)}))
    elif cmd == "udp":  # IP PORT TIMEOUT
        s = socket.socket(family(a[0]), socket.SOCK_DGRAM)
        s.settimeout(float(a[2]))
        try:
            s.sendto(b"q\n", (a[0], int(a[1])))
            print("ok " + s.recv(256).decode().strip())
        except OSError as e:
            print(classify(e))
    elif cmd == "stream":  # IP PORT SECONDS INTERVAL READY: a long-lived session
        ip, port, secs, gap, ready = a[0], int(a[1]), float(a[2]), float(a[3]), a[4]
        sent = got = 0
        try:
            s = socket.create_connection((ip, port), timeout=2)
            f = s.makefile("rb")
            open(ready, "w").close()
            end = time.monotonic() + secs
            while time.monotonic() < end:
                s.sendall(b"line %d\n" % sent)
                sent += 1
                if f.readline() != b"line %d\n" % (sent - 1):
                    raise OSError(errno.EPROTO, "bad or no echo")
                got += 1
                time.sleep(gap)
            print("ok sent=%d echoed=%d" % (sent, got))
        except OSError as e:
            open(ready, "w").close()
            print("broken sent=%d echoed=%d %s" % (sent, got, classify(e)))
    elif cmd == "rr":  # IP PORT COUNT: request/response round trips on one connection
        s = socket.create_connection((a[0], int(a[1])), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        n, ns = int(a[2]), []
        for _ in range(50):  # warm-up
            s.sendall(b"x\n"); f.readline()
        for _ in range(n):
            t = time.perf_counter_ns()
            s.sendall(b"x\n")
            f.readline()
            ns.append(time.perf_counter_ns() - t)
        ns.sort()
        print("%.1f %.1f" % (ns[n // 2] / 1000, ns[min(n - 1, int(n * 0.99))] / 1000))
    else:
        sys.exit("unknown command " + cmd)

main()
PY
}

# mesh_serve POD [TCP_PORTS ECHO_PORTS UDP_PORTS]: the pod's server, answering
# its name on the TCP and UDP ports (8080 and 9090 by default) and echoing on
# the echo ports (7000).
mesh_serve() {
	local name=$1 tcp=${2:-8080,9090} echo=${3:-7000} udp=${4:-} ready i
	ready=$MESH_DIR/run/$name.ready
	rm -f "$ready"
	# Not through mesh_run (a function: $! would be a subshell's): ip execs
	# the interpreter, so $! is the server itself.
	ip netns exec "$(mesh_pod_ns "$name")" "$MESH_PY" "$MESH_DIR/mesh.py" serve "$name" "$tcp" "$echo" "$udp" "$ready" \
		</dev/null >>"$MESH_DIR/servers.log" 2>&1 &
	echo $! >"$MESH_DIR/run/$name.pid"
	for i in $(seq 1 50); do
		[ -e "$ready" ] && return 0
		sleep 0.1
	done
	return 1
}

# mesh_try POD IP PORT [SRC]: prints "ok NAME", "timeout" (dropped),
# "refused", "unreachable"... for one TCP connection from POD.
mesh_try() { mesh_run "$1" "$MESH_PY" "$MESH_DIR/mesh.py" connect "$2" "$3" "$MESH_TIMEOUT" ${4:+"$4"}; }
mesh_try_udp() { mesh_run "$1" "$MESH_PY" "$MESH_DIR/mesh.py" udp "$2" "$3" "$MESH_TIMEOUT"; }
# mesh_many POD IP PORT COUNT: COUNT connections, JSON {"counts": {answer: n}}.
mesh_many() { mesh_run "$1" "$MESH_PY" "$MESH_DIR/mesh.py" many "$2" "$3" "$4" "$MESH_TIMEOUT"; }
# mesh_stream_start POD IP PORT SECONDS OUT: a long-lived session in the
# background (a line every 100 ms, each echo checked); its verdict goes to OUT
# when it ends. Returns once connected.
mesh_stream_start() {
	local out=$5 i
	rm -f "$out" "$out.ready"
	ip netns exec "$(mesh_pod_ns "$1")" "$MESH_PY" "$MESH_DIR/mesh.py" stream "$2" "$3" "$4" 0.1 "$out.ready" \
		</dev/null >"$out" 2>&1 &
	MESH_BG_PIDS+=($!)
	for i in $(seq 1 50); do
		[ -e "$out.ready" ] && return 0
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------------ cleanup

mesh_cleanup() {
	local n ns p
	for p in "${MESH_BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "$MESH_DIR"/run/*.pid; do
		[ -e "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	for n in "${!MESH_OP_PID[@]}"; do mesh_operator_stop "$n"; done
	# CNI DEL drops cnitool's cached results (/var/lib/cni) with the pods.
	for p in $(mesh_pods 2>/dev/null); do mesh_cni "$(mesh_pod_node "$p")" del "$p" >/dev/null 2>&1; done
	rm -f /var/lib/cni/results/"sv$MESH_TAG"-*
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^sv-$MESH_TAG-"); do
		# Nothing may outlive its namespace (a leftover would hold the
		# caller's files and locks open).
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	wait 2>/dev/null
	mesh_cp_down
	rm -rf "$MESH_DIR"
}
