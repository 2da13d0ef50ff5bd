#!/usr/bin/env bash
# The libcurl the operator links: Debian's own curl source (that of Debian 13,
# with every patch Debian applies to it, fetched and verified by apt), built
# as a static library for HTTPS only, over OpenSSL, with HTTP/2 (nghttp2) and
# gzip (zlib). Debian 13's and not this machine's (Debian 12's 7.88): 7.88's
# HTTP/2 code, rewritten in 8.0, now and then leaves a stream whose data
# arrived while another was being read unserved until its timeout; about one
# operator start in twenty then waits 10 s for a list (docs/operator.md, The
# client). 8.x builds against Debian 12's OpenSSL 3.0 and nghttp2 1.52.
# Debian's libcurl4 also brings GnuTLS, Kerberos,
# LDAP, SASL, SSH, RTMP, PSL, IDN and more into every process, ~3 MB of the
# agent's RSS, for a client that only talks HTTPS to the API server
# (docs/operator.md, Memory). Not mbedTLS, though it is far smaller: its
# Debian 12 release (2.28) cannot check an IP address against a
# certificate, and API servers are mostly addressed by IP (k3s's 127.0.0.1,
# the in-cluster 10.43.0.1).
#   hack/libcurl.sh prefix   prints where it is installed (no work)
#   hack/libcurl.sh          builds it there unless it is already built
# The install directory is named by this script's hash: a change of options
# builds anew. About a minute on 2 cores; cached outside the clone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$ROOT/hack/lib.sh"

HASH=$(sha256sum "$ROOT/hack/libcurl.sh" | cut -c1-12)
PREFIX=$SELVEDGE_CACHE/libcurl-$HASH

if [ "${1:-}" = prefix ]; then
	echo "$PREFIX"
	exit 0
fi
[ $# -eq 0 ] || {
	echo "usage: hack/libcurl.sh [prefix]" >&2
	exit 2
}
[ -f "$PREFIX/lib/libcurl.a" ] && exit 0

for t in apt-get dpkg-source cmake ninja patch; do
	command -v "$t" >/dev/null || die "$t is needed (hack/install-deps.sh installs it)"
done
for h in openssl/ssl.h nghttp2/nghttp2.h zlib.h; do
	[ -f "/usr/include/$h" ] || die "/usr/include/$h is missing (hack/install-deps.sh installs it)"
done

mkdir -p "$SELVEDGE_CACHE"
WORK=$(mktemp -d "$SELVEDGE_CACHE/libcurl-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Source packages of Debian 13 (trixie), through apt with private lists: the
# Release files are checked against Debian's keyring, the source files
# against the signed indexes. The system's apt configuration is not touched.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING is missing"
SUITE=trixie
mkdir -p "$WORK/lists/partial" "$WORK/src"
{
	echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian $SUITE main"
	echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian-security $SUITE-security main"
} >"$WORK/sources.list"
APT_OPTS=(-q -o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$WORK/lists" -o APT::Sandbox::User=root)
log "libcurl: fetching Debian's curl source ($SUITE)"
apt-get "${APT_OPTS[@]}" update >"$WORK/apt.log" 2>&1 || {
	tail -n 5 "$WORK/apt.log" >&2
	die "apt-get update of the source lists failed"
}
# Newest first; a mirror can list a version before it serves its files, so
# the next one is tried when a download fails.
mapfile -t VERSIONS < <(apt-cache "${APT_OPTS[@]}" showsrc curl 2>>"$WORK/apt.log" |
	awk '/^Version:/ {print $2}' | sort -ruV)
[ ${#VERSIONS[@]} -gt 0 ] || die "no curl source package listed for $SUITE"
fetched=
for v in "${VERSIONS[@]}"; do
	rm -f "$WORK/src/"*
	if (cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source --download-only "curl=$v") >>"$WORK/apt.log" 2>&1; then
		fetched=$v
		break
	fi
done
[ -n "$fetched" ] || {
	tail -n 5 "$WORK/apt.log" >&2
	die "apt-get source curl failed for every listed version (${VERSIONS[*]})"
}
DSC=$(find "$WORK/src" -maxdepth 1 -name 'curl_*.dsc' | head -n 1)
[ -n "$DSC" ] || die "no curl .dsc downloaded"
VERSION=$(basename "$DSC" .dsc)
VERSION=${VERSION#curl_}
# The .dsc carries its uploader's signature, for which there is no keyring
# here; what vouches for it is apt, which checked its hash against the signed
# Sources index. dpkg-source still checks the tarballs against the .dsc.
dpkg-source --skip-patches -x "$DSC" "$WORK/curl" >>"$WORK/apt.log" 2>&1 || {
	tail -n 5 "$WORK/apt.log" >&2
	die "dpkg-source could not unpack $DSC"
}

# Debian's patches, in its order, but for the one that turns the tree into the
# GnuTLS flavour of the package.
n=0
while read -r p; do
	case "$p" in '' | '#'* | *gnutls*) continue ;; esac
	patch -d "$WORK/curl" -p1 --batch --quiet <"$WORK/curl/debian/patches/$p" ||
		die "Debian patch $p does not apply"
	n=$((n + 1))
done <"$WORK/curl/debian/patches/series"
log "libcurl: curl $VERSION, $n Debian patches applied; building"

# HTTP and HTTPS only; nothing read from the system (no CA bundle or path:
# the kubeconfig's CA is passed as data, no .netrc, no openssl.cnf).
# Proxies stay (the usual environment variables), as the threaded resolver
# (a name in a kubeconfig must not block the main loop).
OPTS=(
	-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX.tmp"
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_LIBDIR=lib
	-DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_CURL_MANUAL=OFF
	-DBUILD_LIBCURL_DOCS=OFF -DBUILD_MISC_DOCS=OFF -DBUILD_EXAMPLES=OFF
	-DHTTP_ONLY=ON -DCURL_USE_OPENSSL=ON -DCURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG=ON -DUSE_NGHTTP2=ON -DCURL_ZLIB=ON
	-DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF
	-DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF -DCURL_DISABLE_LDAP=ON
	-DCURL_DISABLE_LDAPS=ON -DCURL_DISABLE_WEBSOCKETS=ON -DENABLE_ARES=OFF
	-DENABLE_THREADED_RESOLVER=ON -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none
	-DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_HSTS=ON
	-DCURL_DISABLE_NETRC=ON -DCURL_DISABLE_MIME=ON -DCURL_DISABLE_NTLM=ON -DCURL_DISABLE_DOH=ON
	-DCURL_DISABLE_PROGRESS_METER=ON -DCURL_DISABLE_GETOPTIONS=ON -DCURL_DISABLE_FILE=ON
	-DENABLE_UNIX_SOCKETS=OFF
)
cmake -S "$WORK/curl" -B "$WORK/build" -G Ninja "${OPTS[@]}" >"$WORK/cmake.log" 2>&1 || {
	tail -n 20 "$WORK/cmake.log" >&2
	die "cmake (curl) failed"
}
grep -q 'Enabled SSL backends: OpenSSL' "$WORK/cmake.log" || {
	grep -i 'ssl' "$WORK/cmake.log" >&2 || true
	die "curl's build did not pick OpenSSL"
}
ninja -C "$WORK/build" install >"$WORK/build.log" 2>&1 || {
	tail -n 20 "$WORK/build.log" >&2
	die "building curl failed"
}
echo "$VERSION" >"$PREFIX.tmp/DEBIAN_VERSION"
rm -rf "$PREFIX"
mv "$PREFIX.tmp" "$PREFIX"
log "libcurl: installed in $PREFIX"
