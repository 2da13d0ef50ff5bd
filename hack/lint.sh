#!/usr/bin/env bash
# Static checks: clang-format, cppcheck, shellcheck, the layering of lib/, and
# the project's banned C calls. Prints one TAP line per check; exit 1 on any.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

rc=0
n=0
step() {
	local name=$1 out
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - lint: $name"
	else
		echo "not ok $n - lint: $name"
		printf '%s\n' "$out" | head -n 60 | sed 's/^/#   /'
		rc=1
	fi
}

# varFuncNullUB: sv_log's NULL sentinel is a pointer on every platform we build for
# (glibc defines NULL as ((void *)0)); gcc's sentinel attribute checks the calls.
# memleak/resourceLeak: cppcheck does not model __attribute__((cleanup)), so
# every _cleanup_ variable looks leaked; LeakSanitizer in the asan suite checks
# leaks for real.
mapfile -t C_FILES < <(git ls-files -co --exclude-standard '*.c' '*.h')
mapfile -t SH_FILES < <(git ls-files -co --exclude-standard '*.sh' .ci/run)

# The C rules of docs/architecture.md that a grep can check: no unbounded
# string calls, no atoi, and every open/fopen/socket/pipe/mkstemp sets CLOEXEC.
# code_grep REGEX: matches in C files, leaving out comment lines.
code_grep() { grep -nE "$1" "${C_FILES[@]}" | grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)'; }

banned_calls() {
	local bad=0
	if code_grep '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|atoll|strtok|gets)[[:space:]]*\('; then
		bad=1
	fi
	if code_grep '\bfopen[[:space:]]*\([^,]+,[[:space:]]*"[^"e]*"'; then
		echo "fopen without \"e\" (O_CLOEXEC)"
		bad=1
	fi
	if code_grep '\b(open|openat)[[:space:]]*\(' | grep -v O_CLOEXEC; then
		echo "open without O_CLOEXEC"
		bad=1
	fi
	if code_grep '\b(socket|pipe|mkstemp|accept|dup)[[:space:]]*\(' | grep -v CLOEXEC; then
		echo "use the CLOEXEC variants: SOCK_CLOEXEC, pipe2, mkostemp, accept4, fcntl F_DUPFD_CLOEXEC"
		bad=1
	fi
	return "$bad"
}

step "clang-format" clang-format --dry-run --Werror "${C_FILES[@]}"
step "cppcheck" cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -D__GNUC__ -Ilib -I. \
	--suppress=varFuncNullUB --suppress=memleak --suppress=resourceLeak lib cni operator tests/unit
step "shellcheck" shellcheck -x "${SH_FILES[@]}"
step "layering" hack/check-layering.sh includes
step "banned C calls" banned_calls
echo "lint: $n checks, rc=$rc"
exit $rc
