# shellcheck shell=bash
# Minimal test harness for the integration tests: TAP-like lines on stdout, a
# summary line "N passed, N failed" at the end, exit status 1 on any failure.
# Source it from a test script, call the check_* helpers, end with t_done.
T_PASS=0
T_FAIL=0
T_NAME=${T_NAME:-$(basename "$0" .sh)}

t_pass() { T_PASS=$((T_PASS + 1)); printf 'ok %d - %s: %s\n' $((T_PASS + T_FAIL)) "$T_NAME" "$1"; }
t_fail() {
	T_FAIL=$((T_FAIL + 1))
	printf 'not ok %d - %s: %s\n' $((T_PASS + T_FAIL)) "$T_NAME" "$1"
	shift
	[ $# -eq 0 ] || printf '#   %s\n' "$@"
}

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then t_pass "$name"; else t_fail "$name" "command: $*" "$out"; fi
}

# check_fails_with NAME PATTERN CMD...: passes when CMD exits non-zero and its
# combined output matches the extended regex PATTERN.
check_fails_with() {
	local name=$1 pattern=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		t_fail "$name" "expected failure, command succeeded: $*" "$out"
	elif grep -Eq -- "$pattern" <<<"$out"; then
		t_pass "$name"
	else
		t_fail "$name" "expected output matching: $pattern" "got: $out"
	fi
}

# check_output NAME PATTERN CMD...: passes when CMD succeeds and its output
# matches the extended regex PATTERN.
check_output() {
	local name=$1 pattern=$2 out
	shift 2
	if ! out=$("$@" 2>&1); then
		t_fail "$name" "command failed: $*" "$out"
	elif grep -Eq -- "$pattern" <<<"$out"; then
		t_pass "$name"
	else
		t_fail "$name" "expected output matching: $pattern" "got: $out"
	fi
}

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails when
# it has not within SECONDS. CMD's output is discarded.
wait_for() {
	local end=$(($(date +%s%3N) + $1 * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%3N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# jq_e ARGS...: jq -e on stdin that also fails when stdin is empty (jq 1.6
# exits 0 when it reads nothing: a "kubectl get ... | jq -e" of a missing
# object would pass).
jq_e() {
	local input
	input=$(cat)
	[ -n "$input" ] || return 1
	jq -e "$@" <<<"$input"
}

t_done() {
	printf '# %s: %d passed, %d failed\n' "$T_NAME" "$T_PASS" "$T_FAIL"
	[ "$T_FAIL" -eq 0 ]
}
