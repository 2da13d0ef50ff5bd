#!/usr/bin/env bash
# Integration test for `selvedge-cni install|uninstall` (cni/installer.c) on
# copies of three node layouts in testdata/cni-install: k3s (flannel), MicroK8s
# (calico) and a generic node with a lone bridge .conf. Each copy is a host
# root; nothing outside the temporary directory is touched.
#
# Needs: jq, and the built binary (make programs), e.g.
#   bash tests/integration/cni-install.sh
set -u
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SELVEDGE_BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/selvedge-cni
DATA=$ROOT/tests/integration/testdata/cni-install
WORK=$(mktemp -d)
WATCHER=

cleanup() {
	[ -z "$WATCHER" ] || kill "$WATCHER" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x "$BIN" ] || ! command -v jq >/dev/null; then
	t_fail "prerequisites" "need $BIN (make programs) and jq"
	t_done
	exit 1
fi

K3S_CONF=var/lib/rancher/k3s/agent/etc/cni/net.d
K3S_DATA=var/lib/rancher/k3s/data
K3S_HASH=9a1c5e0d7b3f2e8a4c6d0b1f3e5a7c9d2b4f6e8a0c1d3e5f7a9b2c4d6e8f0a1b
MK8S_CONF=var/snap/microk8s/current/args/cni-network
MK8S_BIN=var/snap/microk8s/current/opt/cni/bin

# layout NAME: a fresh host root copied from the fixtures, with the bin dirs
# and the symlinks each distribution has (git keeps neither well).
layout() {
	local h
	h=$(mktemp -d "$WORK/$1.XXXXXX")
	cp -a "$DATA/$1/." "$h"
	case "$1" in
	k3s)
		# data/current is an absolute symlink on a real k3s node: it must be
		# resolved inside the host root, not in the installer's own root.
		mkdir -p "$h/$K3S_DATA/$K3S_HASH/bin"
		ln -s "/$K3S_DATA/$K3S_HASH" "$h/$K3S_DATA/current"
		;;
	microk8s)
		ln -s 7231 "$h/var/snap/microk8s/current"
		mkdir -p "$h/$MK8S_BIN"
		;;
	generic) mkdir -p "$h/opt/cni/bin" ;;
	esac
	echo "$h"
}

# check_exit NAME RC PATTERN CMD...: passes when CMD exits with exactly RC
# and its output matches the extended regex PATTERN.
check_exit() {
	local name=$1 want=$2 pattern=$3 out rc=0
	shift 3
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" -ne "$want" ]; then
		t_fail "$name" "exit status $rc, want $want: $*" "$out"
	elif ! grep -Eq -- "$pattern" <<<"$out"; then
		t_fail "$name" "expected output matching: $pattern" "got: $out"
	else
		t_pass "$name"
	fi
}

entries() { jq '[.plugins[] | select(.type == "selvedge-cni")] | length' "$1"; }

# installed FILE ORIG_PLUGINS_JSON [POLICY]: one entry, last, with the expected
# options; every other plugin equal to the original as JSON.
installed() {
	local f=$1 orig=$2 policy=${3:-Fail}
	[ "$(entries "$f")" = 1 ] || {
		echo "entries: $(entries "$f")"
		return 1
	}
	jq -e --arg p "$policy" '.plugins[-1] == {type: "selvedge-cni", failurePolicy: $p,
		agentSocket: "/run/selvedge/agent.sock", stateDir: "/run/selvedge/cni"}' "$f" ||
		return 1
	[ "$(jq -S '.plugins[:-1]' "$f")" = "$(jq -S . <<<"$orig")" ] || {
		echo "other plugins changed:"
		diff <(jq -S '.plugins[:-1]' "$f") <(jq -S . <<<"$orig")
		return 1
	}
}

same_json() { [ "$(jq -S . "$1")" = "$(jq -S . "$2")" ]; }
# stamp FILE: inode and nanosecond mtime, which any rewrite changes.
stamp() { stat -c '%i %y' "$1"; }
mode_is() { [ "$(stat -c %a "$2")" = "$1" ] || { stat -c '%a %n' "$2"; return 1; }; }
executable_copy() { [ -x "$1" ] && cmp -s "$1" "$BIN" && mode_is 755 "$1"; }

