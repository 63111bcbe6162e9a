#!/bin/bash
# tests/cli/test_cli.sh - every bad-input path of weirctl: each one exits
# non-zero with a one-line error naming the input and the reason, and leaves
# the maps exactly as they were. Runs against a veth attached in generic mode
# with a private pin directory, so it never meets another test's state.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

PIN=/sys/fs/bpf/weir-test-cli-$$
IF=wcli$$
W() { "$WEIRCTL" --pin-dir "$PIN" "$@"; }
cleanup() {
	W detach "$IF" >/dev/null 2>&1
	ip link del "$IF" 2>/dev/null
	"$WEIRCTL" --pin-dir "$PIN-other" detach "wclb$$" --purge >/dev/null 2>&1
	ip link del "wclb$$" 2>/dev/null
	rm -rf "$PIN" "$PIN-other" /tmp/weir-cli.$$.*
}
trap cleanup EXIT
ip link add "$IF" type veth peer name "${IF}p"
ip link set "$IF" up

# Before anything is pinned.
check_fails "block list without pinned maps says to attach" \
	"no weir maps pinned under $PIN: attach first" W block list
check_fails "stats without pinned maps says to attach" "attach first" W stats

check "attach in generic mode" W attach "$IF" --mode generic
check "block add a baseline entry" W block add 192.0.2.0/24 --comment baseline
check "allow add a baseline entry" W allow add 198.51.100.7
check "limit set a baseline default" W limit set --conn 50 --pkt 5000

