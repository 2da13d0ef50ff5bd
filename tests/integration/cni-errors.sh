#!/usr/bin/env bash
# Integration test for selvedge-cni's error reporting: runs the plugin binary
# directly, as a container runtime does (`env -i CNI_COMMAND=... selvedge-cni
# < config`), with a table of malformed environments and configurations. Each
# must exit non-zero and print on stdout exactly one JSON object carrying the
# expected CNI error code and a message matching the expected regex, and
# nothing else. Also checks VERSION and that DEL without a netns is idempotent.
#
# Needs: jq; root (DEL reads nftables). No network namespace is created; the
# cases that reach the netns use /proc/self/ns/net or a path that does not exist.
#   bash tests/integration/cni-errors.sh   (SELVEDGE_BUILD=build by default)
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SELVEDGE_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/selvedge-cni

TMP=$(mktemp -d)
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

if [ ! -x "$BIN" ]; then
	t_fail "selvedge-cni is built" "not found: $BIN (run make)"
	t_done
	exit 1
fi
if ! command -v jq >/dev/null; then
	t_fail "jq is installed" "jq is needed to read the plugin's JSON"
	t_done
	exit 1
fi

# ---------------------------------------------------------------- helpers

N_CONF=0
# conf FILE_VAR VERSION [EXTRA]: writes a config of cniVersion VERSION (none if
# VERSION is "-") with a private stateDir and agentSocket under $TMP, plus the
# JSON members EXTRA, and stores its path in FILE_VAR.
conf() {
	local var=$1 version=$2 extra=${3-} dir members
	N_CONF=$((N_CONF + 1))
	dir=$TMP/c$N_CONF
	mkdir -p "$dir"
	members="\"name\":\"selvedge-test\",\"type\":\"selvedge-cni\""
	members+=",\"stateDir\":\"$dir/state\",\"agentSocket\":\"$dir/agent.sock\""
	[ "$version" = - ] || members="\"cniVersion\":\"$version\",$members"
	[ -z "$extra" ] || members+=",$extra"
	printf '{%s}\n' "$members" >"$dir/conf.json"
	printf -v "$var" '%s' "$dir/conf.json"
}

# raw FILE_VAR TEXT: a config file with exactly TEXT.
raw() {
	N_CONF=$((N_CONF + 1))
	mkdir -p "$TMP/c$N_CONF"
	printf '%s' "$2" >"$TMP/c$N_CONF/conf.json"
	printf -v "$1" '%s' "$TMP/c$N_CONF/conf.json"
}

# run_plugin CONFIG VAR=VALUE...: runs the plugin with only the given
# environment and CONFIG on stdin; sets RC, OUT (stdout) and ERRTXT (stderr).
run_plugin() {
	local config=$1
	shift
	env -i "$@" "$BIN" <"$config" >"$TMP/stdout" 2>"$TMP/stderr"
	RC=$?
	OUT=$(cat "$TMP/stdout")
	ERRTXT=$(cat "$TMP/stderr")
}

# expect_error NAME CODE MSG_REGEX CONFIG VAR=VALUE...
expect_error() {
	local name=$1 code=$2 re=$3 config=$4 msg lines
	shift 4
	run_plugin "$config" "$@"
	if [ "$RC" -eq 0 ]; then
		t_fail "$name" "exit status 0, expected failure" "stdout: $OUT" "stderr: $ERRTXT"
		return
	fi
	# Exactly one JSON value on stdout, an object, on one line.
	if ! jq -e -s 'length == 1 and (.[0] | type == "object")' "$TMP/stdout" >/dev/null 2>&1; then
		t_fail "$name" "stdout is not exactly one JSON object (exit $RC)" "stdout: $OUT" \
			"stderr: $ERRTXT"
		return
	fi
	lines=$(wc -l <"$TMP/stdout")
	if [ "$lines" -ne 1 ] || [ "$(head -c 1 "$TMP/stdout")" != "{" ]; then
		t_fail "$name" "stdout carries more than the JSON object" "stdout: $OUT"
		return
	fi
	if ! jq -e --argjson c "$code" '.code == $c and (.msg | type == "string") and
		(.cniVersion | type == "string")' "$TMP/stdout" >/dev/null; then
		t_fail "$name" "expected code $code with msg and cniVersion" "stdout: $OUT" \
			"stderr: $ERRTXT"
		return
	fi
	msg=$(jq -r .msg "$TMP/stdout")
	if ! grep -Eq -- "$re" <<<"$msg"; then
		t_fail "$name" "msg does not match: $re" "msg: $msg"
		return
	fi
	t_pass "$name (code $code, exit $RC)"
}

