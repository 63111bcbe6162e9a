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
# both NAME SCRIPT: a script's suite with the normal build, then with the
# sanitizer build's weir and weirctl.
both() {
	run_suite "$1" "$2"
	WEIR=build/asan/weir WEIRCTL=build/asan/weirctl run_suite "$1 (asan)" "$2"
}
both "cli" tests/cli/test_cli.sh
both "proxy" tests/proxy/test_proxy.sh
both "cache" tests/proxy/test_cache.sh
both "limits" tests/proxy/test_limits.sh
both "auth" tests/proxy/test_auth.sh
both "auth: password hashes off the loop" tests/proxy/test_auth_slow.sh
both "fwdauth" tests/proxy/test_fwdauth.sh
both "fwdauth: the shared verdict cache" tests/proxy/test_fwdauth_shared.sh
both "sign" tests/proxy/test_sign.sh
both "logs" tests/proxy/test_logs.sh
both "admin api" tests/proxy/test_admin.sh
both "admin openapi, cache purge" tests/proxy/test_admin_openapi.sh
both "admin certificates" tests/proxy/test_admin_certs.sh
both "cpus" tests/proxy/test_cpus.sh
both "tls" tests/proxy/test_tls.sh
both "steer" tests/steer/test_steer.sh
run_suite "fuzz" tests/fuzz/run_fuzz.sh
both "e2e namespaces" tests/e2e/test_e2e.sh
both "e2e syncookie" tests/e2e/test_syncookie.sh
both "e2e l4" tests/e2e/test_l4.sh
both "e2e service table upgrade" tests/e2e/test_svc_upgrade.sh
both "e2e ban" tests/e2e/test_ban.sh

[ -n "$suites_failed" ] && echo "failed suites:$suites_failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
