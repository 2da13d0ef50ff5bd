#!/usr/bin/env bash
# The four libraries the operator links that Debian 12's packages do not give
# as it needs them, built from Debian's own sources (fetched and verified by
# apt, with Debian's patches) as static archives in a cache outside the clone:
# - mbedTLS 3.6 (Debian 13's source), the TLS library. OpenSSL was 2.6 MB of
#   the operator's 4.3 MB of code, all of it resident (docs/operator.md,
#   Memory). Debian 12's mbedTLS (2.28) could not check an IP address against
#   a certificate, and API servers are mostly addressed by IP (k3s's
#   127.0.0.1, the in-cluster 10.43.0.1); 3.6 checks iPAddress SANs. Built
#   as a TLS 1.2/1.3 client only: no server side, no DTLS, no PSK or
#   finite-field DH key exchanges, no ARIA, Camellia or DES, and only the
#   curves API servers use (P-256, P-384, P-521, X25519).
# - libcurl 8 (Debian 13's source) over it, for HTTP and HTTPS only, with
#   HTTP/2 (nghttp2) and gzip (zlib). Not Debian 12's 7.88: its HTTP/2 code,
#   rewritten in 8.0, now and then leaves a stream whose data arrived while
#   another was being read unserved until its timeout; about one operator
#   start in twenty then waits 10 s for a list (docs/operator.md, The
#   client). Debian's libcurl4 would also bring GnuTLS, Kerberos, LDAP,
#   SASL, SSH, RTMP, PSL and IDN into every process.
# - libwebsockets 4.1 (Debian 12's own source and release) without TLS: it
#   serves /metrics, /healthz and /readyz in plain HTTP on a node-local
#   address, and Debian's build would link OpenSSL back in.
# - jemalloc 5.3 (Debian 12's own source and release), the operator's
#   allocator, without what Debian's build adds for the debugging of other
#   programs: its heap profiler (which brought libm and libgcc_s into the
#   process), statistics, junk filling and tracing. 0.66 MB of code in the
#   binary became 0.32 MB, and the two libraries are gone (docs/operator.md,
#   Memory). The page size is the build machine's, as the kernel it runs on
#   (Debian's arm64 build assumes 64 KiB pages, which would make every slab
#   sixteen times larger on a 4 KiB kernel).
#   hack/source-libs.sh prefix   prints where they are installed (no work)
#   hack/source-libs.sh          builds them there unless already built
# The install directory is named by this script's hash: a change of options
# builds anew. About a minute on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$ROOT/hack/lib.sh"

HASH=$(sha256sum "$ROOT/hack/source-libs.sh" | cut -c1-12)
PREFIX=$SELVEDGE_CACHE/source-libs-$HASH

if [ "${1:-}" = prefix ]; then
	echo "$PREFIX"
	exit 0
fi
[ $# -eq 0 ] || {
	echo "usage: hack/source-libs.sh [prefix]" >&2
	exit 2
}
[ -f "$PREFIX/lib/libcurl.a" ] && exit 0

for t in apt-get apt-cache dpkg-source cmake ninja patch python3; do
	command -v "$t" >/dev/null || die "$t is needed (hack/install-deps.sh installs it)"
done
for h in nghttp2/nghttp2.h zlib.h; do
	[ -f "/usr/include/$h" ] || die "/usr/include/$h is missing (hack/install-deps.sh installs it)"
done

