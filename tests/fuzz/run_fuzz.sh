#!/bin/bash
# tests/fuzz/run_fuzz.sh - runs each libFuzzer target (make fuzz builds
# $BUILD/fuzz_NAME from tests/fuzz/fuzz_NAME.c) over a copy of its seed corpus
# tests/fuzz/corpus/NAME for a fixed number of runs with a fixed seed, so that
# a run is bounded and repeatable and leaves the repository as it was. A
# failing input and the fuzzer's log are kept in a directory under /tmp that
# the failure names; replay it with `$BUILD/fuzz_NAME FILE`.
#
#   FUZZ_RUNS  runs per target (200000: a few seconds)
#   FUZZ_REQUEST_RUNS  runs of the request path target (100000)
#   BUILD      where the targets are (build)
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

BIN=${BUILD:-build}
RUNS=${FUZZ_RUNS:-200000}

for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	t=${name#fuzz_}
	bin=$BIN/$name
	if [ ! -x "$bin" ]; then fail "$name: $bin is not built (make fuzz)"; continue; fi
	if [ ! -d "tests/fuzz/corpus/$t" ]; then fail "$name: no seed corpus tests/fuzz/corpus/$t"; continue; fi
	tmp=$(mktemp -d /tmp/weir-fuzz.XXXXXX)
	mkdir "$tmp/corpus"
	cp "tests/fuzz/corpus/$t"/* "$tmp/corpus/"
	rc=0
	dict=tests/fuzz/$t.dict
	[ -f "$dict" ] || dict=tests/fuzz/cidr.dict
	runs=$RUNS max_len=128
	# The request path is a whole exchange per run: fewer, longer inputs.
	[ "$t" = request ] && runs=${FUZZ_REQUEST_RUNS:-100000} max_len=4096
	# Credentials: a signed token is longer than 128 bytes.
	[ "$t" = auth ] && max_len=1024
	"$bin" -runs="$runs" -seed=1 -max_len="$max_len" -dict="$dict" \
		-artifact_prefix="$tmp/" -print_final_stats=1 "$tmp/corpus" \
		>"$tmp/log" 2>&1 || rc=$?
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log")
	if [ "$rc" -eq 0 ] && [ -n "$n" ]; then
		ok "$name: $n runs, no crash"
		rm -rf "$tmp"
	else
		fail "$name: exit $rc after ${n:-?} runs; input and log kept in $tmp"
		grep -E 'property failed|ERROR:|runtime error|SUMMARY|^artifact' "$tmp/log" |
			head -8 | sed 's/^/#   /'
	fi
done
finish
