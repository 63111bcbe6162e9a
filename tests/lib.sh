# tests/lib.sh - shared helpers of weir's shell tests. Each check prints one
# TAP-style line, "ok - ..." or "not ok - ...", that tests/run.sh counts.

WEIRCTL=${WEIRCTL:-build/weirctl}
FAILED=0

ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }

# check DESC CMD...: passes when CMD exits 0.
check() {
	local desc=$1; shift
	if "$@" >/tmp/weir-check.$$.out 2>&1; then ok "$desc"; else
		fail "$desc"; sed 's/^/#   /' /tmp/weir-check.$$.out | head -20; fi
}

# check_fails DESC PATTERN CMD...: passes when CMD exits non-zero with one
# line on stderr matching PATTERN (an extended regex).
check_fails() {
	local desc=$1 pat=$2; shift 2
	local rc=0
	"$@" >/tmp/weir-check.$$.out 2>/tmp/weir-check.$$.err || rc=$?
	local lines
	lines=$(grep -cv '^usage:\|^  weirctl\|^      ' /tmp/weir-check.$$.err)
	if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -Eq -- "$pat" /tmp/weir-check.$$.err; then
		ok "$desc"
	else
		fail "$desc (exit $rc)"; sed 's/^/#   /' /tmp/weir-check.$$.err | head -10
	fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# check_ge DESC MIN ACTUAL
check_ge() {
	if [ "$3" -ge "$2" ] 2>/dev/null; then ok "$1"; else fail "$1: expected >= $2, got '$3'"; fi
}

finish() { rm -f /tmp/weir-check.$$.out /tmp/weir-check.$$.err; exit $(( FAILED > 0 )); }