snapshot() {
	{ W block list --json; W allow list --json; W limit show --json;
	  W status --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
print([i['name'] for i in s['interfaces'] if i['name'] == '$IF'], s['maps'])"; } 2>&1 |
		sed 's/"hits":[0-9]*//g'
}
BEFORE=$(snapshot)
unchanged() { check_eq "$1: state unchanged" "$BEFORE" "$(snapshot)"; }

# bad DESC PATTERN ARGS...: fails as it should and changes nothing.
bad() {
	local desc=$1 pat=$2; shift 2
	check_fails "$desc" "$pat" W "$@"
	unchanged "$desc"
}

bad "unknown command" "unknown command 'frobnicate'" frobnicate
bad "unknown verb" "block: unknown command 'purge'" block purge
bad "unknown option" "unknown option '--frob'" block add 10.0.0.0/8 --frob
bad "block add without CIDR" "missing CIDR" block add
bad "block add with two CIDRs" "too many arguments" block add 10.0.0.0/8 10.1.0.0/16
bad "block add bad IPv4" "'10.0.0.300': not an IPv4 or IPv6 address" block add 10.0.0.300
bad "block add host bits set" "'10.0.0.1/24': address has bits set past /24" block add 10.0.0.1/24
bad "block add prefix too long v4" "prefix length must be 0..32" block add 10.0.0.0/33
bad "block add prefix too long v6" "prefix length must be 0..128" block add 2001:db8::/129
bad "block add empty prefix length" "prefix length" block add 10.0.0.0/
bad "block add words" "'example.com': not an IPv4 or IPv6" block add example.com
bad "block add zero ttl" "--ttl '0': expected a positive duration" block add 10.9.0.0/16 --ttl 0
bad "block add bad ttl unit" "--ttl '5x'" block add 10.9.0.0/16 --ttl 5x
bad "block add ttl without value" "--ttl needs a value" block add 10.9.0.0/16 --ttl
bad "block add comment too long" "--comment: at most 63 bytes" \
	block add 10.9.0.0/16 --comment "$(printf 'x%.0s' $(seq 64))"
bad "allow add with comment" "--comment applies to the blocklist only" \
	allow add 10.9.0.0/16 --comment x
bad "block del absent entry" "10.9.0.0/16 is not in the blocklist" block del 10.9.0.0/16
bad "allow del absent entry" "is not in the allowlist" allow del 10.9.0.0/16

printf '10.1.0.0/16\n# comment\n\n10.2.0.1/8\n10.3.0.0/16\n' > /tmp/weir-cli.$$.bad
bad "import reports the bad line, imports nothing" \
	"weir-cli.$$.bad:4: '10.2.0.1/8': address has bits set past /8; nothing imported" \
	block import /tmp/weir-cli.$$.bad
bad "import of a missing file" "/nonexistent/list: No such file or directory" \
	block import /nonexistent/list

bad "limit set with nothing to set" "nothing to set" limit set
bad "limit set negative rate" "--conn '-1': expected an integer 0..100000000" limit set --conn -1
bad "limit set non-numeric rate" "--pkt 'fast'" limit set --pkt fast
bad "limit set rate too high" "--pkt '100000001'" limit set --pkt 100000001
bad "limit set zero burst" "--conn-burst must be at least 1" limit set --conn 5 --conn-burst 0
bad "limit set bad CIDR" "'10.0.0.1/8': address has bits" limit set 10.0.0.1/8 --conn 5
bad "limit del absent override" "no override for 10.0.0.0/8" limit del 10.0.0.0/8
bad "stats zero count" "--count '0'" stats --watch --count 0
bad "limit set burst without a rate" "--pkt-burst needs a rate \\(--pkt\\)" limit set 10.0.0.0/8 --pkt 0 --pkt-burst 5
bad "block add ttl too long" "--ttl '213503982334601d'" block add 10.9.0.0/16 --ttl 213503982334601d
bad "pin dir outside bpffs" "/tmp is not a bpffs" --pin-dir /tmp/weir-not-bpffs attach "$IF" --mode generic
bad "pin dir too long" "--pin-dir: a path of 1..400 characters" --pin-dir "/sys/fs/bpf/$(printf 'x%.0s' $(seq 420))" status

bad "attach unknown interface" "unknown interface 'nosuchif0'" attach nosuchif0
bad "attach bad mode" "--mode 'turbo': expected native or generic" attach "$IF" --mode turbo
bad "attach in the other mode" "runs on $IF in generic mode" attach "$IF" --mode native
bad "detach unknown interface" "unknown interface 'nosuchif0'" detach nosuchif0
bad "detach where weir is not attached" "weir is not attached to ${IF}p" detach "${IF}p"

if command -v setpriv >/dev/null; then
	check_fails "non-root gets permission denied" "permission denied" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WEIRCTL" --pin-dir "$PIN" block list
	unchanged "non-root"
fi

# Help comes from the same table that parses the commands.
check "weirctl --help lists every command" bash -c \
	"'$WEIRCTL' --help | grep -q 'weirctl block import FILE' &&
	 '$WEIRCTL' --help | grep -q 'weirctl limit set \[CIDR|default\]' &&
	 '$WEIRCTL' --help | grep -q 'weirctl stats \[--json\] \[--watch\] \[--count N\]'"
check "subcommand --help" bash -c \
	"'$WEIRCTL' block add --help | grep -q -- '--ttl DURATION'"
check_eq "no command is a usage error (exit 2)" 2 "$("$WEIRCTL" >/dev/null 2>&1; echo $?)"

# The good paths that the bad ones are measured against.
printf '10.1.0.0/16 # feed A\n\n2001:db8:1::/48\n10.3.0.0/16\n' > /tmp/weir-cli.$$.good
check "import a good file" W block import /tmp/weir-cli.$$.good
check_eq "imported entries listed" 4 "$(W block list --json | grep -o '"cidr"' | wc -l)"
check "limit override set" W limit set 10.0.0.0/8 --pkt 100
check_eq "a new override takes the default for the limit not given" \
	'{"cidr":"10.0.0.0/8","conn":{"rate":50,"burst":50},"pkt":{"rate":100,"burst":100}}' \
	"$(W limit show --json | grep -o '{"cidr":"10.0.0.0/8"[^]]*}}')"
check "limit set of one field keeps the override's others" W limit set 10.0.0.0/8 --conn 7
check_eq "the override after the second set" \
	'{"cidr":"10.0.0.0/8","conn":{"rate":7,"burst":7},"pkt":{"rate":100,"burst":100}}' \
	"$(W limit show --json | grep -o '{"cidr":"10.0.0.0/8"[^]]*}}')"
check_fails "a burst without a rate is refused" \
	"--conn-burst needs a rate \\(--conn\\)" W limit set --conn 0 --conn-burst 3
check_eq "the refused change left the default as it was" \
	'{"cidr":"default","conn":{"rate":50,"burst":50},"pkt":{"rate":5000,"burst":5000}}' \
	"$(W limit show --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0], separators=(",", ":")))')"
check "block list json has the comment" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN' block list --json | grep -q '\"comment\":\"baseline\"'"
check "block add with a 1 s TTL" W block add 10.200.0.0/16 --ttl 1s
sleep 1.2 # let the TTL lapse: the check below is about what reap does, not speed
check_eq "block reap removes the expired entry, keeps the live ones" \
	"removed 1 expired entries from the blocklist; 4 left" "$(W block reap)"
check_eq "block flush removes all" "removed 4 entries from the blocklist" "$(W block flush)"
check "--pin-dir=DIR is the same as --pin-dir DIR" bash -c \
	"'$WEIRCTL' --pin-dir='$PIN' status --json | grep -q '\"pin_dir\":\"$PIN\",\"maps\":{'"
check "stats --json parses" bash -c "'$WEIRCTL' --pin-dir '$PIN' stats --json | python3 -m json.tool >/dev/null"
check "stats --watch --count 2 --json: two lines of per-reason rates, then exits" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN' stats --watch --count 2 --json | python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 2, lines
for l in lines:
    d = json.loads(l)
    assert set(d) == {\"passed\", \"passed_nonip\", \"allowlisted\", \"blocklisted\",
                      \"conn_limited\", \"pkt_limited\", \"malformed\",
                      \"service_l7\", \"service_dropped\", \"l4_forwarded\",
                      \"l4_no_backend\", \"l4_error\", \"syncookie_sent\",
                      \"syncookie_bad_ack\"}, d
    assert all(set(v) == {\"pps\", \"bps\"} for v in d.values()), d
'"
# --purge refuses while another interface's weir uses these maps, and only then.
IF2=wclb$$
ip link add "$IF2" type veth peer name "${IF2}p"
ip link set "$IF2" up
check "attach a second interface to the same maps" W attach "$IF2" --mode generic
check_fails "purge refused while the maps are in use elsewhere" \
	"--purge: weir still runs on $IF2 and uses the maps" W detach "$IF" --purge
check "the refused purge left weir attached" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN' status | grep -q '^$IF '"
check "detach the second interface" W detach "$IF2"
check "weir on another pin dir does not block a purge" \
	"$WEIRCTL" --pin-dir "$PIN-other" attach "$IF2" --mode generic
check "detach --purge removes the pins" W detach "$IF" --purge
check "detach --purge where weir no longer runs still removes pins" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN-other' detach '$IF2' >/dev/null &&
	 '$WEIRCTL' --pin-dir '$PIN-other' detach '$IF2' --purge | grep -q 'was not attached' &&
	 test ! -e '$PIN-other'"
ip link del "$IF2"
check "pins gone after purge" test ! -e "$PIN"
finish