# check_soon DESC CMD...: polls CMD for up to 5 s (50 x 0.1 s).
check_soon() {
	local desc=$1
	shift
	for _ in $(seq 50); do
		if "$@" >/dev/null 2>&1; then
			t_pass "$desc"
			return 0
		fi
		sleep 0.1
	done
	t_fail "$desc" "timed out after 5 s: $*"
	return 1
}
has_entry() { [ "$(entries "$1")" = 1 ] && jq -e '.plugins[-1].type == "selvedge-cni"' "$1"; }

# stop_watcher: SIGTERM, then wait up to 3 s for exit status 0.
stop_watcher() {
	local rc
	kill -TERM "$WATCHER"
	for _ in $(seq 30); do
		kill -0 "$WATCHER" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$WATCHER" 2>/dev/null; then
		t_fail "watcher exits promptly on SIGTERM" "still running after 3 s"
		kill -KILL "$WATCHER"
	fi
	wait "$WATCHER"
	rc=$?
	WATCHER=
	if [ "$rc" -eq 0 ]; then t_pass "watcher exits 0 on SIGTERM"; else t_fail "watcher exits 0 on SIGTERM" "exit status $rc"; fi
}

# --------------------------------------------------------------- k3s / flannel
H=$(layout k3s)
F=$H/$K3S_CONF/10-flannel.conflist
ORIG=$WORK/flannel.orig
cp "$F" "$ORIG"
ORIG_PLUGINS=$(jq .plugins "$ORIG")
check_output "k3s: install" 'msg="added entry"' "$BIN" install --preset k3s --host-root "$H"
check "k3s: one entry, last, others unchanged" installed "$F" "$ORIG_PLUGINS"
check "k3s: top-level fields unchanged" [ "$(jq -S 'del(.plugins)' "$F")" = "$(jq -S 'del(.plugins)' "$ORIG")" ]
check "k3s: member order kept" [ "$(jq -c 'keys_unsorted' "$F")" = '["name","cniVersion","plugins"]' ]
check "k3s: binary installed through data/current" executable_copy "$H/$K3S_DATA/$K3S_HASH/bin/selvedge-cni"
check "k3s: state dir created 0700" mode_is 700 "$H/run/selvedge/cni"
check "k3s: socket dir created 0750" mode_is 750 "$H/run/selvedge"
check "k3s: file mode kept" mode_is "$(stat -c %a "$ORIG")" "$F"
check "k3s: no temp files left" [ "$(find "$H/$K3S_CONF" "$H/$K3S_DATA" -name '*.tmp.*' | wc -l)" = 0 ]

before=$(stamp "$F")
bin_before=$(stamp "$H/$K3S_DATA/$K3S_HASH/bin/selvedge-cni")
check "k3s: second install succeeds" "$BIN" install --preset k3s --host-root "$H"
check "k3s: second install leaves the conflist alone" [ "$(stamp "$F")" = "$before" ]
check "k3s: second install leaves the binary alone" [ "$(stamp "$H/$K3S_DATA/$K3S_HASH/bin/selvedge-cni")" = "$bin_before" ]

check_output "k3s: changed options update the entry" 'msg="updated entry"' \
	"$BIN" install --preset k3s --host-root "$H" --failure-policy Ignore
check "k3s: still one entry, now Ignore" installed "$F" "$ORIG_PLUGINS" Ignore

check_output "k3s: uninstall" 'msg="removed entry"' "$BIN" uninstall --preset k3s --host-root "$H"
check "k3s: uninstall restores the original" same_json "$F" "$ORIG"
check "k3s: uninstall removes the binary" [ ! -e "$H/$K3S_DATA/$K3S_HASH/bin/selvedge-cni" ]
before=$(stamp "$F")
cp "$F" "$WORK/after-uninstall"
check "k3s: second uninstall succeeds" "$BIN" uninstall --preset k3s --host-root "$H"
check "k3s: second uninstall leaves the file byte-for-byte" cmp "$F" "$WORK/after-uninstall"
check "k3s: second uninstall does not rewrite" [ "$(stamp "$F")" = "$before" ]

