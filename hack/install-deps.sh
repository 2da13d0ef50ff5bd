#!/usr/bin/env bash
# Installs everything Selvedge needs to build, test and run its demo: Debian
# packages, and Go-built tools (kube-apiserver, kubectl, etcd, cnitool, helm) at
# pinned versions into a cache outside the clone. Idempotent; quick when done.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
	build-essential pkg-config clang libclang-rt-14-dev clang-format clang-tidy
	cppcheck shellcheck
	libjansson-dev libyaml-dev libmnl-dev libnftnl-dev libcmocka-dev
	libcap-dev
	cmake ninja-build dpkg-dev libnghttp2-dev zlib1g-dev
	nftables iproute2 iputils-ping socat conntrack haproxy containernetworking-plugins
	prometheus openssl jq inotify-tools procps psmisc curl ca-certificates python3 iperf3
)

install_apt() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt: installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	# The prometheus package would start a server; we only want promtool.
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts daemons on install; the tests run their own, on their own ports.
	for svc in prometheus haproxy; do
		"${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 ||
			"${sudo[@]}" pkill -x "$svc" 2>/dev/null || true
	done
}

# go_build NAME VERSION DIR PKG [LDFLAGS]: builds PKG inside wrapper module DIR
# unless the cached binary already carries this version stamp.
go_build() {
	local name=$1 version=$2 dir=$3 pkg=$4 ldflags=${5:-}
	local stamp="$SELVEDGE_BIN/.$name.version"
	if [ -x "$SELVEDGE_BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
		return 0
	fi
	log "go: building $name $version (cold builds take minutes)"
	local start=$SECONDS
	(cd "$dir" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 \
		go build -trimpath -ldflags "-s -w $ldflags" -o "$SELVEDGE_BIN/$name.tmp" "$pkg")
	mv -f "$SELVEDGE_BIN/$name.tmp" "$SELVEDGE_BIN/$name"
	echo "$version" >"$stamp"
	log "go: $name built in $((SECONDS - start)) s"
}

# go_install NAME VERSION MODULE_PKG: `go install pkg@version` for modules that
# build cleanly from the proxy.
go_install() {
	local name=$1 version=$2 pkg=$3 ldflags=${4:-}
	local stamp="$SELVEDGE_BIN/.$name.version"
	if [ -x "$SELVEDGE_BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
		return 0
	fi
	log "go: installing $name $version"
	GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$SELVEDGE_BIN" \
		go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
	echo "$version" >"$stamp"
}

install_go_tools() {
	command -v go >/dev/null || die "go is required to build the pinned tools"
	mkdir -p "$SELVEDGE_BIN"
	local minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	local kv=""
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		kv+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		kv+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	go_build etcd "$ETCD_VERSION" "$SELVEDGE_ROOT/hack/tools/etcd" . \
		"-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
	go_build kube-apiserver "$KUBE_VERSION" "$SELVEDGE_ROOT/hack/tools/kube" \
		k8s.io/kubernetes/cmd/kube-apiserver "$kv"
	go_build kubectl "$KUBE_VERSION" "$SELVEDGE_ROOT/hack/tools/kube" \
		k8s.io/kubernetes/cmd/kubectl "$kv"
	go_install cnitool "$CNITOOL_VERSION" github.com/containernetworking/cni/cnitool
	go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
		"-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
	install_cni_plugins
}

# The reference bridge, host-local and loopback plugins at a version that
# speaks CNI 1.1.0, in their own directory (a CNI_PATH entry for tests).
install_cni_plugins() {
	local dir="$SELVEDGE_CACHE/cni-plugins" stamp
	stamp="$dir/.version"
	[ "$(cat "$stamp" 2>/dev/null)" = "$CNI_PLUGINS_VERSION" ] && return 0
	log "go: installing reference CNI plugins $CNI_PLUGINS_VERSION"
	mkdir -p "$dir"
	local m=github.com/containernetworking/plugins/plugins
	GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$dir" go install -trimpath -ldflags "-s -w" \
		"$m/main/bridge@$CNI_PLUGINS_VERSION" "$m/ipam/host-local@$CNI_PLUGINS_VERSION" \
		"$m/main/loopback@$CNI_PLUGINS_VERSION"
	echo "$CNI_PLUGINS_VERSION" >"$stamp"
}

case "${1:-all}" in
apt) install_apt ;;
go) install_go_tools ;;
all)
	install_apt
	install_go_tools
	;;
*) die "usage: $0 [all|apt|go]" ;;
esac
log "dependencies ready in $SELVEDGE_BIN"
