#!/usr/bin/env bash
# Benchmarks live here as the data path arrives (CNI ADD/DEL, rule sync, packet
# path). None exists yet; this says so instead of printing made-up figures.
set -euo pipefail
echo "bench: no benchmarks yet: they arrive with the CNI plugin and the operator"