mkdir -p "$SELVEDGE_CACHE"
WORK=$(mktemp -d "$SELVEDGE_CACHE/source-libs-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$PREFIX.tmp
rm -rf "$STAGE"

# fetch SUITE PACKAGE: unpacks Debian's source of PACKAGE from SUITE into
# $WORK/PACKAGE with Debian's patches applied, but for those whose name
# contains $SKIP_PATCHES (when set). apt uses private lists: the Release files
# are checked against Debian's keyring, the source files against the signed
# indexes; the system's apt configuration is not touched.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING is missing"
fetch() {
	local suite=$1 pkg=$2 dir=$WORK/apt-$1
	local opts=(-q -o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$dir/lists" -o APT::Sandbox::User=root)
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir/lists/partial"
		{
			echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian $suite main"
			echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian-security $suite-security main"
		} >"$dir/sources.list"
		apt-get "${opts[@]}" update >"$dir/apt.log" 2>&1 || {
			tail -n 5 "$dir/apt.log" >&2
			die "apt-get update of the $suite source lists failed"
		}
	fi
	# Newest first; a mirror can list a version before it serves its files,
	# so the next one is tried when a download fails.
	local versions v fetched='' src=$WORK/src-$pkg
	mapfile -t versions < <(apt-cache "${opts[@]}" showsrc "$pkg" 2>>"$dir/apt.log" |
		awk '/^Version:/ {print $2}' | sort -ruV)
	[ ${#versions[@]} -gt 0 ] || die "no $pkg source package listed for $suite"
	mkdir -p "$src"
	for v in "${versions[@]}"; do
		rm -f "$src/"*
		if (cd "$src" && apt-get "${opts[@]}" source --download-only "$pkg=$v") >>"$dir/apt.log" 2>&1; then
			fetched=$v
			break
		fi
	done
	[ -n "$fetched" ] || {
		tail -n 5 "$dir/apt.log" >&2
		die "apt-get source $pkg failed for every listed version (${versions[*]})"
	}
	local dsc
	dsc=$(find "$src" -maxdepth 1 -name "${pkg}_*.dsc" | head -n 1)
	[ -n "$dsc" ] || die "no $pkg .dsc downloaded"
	# The .dsc carries its uploader's signature, for which there is no
	# keyring here; what vouches for it is apt, which checked its hash
	# against the signed Sources index. dpkg-source checks the tarballs
	# against the .dsc.
	dpkg-source --skip-patches -x "$dsc" "$WORK/$pkg" >>"$dir/apt.log" 2>&1 || {
		tail -n 5 "$dir/apt.log" >&2
		die "dpkg-source could not unpack $dsc"
	}
	local n=0 p
	if [ -f "$WORK/$pkg/debian/patches/series" ]; then
		while read -r p; do
			case "$p" in '' | '#'*) continue ;; esac
			if [ -n "${SKIP_PATCHES:-}" ] && [[ "$p" == *"$SKIP_PATCHES"* ]]; then
				continue
			fi
			patch -d "$WORK/$pkg" -p1 --batch --quiet <"$WORK/$pkg/debian/patches/${p%% *}" ||
				die "Debian patch $p of $pkg does not apply"
			n=$((n + 1))
		done <"$WORK/$pkg/debian/patches/series"
	fi
	echo "$pkg $fetched ($suite)" >>"$WORK/VERSIONS"
	log "source-libs: $pkg $fetched ($suite), $n Debian patches applied; building"
}

# build NAME SOURCE_DIR CMAKE_OPTIONS...: configures, builds and installs
# into the staging prefix, static and position-independent (the operator is
# a PIE).
build() {
	local name=$1 src=$2
	shift 2
	cmake -S "$src" -B "$WORK/build-$name" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_INSTALL_PREFIX="$STAGE" -DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" "$@" >"$WORK/cmake-$name.log" 2>&1 || {
		tail -n 20 "$WORK/cmake-$name.log" >&2
		die "cmake ($name) failed"
	}
	ninja -C "$WORK/build-$name" install >"$WORK/build-$name.log" 2>&1 || {
		tail -n 20 "$WORK/build-$name.log" >&2
		die "building $name failed"
	}
}

# mbedTLS, with Debian's settings (threading) and our trims.
fetch trixie mbedtls
config() { python3 "$WORK/mbedtls/scripts/config.py" -f "$WORK/mbedtls/include/mbedtls/mbedtls_config.h" "$@"; }
config set MBEDTLS_THREADING_C
config set MBEDTLS_THREADING_PTHREAD
for option in MBEDTLS_SSL_SRV_C MBEDTLS_SSL_CACHE_C MBEDTLS_SSL_TICKET_C MBEDTLS_SSL_COOKIE_C \
	MBEDTLS_SSL_PROTO_DTLS MBEDTLS_SSL_DTLS_ANTI_REPLAY MBEDTLS_SSL_DTLS_HELLO_VERIFY \
	MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE MBEDTLS_SSL_DTLS_CONNECTION_ID \
	MBEDTLS_KEY_EXCHANGE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED \
	MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED \
	MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED MBEDTLS_KEY_EXCHANGE_ECJPAKE_ENABLED MBEDTLS_ECJPAKE_C \
	MBEDTLS_DHM_C MBEDTLS_ARIA_C MBEDTLS_CAMELLIA_C MBEDTLS_DES_C \
	MBEDTLS_ECP_DP_SECP192R1_ENABLED MBEDTLS_ECP_DP_SECP224R1_ENABLED \
	MBEDTLS_ECP_DP_SECP192K1_ENABLED MBEDTLS_ECP_DP_SECP224K1_ENABLED \
	MBEDTLS_ECP_DP_SECP256K1_ENABLED MBEDTLS_ECP_DP_BP256R1_ENABLED \
	MBEDTLS_ECP_DP_BP384R1_ENABLED MBEDTLS_ECP_DP_BP512R1_ENABLED MBEDTLS_ECP_DP_CURVE448_ENABLED; do
	config unset "$option"
done
build mbedtls "$WORK/mbedtls" -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
	-DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF -DMBEDTLS_FATAL_WARNINGS=OFF

# curl: Debian's patches but for the one that turns the tree into the GnuTLS
# flavour of the package. Nothing read from the system (no CA bundle or path:
# the kubeconfig's CA is passed as data, no .netrc). Proxies stay (the usual
# environment variables), as the threaded resolver (a name in a kubeconfig
# must not block the main loop).
SKIP_PATCHES=gnutls fetch trixie curl
build curl "$WORK/curl" \
	-DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_CURL_MANUAL=OFF \
	-DBUILD_LIBCURL_DOCS=OFF -DBUILD_MISC_DOCS=OFF -DBUILD_EXAMPLES=OFF -DCURL_USE_PKGCONFIG=OFF \
	-DHTTP_ONLY=ON -DCURL_USE_OPENSSL=OFF -DCURL_USE_MBEDTLS=ON \
	-DMBEDTLS_INCLUDE_DIR="$STAGE/include" -DMBEDTLS_LIBRARY="$STAGE/lib/libmbedtls.a" \
	-DMBEDX509_LIBRARY="$STAGE/lib/libmbedx509.a" -DMBEDCRYPTO_LIBRARY="$STAGE/lib/libmbedcrypto.a" \
	-DUSE_NGHTTP2=ON -DCURL_ZLIB=ON \
	-DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF \
	-DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF -DCURL_DISABLE_LDAP=ON \
	-DCURL_DISABLE_LDAPS=ON -DCURL_DISABLE_WEBSOCKETS=ON -DENABLE_ARES=OFF \
	-DENABLE_THREADED_RESOLVER=ON -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none \
	-DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_HSTS=ON \
	-DCURL_DISABLE_NETRC=ON -DCURL_DISABLE_MIME=ON -DCURL_DISABLE_NTLM=ON -DCURL_DISABLE_DOH=ON \
	-DCURL_DISABLE_PROGRESS_METER=ON -DCURL_DISABLE_GETOPTIONS=ON -DCURL_DISABLE_FILE=ON \
	-DENABLE_UNIX_SOCKETS=OFF
grep -q 'Enabled SSL backends: mbedTLS' "$WORK/cmake-curl.log" || {
	grep -i 'ssl' "$WORK/cmake-curl.log" >&2 || true
	die "curl's build did not pick mbedTLS"
}

# libwebsockets: an HTTP/1.1 server only (no client, WebSocket role,
# extensions, HTTP/2, event libraries, JSON parsers or daemon helper).
fetch bookworm libwebsockets
build libwebsockets "$WORK/libwebsockets" \
	-DLWS_WITH_SSL=OFF -DLWS_WITH_SHARED=OFF -DLWS_WITH_STATIC=ON -DLIB_SUFFIX= \
	-DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON -DLWS_WITHOUT_TEST_CLIENT=ON \
	-DLWS_WITH_MINIMAL_EXAMPLES=OFF -DLWS_WITHOUT_CLIENT=ON -DLWS_ROLE_WS=OFF \
	-DLWS_WITHOUT_EXTENSIONS=ON -DLWS_WITH_HTTP2=OFF -DLWS_WITH_ZLIB=OFF -DLWS_IPV6=ON \
	-DLWS_WITH_LIBEV=OFF -DLWS_WITH_LIBUV=OFF -DLWS_WITH_GLIB=OFF -DLWS_WITHOUT_DAEMONIZE=ON \
	-DLWS_WITH_LEJP=OFF -DLWS_WITH_STRUCT_JSON=OFF -DDISABLE_WERROR=ON

# jemalloc: its own configure script (in the release tarball). No large
# allocation is given a random offset in its first page (cache-oblivious):
# that cost a page per large block.
fetch bookworm jemalloc
(
	cd "$WORK/jemalloc"
	./configure --with-version=5.3.0-0-g0 --disable-prof --disable-stats --disable-fill \
		--disable-utrace --disable-xmalloc --disable-cxx --disable-libdl --disable-cache-oblivious \
		CFLAGS="-Os -fno-asynchronous-unwind-tables" >"$WORK/configure-jemalloc.log" 2>&1 || {
		tail -n 20 "$WORK/configure-jemalloc.log" >&2
		exit 1
	}
	make -j"$(nproc)" build_lib_static >"$WORK/build-jemalloc.log" 2>&1 || {
		tail -n 20 "$WORK/build-jemalloc.log" >&2
		exit 1
	}
) || die "building jemalloc failed"
cp "$WORK/jemalloc/lib/libjemalloc_pic.a" "$STAGE/lib/"

cp "$WORK/VERSIONS" "$STAGE/DEBIAN_VERSIONS"
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
log "source-libs: installed in $PREFIX ($(tr '\n' ';' <"$PREFIX/DEBIAN_VERSIONS"))"