# expect_success NAME CONFIG VAR=VALUE...: exit 0 and empty stdout.
expect_success_silent() {
	local name=$1 config=$2
	shift 2
	run_plugin "$config" "$@"
	if [ "$RC" -ne 0 ]; then
		t_fail "$name" "exit status $RC" "stdout: $OUT" "stderr: $ERRTXT"
	elif [ -s "$TMP/stdout" ]; then
		t_fail "$name" "stdout is not empty" "stdout: $OUT"
	else
		t_pass "$name"
	fi
}

# ---------------------------------------------------------------- configs

# A bridge result for a dual-stack pod: host veth, then eth0 in the sandbox.
BRIDGE_PREV='"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"0a:58:0a:2a:00:01"},{"name":"veth1a2b3c4d","mac":"6e:1f:2d:3c:4b:5a"},{"name":"eth0","mac":"0a:58:0a:2a:00:07","sandbox":"/var/run/netns/test"}],"ips":[{"interface":2,"address":"10.42.0.7/24","gateway":"10.42.0.1"},{"interface":2,"address":"fd00:42::7/64"}]}'

conf C_OK 1.0.0
conf C_OK_PREV 1.0.0 "$BRIDGE_PREV"
conf C_040 0.4.0
conf C_NOVERSION -
conf C_031 0.3.1 "$BRIDGE_PREV"
conf C_BADPOLICY 1.0.0 '"failurePolicy":"Sometimes"'
# Documents written as they are (their paths still point under $TMP).
S="\"stateDir\":\"$TMP/raw-state\""
A="\"agentSocket\":\"$TMP/raw-agent.sock\""
raw C_RELSTATE "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"stateDir\":\"var/lib/selvedge\",$A}"
raw C_RELSOCK "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",$S,\"agentSocket\":\"agent.sock\"}"
raw C_LONGSOCK "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",$S,\"agentSocket\":\"/$(printf 'a%.0s' {1..120})\"}"
raw C_LONGREL "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"stateDir\":\"$(printf 'é%.0s' {1..300})\",$A}"
raw C_NONAME "{\"cniVersion\":\"1.0.0\",$S,$A}"
raw C_NOTJSON 'cniVersion: 1.0.0'
raw C_EMPTY ''
raw C_BADESC "{\"cniVersion\":\"1.0.0\",\"name\":\"n\\"$'\xc3\xa9'"\"}"
raw C_ARRAY "[{\"cniVersion\":\"1.0.0\",\"name\":\"n\",$S,$A}]"
raw C_DUP "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",$S,$A,\"name\":\"b\"}"
raw C_TRAILING "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",$S,$A} {\"x\":1}"
conf C_PREV_NOIPS 1.0.0 '"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/proc/self/ns/net"}],"ips":[]}'
conf C_PREV_HOSTONLY 1.0.0 '"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"interface":0,"address":"10.0.0.1/24"}]}'
conf C_PREV_BADADDR 1.0.0 '"prevResult":{"ips":[{"address":"10.0.0.1/33"}]}'
conf C_PREV_NOPREFIX 1.0.0 '"prevResult":{"ips":[{"address":"10.0.0.1"}]}'
conf C_PREV_BADINDEX 1.0.0 '"prevResult":{"interfaces":[{"name":"eth0","sandbox":"/n"}],"ips":[{"interface":3,"address":"10.0.0.1/24"}]}'
conf C_PREV_ARRAY 1.0.0 '"prevResult":[]'
conf C_TIMEOUT 1.0.0 '"agentTimeoutMs":0'
conf C_LOGLEVEL 1.0.0 '"logLevel":"verbose"'
conf C_GC_BADLIST 1.1.0 '"cni.dev/valid-attachments":{"containerID":"a","ifname":"eth0"}'
conf C_GC_BADENTRY 1.1.0 '"cni.dev/valid-attachments":[{"containerID":"a"}]'
conf C_GC_NOTOBJ 1.1.0 '"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"},"b"]'

# Larger than the 1 MiB the plugin reads: a valid config padded with spaces.
BIG=$TMP/big.json
{
	printf '{"cniVersion":"1.0.0","name":"n",%s,%s}' "$S" "$A"
	head -c $((1024 * 1024 + 16)) /dev/zero | tr '\0' ' '
} >"$BIG"

ADD=(CNI_COMMAND=ADD CNI_CONTAINERID=0123456789abcdef CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net)
NOTHERE=/var/run/netns/selvedge-test-does-not-exist-$$

# ---------------------------------------------------------------- the environment (code 4)

expect_error "missing CNI_COMMAND" 4 '^CNI_COMMAND is not set' "$C_OK"
expect_error "empty CNI_COMMAND" 4 '^CNI_COMMAND is not set' "$C_OK" CNI_COMMAND=
expect_error "unknown CNI_COMMAND" 4 '^unknown CNI_COMMAND "FROB"$' "$C_OK" CNI_COMMAND=FROB \
	CNI_CONTAINERID=abc CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net
expect_error "lower-case CNI_COMMAND" 4 '^unknown CNI_COMMAND "add"$' "$C_OK" CNI_COMMAND=add
expect_error "missing CNI_CONTAINERID" 4 '^CNI_CONTAINERID is not set$' "$C_OK_PREV" \
	CNI_COMMAND=ADD CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net
expect_error "missing CNI_CONTAINERID on DEL" 4 '^CNI_CONTAINERID is not set$' "$C_OK" \
	CNI_COMMAND=DEL CNI_IFNAME=eth0
expect_error "container id starting with '-'" 4 'container id must start with a letter or digit' \
	"$C_OK_PREV" CNI_COMMAND=ADD CNI_CONTAINERID=-abc CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net
expect_error "container id with '/'" 4 'container id contains an invalid character at position 3' \
	"$C_OK_PREV" CNI_COMMAND=ADD CNI_CONTAINERID=abc/def CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net
expect_error "empty container id" 4 '^container id is empty$' "$C_OK" \
	CNI_COMMAND=DEL CNI_CONTAINERID= CNI_IFNAME=eth0
expect_error "missing CNI_IFNAME" 4 '^CNI_IFNAME is not set$' "$C_OK_PREV" \
	CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_NETNS=/proc/self/ns/net
expect_error "ifname of 16 characters" 4 'interface name "eth0123456789abc" is longer than 15 characters' \
	"$C_OK_PREV" CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_IFNAME=eth0123456789abc \
	CNI_NETNS=/proc/self/ns/net
expect_error "ifname with '/'" 4 "interface name \"eth/0\" contains '/'" "$C_OK_PREV" \
	CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_IFNAME=eth/0 CNI_NETNS=/proc/self/ns/net
expect_error "ifname with ':'" 4 "contains '/', ':', whitespace" "$C_OK" \
	CNI_COMMAND=DEL CNI_CONTAINERID=abc CNI_IFNAME=eth0:1
expect_error "ifname with a space" 4 "contains '/', ':', whitespace" "$C_OK" \
	CNI_COMMAND=DEL CNI_CONTAINERID=abc "CNI_IFNAME=eth 0"
expect_error "ifname '..'" 4 'interface name cannot be "\." or "\.\."' "$C_OK" \
	CNI_COMMAND=DEL CNI_CONTAINERID=abc CNI_IFNAME=..
expect_error "missing CNI_NETNS on ADD" 4 '^CNI_NETNS is not set$' "$C_OK_PREV" \
	CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_IFNAME=eth0
expect_error "missing CNI_NETNS on CHECK" 4 '^CNI_NETNS is not set$' "$C_OK_PREV" \
	CNI_COMMAND=CHECK CNI_CONTAINERID=abc CNI_IFNAME=eth0
expect_error "relative CNI_NETNS" 4 '^CNI_NETNS must be an absolute path' "$C_OK_PREV" \
	CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_IFNAME=eth0 CNI_NETNS=var/run/netns/x
expect_error "unknown CNI_ARGS key" 4 '^CNI_ARGS: unknown key "FOO" \(set IgnoreUnknown=1' \
	"$C_OK_PREV" "${ADD[@]}" "CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;FOO=bar"
expect_error "IgnoreUnknown=0 with an unknown key" 4 'unknown key "FOO"' "$C_OK_PREV" \
	"${ADD[@]}" "CNI_ARGS=IgnoreUnknown=0;FOO=bar"
expect_error "malformed CNI_ARGS pair" 4 '^CNI_ARGS: "K8S_POD_NAME" is not KEY=VALUE$' \
	"$C_OK_PREV" "${ADD[@]}" "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME"
expect_error "CNI_ARGS value too long" 4 '^CNI_ARGS: K8S_POD_NAME is longer than 253 characters$' \
	"$C_OK_PREV" "${ADD[@]}" "CNI_ARGS=K8S_POD_NAME=$(printf 'p%.0s' {1..254})"
# The runtime's bytes are quoted escaped, so the error stays valid JSON (UTF-8).
expect_error "CNI_COMMAND of invalid UTF-8" 4 '^unknown CNI_COMMAND "\\xff\\xfe"$' "$C_OK" \
	"CNI_COMMAND="$'\xff\xfe'
expect_error "ifname of invalid UTF-8" 4 'interface name "eth\\xff" contains' "$C_OK" \
	CNI_COMMAND=DEL CNI_CONTAINERID=abc "CNI_IFNAME=eth"$'\xff'
expect_error "CNI_ARGS key of invalid UTF-8" 4 'unknown key "\\xc3\(" \(set' "$C_OK_PREV" \
	"${ADD[@]}" "CNI_ARGS=K8S_POD_NAME=p;"$'\xc3\x28'"=1"

# ---------------------------------------------------------------- stdin (codes 5, 6)

expect_error "stdin not JSON" 6 '^network configuration: invalid JSON at line 1' "$C_NOTJSON" \
	"${ADD[@]}"
expect_error "stdin empty" 6 '^network configuration: invalid JSON' "$C_EMPTY" "${ADD[@]}"
expect_error "stdin with an invalid escape before a non-ASCII character" 6 \
	'^network configuration: invalid JSON at line 1 column [0-9]+: invalid escape' "$C_BADESC" "${ADD[@]}"
expect_error "stdin a JSON array" 6 '^network configuration must be a JSON object$' "$C_ARRAY" \
	"${ADD[@]}"
expect_error "stdin with duplicate keys" 6 'invalid JSON.*duplicate object key' "$C_DUP" \
	"${ADD[@]}"
expect_error "stdin with two documents" 6 '^network configuration: invalid JSON' "$C_TRAILING" \
	"${ADD[@]}"
expect_error "stdin over 1 MiB" 5 '^reading the network configuration: File too large$' "$BIG" \
	"${ADD[@]}"

# ---------------------------------------------------------------- versions (code 1)

expect_error "no cniVersion" 1 'has no cniVersion \(0\.1\.0 implied\)' "$C_NOVERSION" "${ADD[@]}"
expect_error "cniVersion 0.3.1" 1 '^incompatible CNI version "0\.3\.1": selvedge-cni supports 0\.4\.0, 1\.0\.0 and 1\.1\.0$' \
	"$C_031" "${ADD[@]}"
expect_error "STATUS with a 1.0.0 config" 1 '^STATUS needs cniVersion 1\.1\.0 or later, the configuration has 1\.0\.0$' \
	"$C_OK" CNI_COMMAND=STATUS
expect_error "GC with a 0.4.0 config" 1 '^GC needs cniVersion 1\.1\.0 or later, the configuration has 0\.4\.0$' \
	"$C_040" CNI_COMMAND=GC

# ---------------------------------------------------------------- the configuration (code 7)

expect_error "missing name" 7 '^required field "name" is missing$' "$C_NONAME" "${ADD[@]}"
expect_error "bogus failurePolicy" 7 '^"failurePolicy" must be "Fail" or "Ignore", got "Sometimes"$' \
	"$C_BADPOLICY" "${ADD[@]}"
expect_error "relative stateDir" 7 '^"stateDir" must be an absolute path, got "var/lib/selvedge"$' \
	"$C_RELSTATE" "${ADD[@]}"
expect_error "long relative stateDir of UTF-8" 7 '^"stateDir" must be an absolute path, got "(é)+\.\.\."$' \
	"$C_LONGREL" "${ADD[@]}"
expect_error "relative agentSocket" 7 '^"agentSocket" must be an absolute path' "$C_RELSOCK" \
	"${ADD[@]}"
expect_error "agentSocket over 107 bytes" 7 '^"agentSocket" is longer than 107 bytes$' \
	"$C_LONGSOCK" "${ADD[@]}"
expect_error "agentTimeoutMs 0" 7 '"agentTimeoutMs" must be from 1 to 30000' "$C_TIMEOUT" \
	"${ADD[@]}"
expect_error "bogus logLevel" 7 '"logLevel" must be debug, info, warn or error, got "verbose"' \
	"$C_LOGLEVEL" "${ADD[@]}"
expect_error "prevResult a list" 7 'field "prevResult" must be an object' "$C_PREV_ARRAY" \
	"${ADD[@]}"
expect_error "ADD without prevResult" 7 '^no prevResult: selvedge-cni is a chained plugin' \
	"$C_OK" "${ADD[@]}"
expect_error "CHECK without prevResult" 7 '^no prevResult' "$C_OK" CNI_COMMAND=CHECK \
	CNI_CONTAINERID=abc CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net
expect_error "ADD with prevResult without IPs" 7 '^prevResult has no IP address for interface "eth0"' \
	"$C_PREV_NOIPS" "${ADD[@]}"
expect_error "ADD with only the host eth0 addressed" 7 'prevResult has no IP address for interface "eth0"' \
	"$C_PREV_HOSTONLY" "${ADD[@]}"
expect_error "ADD with a /33 IPv4 address" 7 'ips\[0\]\.address "10\.0\.0\.1/33" is not an address/prefix' \
	"$C_PREV_BADADDR" "${ADD[@]}"
expect_error "ADD with an address without prefix" 7 'ips\[0\]\.address "10\.0\.0\.1" is not an address/prefix' \
	"$C_PREV_NOPREFIX" "${ADD[@]}"
expect_error "ADD with an interface index out of range" 7 'ips\[0\]\.interface 3 names no entry of interfaces' \
	"$C_PREV_BADINDEX" "${ADD[@]}"
# GC without "cni.dev/valid-attachments" (or with null) means "no attachment is
# valid" to the plugin and removes every Selvedge chain on the node, so it is
# not run here; only the GC configs refused before anything is touched are.
expect_error "GC with valid-attachments an object" 7 'GC needs "cni\.dev/valid-attachments" as a list' \
	"$C_GC_BADLIST" CNI_COMMAND=GC
expect_error "GC attachment not an object" 7 'cni\.dev/valid-attachments\[1\]: required field "containerID" is missing' \
	"$C_GC_NOTOBJ" CNI_COMMAND=GC
expect_error "GC attachment without ifname" 7 '^cni\.dev/valid-attachments\[0\]: required field "ifname" is missing$' \
	"$C_GC_BADENTRY" CNI_COMMAND=GC

# ---------------------------------------------------------------- the container (code 3)

expect_error "ADD with a netns that does not exist" 3 "^network namespace $NOTHERE does not exist$" \
	"$C_OK_PREV" CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_IFNAME=eth0 "CNI_NETNS=$NOTHERE"
expect_error "CHECK with no state record" 3 '^no Selvedge record for container abc interface eth0$' \
	"$C_OK_PREV" CNI_COMMAND=CHECK CNI_CONTAINERID=abc CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net

# ---------------------------------------------------------------- what succeeds

# VERSION echoes whatever version asks and lists every supported one.
raw C_VERSION '{"cniVersion":"0.3.1"}'
run_plugin "$C_VERSION" CNI_COMMAND=VERSION
if [ "$RC" -ne 0 ]; then
	t_fail "VERSION with cniVersion 0.3.1" "exit status $RC" "stdout: $OUT" "stderr: $ERRTXT"
elif jq -e -s 'length == 1 and .[0] == {"cniVersion": "0.3.1",
	"supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}' "$TMP/stdout" >/dev/null 2>&1; then
	t_pass "VERSION with cniVersion 0.3.1"
else
	t_fail "VERSION with cniVersion 0.3.1" "unexpected stdout" "stdout: $OUT"
fi

# DEL needs no netns (it may be gone already) and succeeds when nothing is there.
conf C_DEL 1.0.0
DEL=(CNI_COMMAND=DEL CNI_CONTAINERID=selvedge-errors-test-$$ CNI_IFNAME=eth0
	"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=x")
expect_success_silent "DEL without CNI_NETNS" "$C_DEL" "${DEL[@]}"
expect_success_silent "DEL repeated" "$C_DEL" "${DEL[@]}"
expect_success_silent "DEL with a netns that is gone" "$C_DEL" "${DEL[@]}" "CNI_NETNS=$NOTHERE"
state_dir=$(jq -r .stateDir "$C_DEL")
if [ -d "$state_dir/pods" ] && [ -z "$(ls -A "$state_dir/pods")" ]; then
	t_pass "DEL left an empty state directory in $state_dir"
else
	t_fail "DEL left an empty state directory" "$(ls -laR "$state_dir" 2>&1)"
fi

t_done