# ------------------------------------------------------------ MicroK8s / calico
H=$(layout microk8s)
F=$H/$MK8S_CONF/10-calico.conflist
ORIG=$WORK/calico.orig
cp "$F" "$ORIG"
cp "$H/$MK8S_CONF/calico-kubeconfig" "$WORK/kubeconfig.orig"
ORIG_PLUGINS=$(jq .plugins "$ORIG")
check "microk8s: install" "$BIN" install --preset microk8s --host-root "$H" --source "$BIN"
check "microk8s: one entry, last, calico and portmap unchanged" installed "$F" "$ORIG_PLUGINS"
check "microk8s: binary installed" executable_copy "$H/$MK8S_BIN/selvedge-cni"
check "microk8s: kubeconfig untouched" cmp "$H/$MK8S_CONF/calico-kubeconfig" "$WORK/kubeconfig.orig"
before=$(stamp "$F")
check "microk8s: second install succeeds" "$BIN" install --preset microk8s --host-root "$H"
check "microk8s: second install is a no-op" [ "$(stamp "$F")" = "$before" ]
# A list that never had the entry must survive uninstall byte-for-byte.
cp "$ORIG" "$H/$MK8S_CONF/20-spare.conflist"
spare=$(stamp "$H/$MK8S_CONF/20-spare.conflist")
check "microk8s: uninstall" "$BIN" uninstall --preset microk8s --host-root "$H"
check "microk8s: uninstall restores the original" same_json "$F" "$ORIG"
check "microk8s: other lists untouched" [ "$(stamp "$H/$MK8S_CONF/20-spare.conflist")" = "$spare" ]
check "microk8s: binary removed" [ ! -e "$H/$MK8S_BIN/selvedge-cni" ]

# -------------------------------------------------------- generic / lone .conf
H=$(layout generic)
C=$H/etc/cni/net.d/10-bridge.conf
F=$H/etc/cni/net.d/10-bridge.conflist
ORIG=$WORK/bridge.orig
cp "$C" "$ORIG"
ORIG_PLUGINS=$(jq '[del(.cniVersion, .name)]' "$ORIG")
check_output "generic: install converts the .conf" 'msg="converted network configuration to a list"' \
	"$BIN" install --host-root "$H"
converted() { [ ! -e "$C" ] && [ -f "$F" ]; }
check "generic: .conf replaced by .conflist" converted
check "generic: list keeps cniVersion and name" \
	[ "$(jq -c '[.cniVersion, .name]' "$F")" = "$(jq -c '[.cniVersion, .name]' "$ORIG")" ]
check "generic: bridge plugin then selvedge-cni" installed "$F" "$ORIG_PLUGINS"
check "generic: binary installed" executable_copy "$H/opt/cni/bin/selvedge-cni"
before=$(stamp "$F")
check "generic: second install succeeds" "$BIN" install --preset generic --host-root "$H"
check "generic: second install is a no-op" [ "$(stamp "$F")" = "$before" ]
check "generic: uninstall" "$BIN" uninstall --host-root "$H"
check "generic: uninstall leaves the bridge plugin as it was" \
	[ "$(jq -S .plugins "$F")" = "$(jq -S . <<<"$ORIG_PLUGINS")" ]
check "generic: binary removed" [ ! -e "$H/opt/cni/bin/selvedge-cni" ]

# ------------------------------------------------------------------- --watch
H=$(layout k3s)
CONF=$H/$K3S_CONF
F=$CONF/10-flannel.conflist
ORIG=$WORK/flannel.orig
LOG=$WORK/watch.log
"$BIN" install --preset k3s --host-root "$H" --watch 2>"$LOG" &
WATCHER=$!
check_soon "watch: entry added at start" has_entry "$F"

# flannel's way: write the whole file elsewhere, then rename it over.
cp "$ORIG" "$CONF/10-flannel.conflist.new"
mv "$CONF/10-flannel.conflist.new" "$F"
check_soon "watch: re-added after rename over" has_entry "$F"
check "watch: still exactly one entry after rename" installed "$F" "$(jq .plugins "$ORIG")"

