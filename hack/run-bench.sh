#!/usr/bin/env bash
# Runs every benchmark in tests/bench/. Benchmarks print figures and ratios
# against a baseline measured in the same run; they never pass or fail on time.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" programs
export SELVEDGE_BUILD=$PWD/build
for b in tests/bench/*.sh; do
	echo "== bench $(basename "$b" .sh)"
	bash "$b"
done
