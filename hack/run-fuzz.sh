#!/usr/bin/env bash
# Runs fuzz targets for a bounded time each, starting from their seed corpus in
# tests/fuzz/corpus/<target>/ (copied, so the run never writes into the repo).
# Prints a TAP line per target.   hack/run-fuzz.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
seconds=$1
shift
rc=0
for bin in "$@"; do
	name=$(basename "$bin")
	work=$(mktemp -d)
	[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
	if out=$("$bin" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
		-artifact_prefix="$work/" "$work" 2>&1); then
		echo "ok - fuzz $name: $(grep -oE 'Done [0-9]+ runs' <<<"$out" | tail -n 1) in ${seconds}s"
	else
		echo "not ok - fuzz $name"
		tail -n 30 <<<"$out" | sed 's/^/#   /'
		find "$work" -maxdepth 1 -name "crash-*" -o -name "leak-*" -o -name "timeout-*" | sed "s/^/#   artifact: /"
		rc=1
	fi
	[ "$rc" -ne 0 ] || rm -rf "$work"
done
exit "$rc"
