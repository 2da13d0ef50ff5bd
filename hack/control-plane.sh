#!/usr/bin/env bash
# A real, local Kubernetes control plane for tests and the demo: etcd and
# kube-apiserver on a loopback address, with certificates and a service-account
# key made on the spot. No kubelet, no controller-manager.
#
#   hack/control-plane.sh up       start (or reuse a healthy running instance)
#   hack/control-plane.sh down     stop; leaves no process behind
#   hack/control-plane.sh purge    down, then delete all state (etcd data, certs)
#   hack/control-plane.sh env      print shell exports (KUBECONFIG, PATH)
#   hack/control-plane.sh status   exit 0 when /readyz answers ok
#   hack/control-plane.sh stop-apiserver   stop kube-apiserver only; etcd keeps running
#   hack/control-plane.sh start-apiserver  start kube-apiserver again (etcd must be
#                                          running) and wait for /readyz
#   hack/control-plane.sh compact          compact etcd at its current revision
#                                          (physical); prints that revision
#   hack/control-plane.sh etcd-revision    print etcd's current revision
#
# The last four are for tests of what clients do when the apiserver goes away
# or when a watch's resourceVersion has been compacted ("410 Gone").
#
# Settings (environment): SELVEDGE_CP_DIR, SELVEDGE_CP_ADDR (127.0.0.1),
# SELVEDGE_CP_PORT (36443), SELVEDGE_ETCD_PORT (32379; peer port is +1),
# SELVEDGE_CP_WATCH_CACHE (true; false makes the apiserver serve every watch
# from etcd, so a watch behind a compaction gets the in-stream 410 at once).
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"

CP_DIR=${SELVEDGE_CP_DIR:-$SELVEDGE_CACHE/control-plane}
CP_ADDR=${SELVEDGE_CP_ADDR:-127.0.0.1}
CP_PORT=${SELVEDGE_CP_PORT:-36443}
ETCD_PORT=${SELVEDGE_ETCD_PORT:-32379}
ETCD_PEER_PORT=$((ETCD_PORT + 1))
PKI=$CP_DIR/pki
KUBECONFIG_PATH=$CP_DIR/kubeconfig
READY_TIMEOUT=${SELVEDGE_CP_READY_TIMEOUT:-180}

# Every process we start names a path under $CP_DIR on its command line, so a
# killed run's leftovers are found by that rather than by pid files that may be
# stale.
our_pids() { pgrep -f -- "^$SELVEDGE_BIN/(etcd|kube-apiserver) .*$CP_DIR/" || true; }
etcd_pids() { pgrep -f -- "^$SELVEDGE_BIN/etcd .*$CP_DIR/" || true; }
apiserver_pids() { pgrep -f -- "^$SELVEDGE_BIN/kube-apiserver .*$CP_DIR/" || true; }
ETCD_URL=http://$CP_ADDR:$ETCD_PORT