# In place: truncate and write the same inode.
cat "$ORIG" >"$F"
check_soon "watch: re-added after in-place rewrite" has_entry "$F"
check "watch: still exactly one entry after rewrite" installed "$F" "$(jq .plugins "$ORIG")"
check_output "watch: logs the re-add" 're-added entry after the file was rewritten' cat "$LOG"

# Its own writes must not make it loop.
sleep 0.3
before=$(stamp "$F")
sleep 0.5
check "watch: no rewrite loop" [ "$(stamp "$F")" = "$before" ]

# The primary going away and coming back.
rm "$F"
sleep 0.2
cp "$ORIG" "$F"
check_soon "watch: re-added after delete and recreate" has_entry "$F"

stop_watcher
check "watch: entry kept after SIGTERM (rolling update)" has_entry "$F"
check "watch: binary kept after SIGTERM" [ -x "$H/$K3S_DATA/$K3S_HASH/bin/selvedge-cni" ]
check_output "watch: logs the stop" 'msg=stopping signal=SIGTERM' cat "$LOG"

# No primary yet: the watcher waits for the primary CNI to write one.
H=$(layout k3s)
CONF=$H/$K3S_CONF
F=$CONF/10-flannel.conflist
rm "$F"
"$BIN" install --preset k3s --host-root "$H" --watch --uninstall-on-exit 2>"$LOG" &
WATCHER=$!
check_soon "watch: reports it is waiting" grep -q 'waiting for the primary' "$LOG"
cp "$ORIG" "$CONF/.10-flannel.conflist.part"
mv "$CONF/.10-flannel.conflist.part" "$F"
check_soon "watch: entry added once the primary appears" has_entry "$F"
stop_watcher
check "watch --uninstall-on-exit: entry removed on SIGTERM" same_json "$F" "$ORIG"
check "watch --uninstall-on-exit: binary removed" [ ! -e "$H/$K3S_DATA/$K3S_HASH/bin/selvedge-cni" ]

# ------------------------------------------------------------- bad usage
H=$(layout generic)
check_exit "unknown preset" 2 'unknown preset "minikube"' \
	"$BIN" install --preset minikube --host-root "$H"
check_exit "unknown option" 2 'unknown option "--frobnicate"' \
	"$BIN" install --frobnicate
check_exit "missing value" 2 'option "--preset" needs a value' \
	"$BIN" install --preset
check_exit "bad failure policy" 2 'not Fail or Ignore' \
	"$BIN" install --host-root "$H" --failure-policy Sometimes
check_exit "relative agent socket" 2 'not an absolute path' \
	"$BIN" install --host-root "$H" --agent-socket run/agent.sock
check_exit "install-only option to uninstall" 2 'is for install only' \
	"$BIN" uninstall --watch
check_exit "stray argument" 2 'unexpected argument "now"' \
	"$BIN" install now
check_output "help" 'Usage: selvedge-cni install' "$BIN" install --help
mkdir -p "$WORK/bare"
check_exit "missing conf dir" 1 'CNI conf dir /var/lib/rancher/k3s/agent/etc/cni/net.d does not exist' \
	"$BIN" install --preset k3s --host-root "$WORK/bare"
check_exit "missing conf dir (uninstall)" 1 'does not exist' \
	"$BIN" uninstall --host-root "$WORK/bare"
rm "$H/etc/cni/net.d/10-bridge.conf"
check_exit "no primary config without --watch" 1 'level=error .*no CNI network configuration in .* yet' \
	"$BIN" install --host-root "$H"
printf '{"name": "broken", "plugins": {"type": "bridge"}}\n' >"$H/etc/cni/net.d/05-broken.conflist"
cp "$H/etc/cni/net.d/05-broken.conflist" "$WORK/broken.orig"
check_exit "plugins not a list" 1 '05-broken.conflist: field \\"plugins\\" must be a list' \
	"$BIN" install --host-root "$H"
check "a refused file is left as it was" cmp "$H/etc/cni/net.d/05-broken.conflist" "$WORK/broken.orig"
printf 'not json at all\n' >"$H/etc/cni/net.d/05-broken.conflist"
check_exit "not JSON" 1 'invalid JSON' "$BIN" install --host-root "$H"

t_done
