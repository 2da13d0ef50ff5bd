#!/usr/bin/env bash
# Runs Selvedge's test suites and prints one closing line "N passed, N failed".
#   hack/run-tests.sh [unit] [asan] [fuzz] [integration]   (default: all four)
# unit: cmocka unit tests; asan: the same built with ASan+UBSan, halting on the
# first error; fuzz: every fuzz target for FUZZ_SECONDS (default 10) from its
# seed corpus; integration: tests/integration/*.sh against a real control plane
# (started here unless one is already up, and stopped again if started here);
# the CNI plugin's integration tests run again against the ASan+UBSan build.
set -uo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$SELVEDGE_ROOT" || exit 1

PASS=0
FAIL=0
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# run_suite NAME CMD...: runs a TAP-producing command and adds up its results.
# A suite that fails without reporting a failing test counts as one failure.
run_suite() {
	local name=$1 out rc p f
	shift
	echo "== $name"
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(grep -cE '^ok ' <<<"$out")
	f=$(grep -cE '^not ok ' <<<"$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
}

unit_suites() {
	local build=$1 t
	for t in "$build"/tests/unit/*/test_*; do
		[ -x "$t" ] || continue
		run_suite "unit ${t#"$build"/tests/unit/}" env CMOCKA_MESSAGE_OUTPUT=tap "$t"
	done
}

build_or_fail() {
	if ! make -s -j"$JOBS" "$@" >/tmp/selvedge-build.log 2>&1; then
		cat /tmp/selvedge-build.log
		echo "not ok - build: make $*"
		FAIL=$((FAIL + 1))
		return 1
	fi
}

suite_unit() { build_or_fail all && unit_suites build; }
suite_asan() { build_or_fail BUILD=build/asan SAN=1 all && unit_suites build/asan; }
suite_fuzz() {
	build_or_fail fuzz-build || return
	local f
	for f in build/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		run_suite "fuzz $(basename "$f")" hack/run-fuzz.sh "$FUZZ_SECONDS" "$f"
	done
}

suite_integration() {
	build_or_fail all || return
	local started=0 t
	if ! hack/control-plane.sh status; then
		hack/control-plane.sh up || {
			echo "not ok - control plane failed to start"
			FAIL=$((FAIL + 1))
			return
		}
		started=1
	fi
	eval "$(hack/control-plane.sh env)"
	export SELVEDGE_BUILD=$SELVEDGE_ROOT/build
	for t in tests/integration/*.sh; do
		run_suite "integration $(basename "$t" .sh)" bash "$t"
	done
	# The programs again, built with ASan+UBSan: any error aborts them, and
	# a leak at exit turns their exit status non-zero, which the tests check.
	if build_or_fail BUILD=build/asan SAN=1 programs tools; then
		for t in tests/integration/cni*.sh tests/integration/operator.sh tests/integration/operator-status.sh \
			tests/integration/render-kernel.sh tests/integration/telemetry-kernel.sh \
			tests/integration/mesh.sh; do
			run_suite "integration (asan) $(basename "$t" .sh)" \
				env SELVEDGE_BUILD="$SELVEDGE_ROOT/build/asan" bash "$t"
		done
	fi
	[ "$started" -eq 0 ] || hack/control-plane.sh down
}

SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(unit asan fuzz integration)
for s in "${SUITES[@]}"; do
	case "$s" in
	unit | asan | fuzz | integration) "suite_$s" ;;
	*)
		echo "unknown suite: $s" >&2
		exit 2
		;;
	esac
done

echo "tests: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