make_pki() {
	[ -s "$PKI/admin.crt" ] && [ -s "$PKI/sa.pub" ] && return 0
	log "control-plane: creating certificates in $PKI"
	rm -rf "$PKI"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	(
		cd "$PKI"
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout ca.key -out ca.crt -days 3650 -subj "/CN=selvedge-test-ca" 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
		printf '%s\n' "subjectAltName=IP:$CP_ADDR,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1" \
			"extendedKeyUsage=serverAuth" "keyUsage=digitalSignature,keyEncipherment" >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout admin.key -out admin.csr -subj "/O=system:masters/CN=selvedge-admin" 2>/dev/null
		printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=digitalSignature" >client.ext
		openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out admin.crt -days 3650 -extfile client.ext 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		rm -f ./*.csr ./*.ext ca.srl
	)
}

write_kubeconfig() {
	local tmp
	tmp=$(mktemp "$CP_DIR/kubeconfig.XXXXXX")
	cat >"$tmp" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: selvedge-local
  cluster:
    server: https://$CP_ADDR:$CP_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: selvedge-admin
  user:
    client-certificate-data: $(base64 -w0 "$PKI/admin.crt")
    client-key-data: $(base64 -w0 "$PKI/admin.key")
contexts:
- name: selvedge-local
  context: {cluster: selvedge-local, user: selvedge-admin}
current-context: selvedge-local
KCFG
	chmod 600 "$tmp"
	mv -f "$tmp" "$KUBECONFIG_PATH"
}

readyz() {
	curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" \
		--key "$PKI/admin.key" "https://$CP_ADDR:$CP_PORT/readyz" 2>/dev/null | grep -qx ok
}

# stop_procs PIDS_FUNC: SIGTERM the processes PIDS_FUNC lists, wait up to 10 s,
# then SIGKILL what is left.
stop_procs() {
	local list=$1 pids
	pids=$("$list")
	[ -n "$pids" ] || return 0
	log "control-plane: stopping $(echo "$pids" | wc -w) process(es)"
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null || true
	for _ in $(seq 1 100); do
		[ -n "$("$list")" ] || return 0
		sleep 0.1
	done
	pids=$("$list")
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	sleep 0.2
	[ -z "$("$list")" ] || die "control-plane: processes survived SIGKILL: $("$list")"
}
stop_all() { stop_procs our_pids; }
stop_apiserver() { stop_procs apiserver_pids; }

port_free() { ! (exec 3<>"/dev/tcp/$CP_ADDR/$1") 2>/dev/null; }

up() {
	for b in etcd kube-apiserver kubectl; do
		[ -x "$SELVEDGE_BIN/$b" ] || die "$SELVEDGE_BIN/$b missing: run hack/install-deps.sh"
	done
	mkdir -p "$CP_DIR/logs"
	if [ -n "$(our_pids)" ] && [ -s "$KUBECONFIG_PATH" ] && readyz; then
		log "control-plane: already running at https://$CP_ADDR:$CP_PORT"
		return 0
	fi
	# Leftovers of a killed or half-started run: stop them and start afresh.
	stop_all
	for p in "$CP_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
		port_free "$p" || die "control-plane: port $CP_ADDR:$p is taken by another program"
	done
	make_pki
	write_kubeconfig

	log "control-plane: starting etcd on $CP_ADDR:$ETCD_PORT"
	setsid "$SELVEDGE_BIN/etcd" \
		--name selvedge --data-dir "$CP_DIR/etcd" \
		--listen-client-urls "http://$CP_ADDR:$ETCD_PORT" \
		--advertise-client-urls "http://$CP_ADDR:$ETCD_PORT" \
		--listen-peer-urls "http://$CP_ADDR:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://$CP_ADDR:$ETCD_PEER_PORT" \
		--initial-cluster "selvedge=http://$CP_ADDR:$ETCD_PEER_PORT" \
		--listen-metrics-urls "" --log-level warn \
		</dev/null >"$CP_DIR/logs/etcd.log" 2>&1 9>&- &

	: >"$CP_DIR/logs/kube-apiserver.log"
	launch_apiserver
	wait_ready stop_all
}

launch_apiserver() {
	log "control-plane: starting kube-apiserver on $CP_ADDR:$CP_PORT"
	# No controller-manager runs here, so nothing would create the default
	# ServiceAccount of a namespace: the ServiceAccount admission plugin is off.
	# The endpoint reconciler is off because a loopback address is not a valid
	# endpoint for the "kubernetes" Service.
	setsid "$SELVEDGE_BIN/kube-apiserver" \
		--etcd-servers "$ETCD_URL" \
		--bind-address "$CP_ADDR" --advertise-address "$CP_ADDR" --secure-port "$CP_PORT" \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--service-account-key-file "$PKI/sa.pub" \
		--service-account-signing-key-file "$PKI/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--api-audiences https://kubernetes.default.svc \
		--service-cluster-ip-range 10.96.0.0/16 \
		--authorization-mode RBAC --endpoint-reconciler-type none \
		--disable-admission-plugins ServiceAccount \
		--profiling=false --v 1 --watch-cache="${SELVEDGE_CP_WATCH_CACHE:-true}" \
		</dev/null >>"$CP_DIR/logs/kube-apiserver.log" 2>&1 9>&- &
}

# wait_ready CLEANUP: waits for /readyz; on failure runs CLEANUP and exits.
wait_ready() {
	local cleanup=$1 start=$SECONDS why=
	until readyz; do
		if [ $((SECONDS - start)) -ge "$READY_TIMEOUT" ]; then
			why="/readyz not ok after ${READY_TIMEOUT}s"
		elif [ $((SECONDS - start)) -lt 2 ]; then
			: # give the processes just started time to exec before looking for them
		elif [ -z "$(apiserver_pids)" ]; then
			why="kube-apiserver exited during start"
		elif [ -z "$(etcd_pids)" ]; then
			why="etcd exited during start"
		fi
		if [ -n "$why" ]; then
			tail -n 20 "$CP_DIR/logs/etcd.log" "$CP_DIR/logs/kube-apiserver.log" >&2 || true
			"$cleanup"
			die "control-plane: $why (logs in $CP_DIR/logs)"
		fi
		sleep 0.5
	done
	log "control-plane: ready in $((SECONDS - start)) s; KUBECONFIG=$KUBECONFIG_PATH"
}

start_apiserver() {
	[ -x "$SELVEDGE_BIN/kube-apiserver" ] || die "$SELVEDGE_BIN/kube-apiserver missing: run hack/install-deps.sh"
	[ -n "$(etcd_pids)" ] || die "control-plane: etcd is not running (use: $0 up)"
	if [ ! -s "$PKI/admin.crt" ] || [ ! -s "$KUBECONFIG_PATH" ]; then
		die "control-plane: no certificates or kubeconfig in $CP_DIR (use: $0 up)"
	fi
	if [ -n "$(apiserver_pids)" ]; then
		log "control-plane: kube-apiserver is already running"
	else
		port_free "$CP_PORT" || die "control-plane: port $CP_ADDR:$CP_PORT is taken by another program"
		mkdir -p "$CP_DIR/logs"
		launch_apiserver
	fi
	wait_ready stop_apiserver
}

# etcd_post PATH JSON: POST to etcd's gRPC gateway and print the JSON answer;
# dies on no answer or on an answer that is a gRPC error.
etcd_post() {
	local out
	out=$(curl -sS --max-time 60 -H 'Content-Type: application/json' -d "$2" "$ETCD_URL$1" 2>&1) ||
		die "control-plane: etcd at $ETCD_URL does not answer: $out"
	if jq -e 'has("error") or has("code")' <<<"$out" >/dev/null 2>&1 || ! jq -e . <<<"$out" >/dev/null 2>&1; then
		die "control-plane: etcd $1: $out"
	fi
	printf '%s\n' "$out"
}

# The revision is in the header of any answer; a range over a single key that
# need not exist ("\0", base64 "AA==") is the cheapest way to get one.
etcd_revision() {
	local rev
	rev=$(etcd_post /v3/kv/range '{"key":"AA==","count_only":true}' | jq -r '.header.revision // empty') || exit 1
	[[ "$rev" =~ ^[0-9]+$ ]] || die "control-plane: no revision in etcd's answer"
	echo "$rev"
}

compact() {
	local rev out what=compacted
	rev=$(etcd_revision) || exit 1
	# Physical: the answer comes once the old revisions are removed from the
	# backend, so a watch from before $rev gets "410 Gone" from then on.
	out=$(curl -sS --max-time 300 -H 'Content-Type: application/json' \
		-d "{\"revision\":\"$rev\",\"physical\":true}" "$ETCD_URL/v3/kv/compaction" 2>&1) ||
		die "control-plane: etcd at $ETCD_URL does not answer: $out"
	if jq -e 'has("error") or has("code")' <<<"$out" >/dev/null 2>&1; then
		# Nothing was written since the last compaction at this same revision.
		grep -q 'required revision has been compacted' <<<"$out" ||
			die "control-plane: etcd compaction at revision $rev: $out"
		what="already compacted"
	fi
	out=$(etcd_post /v3/maintenance/status '{}') || exit 1
	log "control-plane: etcd $what at revision $rev; db size $(jq -r '.dbSize' <<<"$out") bytes, in use $(jq -r '.dbSizeInUse // "?"' <<<"$out") bytes"
	echo "$rev"
}

case "${1:-}" in
up | down | purge | env | status | stop-apiserver | start-apiserver | compact | etcd-revision) ;;
*) die "usage: $0 up|down|purge|env|status|stop-apiserver|start-apiserver|compact|etcd-revision" ;;
esac

mkdir -p "$CP_DIR"
case "$1" in up | down | purge | stop-apiserver | start-apiserver)
	# Serialises concurrent up/down; the daemons must not inherit this fd.
	exec 9>"$CP_DIR/lock"
	flock 9
	;;
esac
case "$1" in
up) up ;;
down) stop_all ;;
purge)
	stop_all
	rm -rf "$CP_DIR"
	;;
env)
	printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_PATH"
	# shellcheck disable=SC2016 # $PATH is for the caller's shell to expand
	printf 'export PATH=%q:"$PATH"\n' "$SELVEDGE_BIN"
	;;
status) readyz ;;
stop-apiserver) stop_apiserver ;;
start-apiserver) start_apiserver ;;
compact) compact ;;
etcd-revision) etcd_revision ;;
esac
