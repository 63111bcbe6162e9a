#!/bin/bash
# tests/run.sh - runs every test of weir and ends with one line CI reads:
# "N passed, M failed". Suites run with the normal build and again with the
# sanitizer build (ASan + UBSan) where they execute weir's own code.
set -u
cd "$(dirname "$0")/.."

passed=0 failed=0 suites_failed=""
run_suite() {
	local name=$1; shift
	echo "=== $name"
	local out rc
	out=$("$@" 2>&1); rc=$?
	echo "$out" | grep -v '^ok ' 
	local p f
	p=$(echo "$out" | grep -c '^ok ')
	f=$(echo "$out" | grep -c '^not ok ')
	echo "--- $name: $p passed, $f failed"
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# A suite that died without reporting a failure is a failure.
		failed=$((failed + 1)); echo "not ok - $name exited with $rc"
	fi
	[ "$rc" -ne 0 ] && suites_failed="$suites_failed $name"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

for t in build/test_*; do
	case $t in build/test_xdp) continue ;; esac
	name=${t#build/test_}
	run_suite "unit: $name" "$t"
	run_suite "unit: $name (asan)" "build/asan/test_$name"
done
run_suite "bpf fixtures" build/test_xdp
run_suite "bpf fixtures (asan)" build/asan/test_xdp
run_suite "cli" tests/cli/test_cli.sh
WEIRCTL=build/asan/weirctl run_suite "cli (asan)" tests/cli/test_cli.sh
run_suite "proxy" tests/proxy/test_proxy.sh
WEIR=build/asan/weir run_suite "proxy (asan)" tests/proxy/test_proxy.sh
run_suite "cache" tests/proxy/test_cache.sh
WEIR=build/asan/weir run_suite "cache (asan)" tests/proxy/test_cache.sh
run_suite "limits" tests/proxy/test_limits.sh
WEIR=build/asan/weir run_suite "limits (asan)" tests/proxy/test_limits.sh
run_suite "auth" tests/proxy/test_auth.sh
WEIR=build/asan/weir run_suite "auth (asan)" tests/proxy/test_auth.sh
run_suite "fwdauth" tests/proxy/test_fwdauth.sh
WEIR=build/asan/weir run_suite "fwdauth (asan)" tests/proxy/test_fwdauth.sh
run_suite "sign" tests/proxy/test_sign.sh
WEIR=build/asan/weir run_suite "sign (asan)" tests/proxy/test_sign.sh
run_suite "logs" tests/proxy/test_logs.sh
WEIR=build/asan/weir run_suite "logs (asan)" tests/proxy/test_logs.sh
run_suite "admin api" tests/proxy/test_admin.sh
WEIR=build/asan/weir WEIRCTL=build/asan/weirctl run_suite "admin api (asan)" tests/proxy/test_admin.sh
run_suite "admin openapi, cache purge" tests/proxy/test_admin_openapi.sh
WEIR=build/asan/weir WEIRCTL=build/asan/weirctl run_suite "admin openapi, cache purge (asan)" tests/proxy/test_admin_openapi.sh
run_suite "tls" tests/proxy/test_tls.sh
WEIR=build/asan/weir run_suite "tls (asan)" tests/proxy/test_tls.sh
run_suite "steer" tests/steer/test_steer.sh
WEIR=build/asan/weir run_suite "steer (asan)" tests/steer/test_steer.sh
run_suite "fuzz" tests/fuzz/run_fuzz.sh
run_suite "e2e namespaces" tests/e2e/test_e2e.sh
WEIRCTL=build/asan/weirctl run_suite "e2e namespaces (asan)" tests/e2e/test_e2e.sh
run_suite "e2e syncookie" tests/e2e/test_syncookie.sh
WEIRCTL=build/asan/weirctl run_suite "e2e syncookie (asan)" tests/e2e/test_syncookie.sh
run_suite "e2e l4" tests/e2e/test_l4.sh
WEIRCTL=build/asan/weirctl run_suite "e2e l4 (asan)" tests/e2e/test_l4.sh
run_suite "e2e ban" tests/e2e/test_ban.sh
WEIR=build/asan/weir WEIRCTL=build/asan/weirctl run_suite "e2e ban (asan)" tests/e2e/test_ban.sh

[ -n "$suites_failed" ] && echo "failed suites:$suites_failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
