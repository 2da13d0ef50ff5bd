#!/usr/bin/env bash
# The operator's TLS to the API server: it trusts only the kubeconfig's CA,
# checks the server's certificate against the address or name it dials (an
# IP address against the certificate's iPAddress names), and presents its
# client certificate from RSA and EC keys in the formats kubeconfigs carry
# (PKCS#8, PKCS#1 and SEC1). The server is `openssl s_server`, which requires
# a client certificate from the same CA: a handshake that passes reaches its
# status page, which the operator reports as an answer that is not an API
# list ("HTTP 200"); one that fails is reported as a TLS error.
# Needs no control plane.
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPERATOR=${SELVEDGE_BUILD:-$ROOT/build}/selvedge-operator

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
	[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ca NAME: a self-signed P-256 CA.
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-out "$1.crt" -days 1 -subj "/CN=$1" 2>/dev/null
}
# cert NAME CA KEYSPEC EXT: a certificate signed by CA for a new key
# (KEYSPEC: rsa:2048 or ec) with the extensions EXT.
cert() {
	local name=$1 ca=$2 keyspec=$3 ext=$4 opts=()
	[ "$keyspec" = ec ] && opts=(-pkeyopt ec_paramgen_curve:P-256)
	openssl req -newkey "$keyspec" "${opts[@]}" -nodes -keyout "$name.key" -out "$name.csr" \
		-subj "/CN=$name" 2>/dev/null &&
		printf '%s\n' "$ext" >"$name.ext" &&
		openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
			-out "$name.crt" -days 1 -extfile "$name.ext" 2>/dev/null
}
ca cluster-ca
ca other-ca
cert server-ip cluster-ca rsa:2048 "subjectAltName=IP:127.0.0.1"
cert server-dns cluster-ca ec "subjectAltName=DNS:localhost"
cert server-elsewhere cluster-ca rsa:2048 "subjectAltName=IP:10.96.0.99,DNS:kubernetes"
cert server-other-ca other-ca ec "subjectAltName=IP:127.0.0.1"
cert client-rsa cluster-ca rsa:2048 "extendedKeyUsage=clientAuth"
cert client-ec cluster-ca ec "extendedKeyUsage=clientAuth"
# The key formats kubeconfigs carry: openssl writes PKCS#8; kubeadm writes
# RSA keys as PKCS#1, k3s EC keys as SEC1.
openssl rsa -in client-rsa.key -traditional -out client-rsa-pkcs1.key 2>/dev/null
openssl ec -in client-ec.key -out client-ec-sec1.key 2>/dev/null
check_output "the PKCS#1 key is PKCS#1" 'BEGIN RSA PRIVATE KEY' cat client-rsa-pkcs1.key
check_output "the SEC1 key is SEC1" 'BEGIN EC PRIVATE KEY' cat client-ec-sec1.key

# serve CERT: an s_server with CERT that requires a client certificate of
# the cluster CA.
serve() {
	[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	openssl s_server -accept "127.0.0.1:$PORT" -cert "$1.crt" -key "$1.key" -CAfile cluster-ca.crt \
		-Verify 1 -www -quiet >"server-$1.log" 2>&1 &
	SERVER_PID=$!
	wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
}

# kubeconfig FILE HOST CA CLIENT_CERT CLIENT_KEY_FILE
kubeconfig() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://$2:$PORT
    certificate-authority-data: $(base64 -w0 "$3.crt")
users:
- name: u
  user:
    client-certificate-data: $(base64 -w0 "$4.crt")
    client-key-data: $(base64 -w0 "$5")
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
EOF
}

# first_problem KUBECONFIG: runs the operator until it reports its first
# watch problem and prints that problem's error.
first_problem() {
	local dir
	dir=$(mktemp -d "$WORK/run.XXXX")
	"$OPERATOR" --node-name tls-node --namespace tls-test --kubeconfig "$1" \
		--state-dir "$dir/state" --backend none --metrics-addr 127.0.0.1:0 \
		--agent-socket "$dir/agent.sock" --cni-state-dir "$dir/cni" 2>"$dir/log" &
	local pid=$!
	wait_for 10 grep -q 'msg="watch problem"' "$dir/log"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -m1 'msg="watch problem"' "$dir/log" | sed 's/.* error=//'
}
TLS_ERROR='SSL|certificate|mbedTLS'

serve server-ip
for key in client-rsa.key client-rsa-pkcs1.key client-ec.key client-ec-sec1.key; do
	client=${key%.key}
	client=${client%-pkcs1}
	client=${client%-sec1}
	kubeconfig "kc-$key" 127.0.0.1 cluster-ca "$client" "$key"
	check_output "handshake with the IP address in the certificate, client key $key" \
		'HTTP 200' first_problem "kc-$key"
done

kubeconfig kc-wrong-ca 127.0.0.1 other-ca client-ec client-ec.key
check_output "a server certificate of another CA than the kubeconfig's is refused" \
	"$TLS_ERROR" first_problem kc-wrong-ca
check_output "the refusal is not an HTTP answer" '^[^H]|^H[^T]' first_problem kc-wrong-ca

serve server-elsewhere
kubeconfig kc-ip 127.0.0.1 cluster-ca client-ec client-ec.key
check_output "a certificate for another address (10.96.0.99, DNS kubernetes) is refused" \
	"does not match" first_problem kc-ip

serve server-other-ca
check_output "a certificate for the address but of another CA is refused" \
	"$TLS_ERROR" first_problem kc-ip

serve server-dns
kubeconfig kc-dns localhost cluster-ca client-ec client-ec.key
check_output "a server dialled by name is checked against its DNS names" \
	'HTTP 200' first_problem kc-dns
check_output "the same certificate dialled by IP address is refused" \
	"does not match" first_problem kc-ip

serve server-ip
kubeconfig kc-no-client 127.0.0.1 cluster-ca client-ec client-ec.key
sed -i '/client-certificate-data:\|client-key-data:/d; s/^  user:$/  user: {token: x}/' kc-no-client
check_output "without a client certificate the server ends the handshake" \
	"alert|SSL" first_problem kc-no-client
t_done
