#!/usr/bin/env bash
# Enforces lib/LAYERS: each part includes only headers of the layers it may use
# (and only their third-party headers), and the CNI plugin never links libcurl.
#   hack/check-layering.sh includes        check #include lines (run by make)
#   hack/check-layering.sh binaries DIR    check the linked programs in DIR
set -euo pipefail
cd "$(dirname "$0")/.."

# Third-party headers and the layer that owns them.
declare -A OWNER=([curl]=kube [yaml.h]=kube [jansson.h]=json [libmnl]=nft [libnftnl]=nft
	[linux/netfilter]=nft [libwebsockets.h]=operator)

uses_of() { awk -v p="$1" '$1 == p { $1 = ""; print }' lib/LAYERS; }

check_includes() {
	local bad=0 part dir allowed f inc top
	while read -r part _; do
		case "$part" in '#'* | '') continue ;; esac
		for dir in "lib/$part" "$part" "tests/unit/$part" "tests/tools/$part"; do
			[ -d "$dir" ] || continue
			allowed=" $part $(uses_of "$part") "
			while IFS= read -r -d '' f; do
				while IFS= read -r inc; do
					if [[ $inc =~ ^#include\ \"([a-z_]+)/ ]]; then
						top=${BASH_REMATCH[1]}
						if [[ $allowed != *" $top "* ]]; then
							echo "layering: $f includes \"$top/...\" but $part may use only:$allowed" >&2
							bad=1
						fi
					elif [[ $inc =~ ^#include\ \<([^>]+)\> ]]; then
						for hdr in "${!OWNER[@]}"; do
							if [[ ${BASH_REMATCH[1]} == "$hdr"* ]] &&
								[[ $allowed != *" ${OWNER[$hdr]} "* ]]; then
								echo "layering: $f includes <${BASH_REMATCH[1]}>, which belongs to layer ${OWNER[$hdr]}" >&2
								bad=1
							fi
						done
					fi
				done < <(grep -E '^#include' "$f" || true)
			done < <(find "$dir" -maxdepth 1 -name '*.[ch]' -print0)
		done
	done <lib/LAYERS
	# Libraries return errors; only programs log.
	if grep -lE '^#include "base/log.h"' lib/*/*.c | grep -v '^lib/base/log.c$'; then
		echo "layering: library code above must not log (base/log.h is for cni/ and operator/)" >&2
		bad=1
	fi
	return "$bad"
}

check_binaries() {
	local dir=$1 cni=$1/selvedge-cni
	[ -x "$cni" ] || return 0
	# Shared (NEEDED) or static (its symbols): the operator links curl's archive.
	if readelf -d "$cni" | grep -q 'NEEDED.*libcurl' || nm -A "$cni" 2>/dev/null | grep -q ' [TtU] curl_'; then
		echo "layering: $cni links libcurl" >&2
		return 1
	fi
}

case "${1:-}" in
includes) check_includes ;;
binaries) check_binaries "${2:-build}" ;;
*)
	echo "usage: $0 includes|binaries [DIR]" >&2
	exit 2
	;;
esac
