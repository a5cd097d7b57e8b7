#!/usr/bin/env bash
# Runs libsan's transfer tests between two network namespaces, as if across
# two machines: san-a-PID and san-b-PID joined by a veth pair, 192.0.2.1/24
# and 192.0.2.2/24 (TEST-NET-1, which exists only inside these namespaces).
# The test process runs in san-a and listens on 192.0.2.1; the peer it forks
# setns()es into san-b (SAN_TEST_PEER_NETNS, see tests/harness.h) and
# connects across the veth link.
#
# Usage: tests/netns/run.sh [TESTS_BIN_DIR [TEST_NAME...]]
#   TESTS_BIN_DIR  where the built test programs are (default: build/tests)
#   TEST_NAME      run only these (default: every tests/test_*.c that
#                  contains the word SAN_TEST_TRANSPORTS, i.e. the transfer
#                  tests)
# Environment: SAN_NETNS_TEST_TIMEOUT  seconds per test (default 30).
#
# Prints one line per test and "N passed, N failed, N skipped". Exits 0 if
# none failed (and at least one passed), 1 if any failed, 77 (with the
# reason) if the namespaces cannot be made here: not root, no ip(8), no
# network namespace or veth support.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
bin=${1:-$src/../build/tests}
[ $# -gt 0 ] && shift
per_test=${SAN_NETNS_TEST_TIMEOUT:-30}

skip() { echo "SKIP: $*"; exit 77; }

# test_netns runs this script; a test run from here must not run it again.
[ -n "${SAN_NETNS_RUNNING:-}" ] && skip "already inside tests/netns/run.sh"
export SAN_NETNS_RUNNING=1

[ "$(id -u)" = 0 ] || skip "network namespaces need root (uid $(id -u))"
command -v ip >/dev/null 2>&1 || skip "no ip(8) (package iproute2)"
command -v timeout >/dev/null 2>&1 || skip "no timeout(1) (package coreutils)"
[ -d "$bin" ] || { echo "run.sh: no test directory $bin" >&2; exit 1; }
bin=$(cd "$bin" && pwd)

a=san-a-$$
b=san-b-$$
child=

# shellcheck disable=SC2317  # called from the traps
cleanup() {
	[ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
	ip netns del "$a" 2>/dev/null
	ip netns del "$b" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

err=$(ip netns add "$a" 2>&1) || skip "cannot create network namespace $a: $err"
err=$(ip netns add "$b" 2>&1) || skip "cannot create network namespace $b: $err"
# Made inside the namespaces: no interface ever appears in the caller's.
err=$(ip -n "$a" link add veth0 type veth peer name veth0 netns "$b" 2>&1) ||
	skip "cannot create a veth pair: $err"
setup() {
	ip -n "$a" link set lo up &&
	ip -n "$b" link set lo up &&
	ip -n "$a" addr add 192.0.2.1/24 dev veth0 &&
	ip -n "$b" addr add 192.0.2.2/24 dev veth0 &&
	ip -n "$a" link set veth0 up &&
	ip -n "$b" link set veth0 up
}
err=$(setup 2>&1) || { echo "run.sh: setting up $a/$b failed: $err" >&2; exit 1; }

# The transfer tests: sources that name SAN_TEST_TRANSPORTS (as ctest's
# CMakeLists does). Never test_netns itself.
tests=()
if [ $# -gt 0 ]; then
	tests=("$@")
else
	for f in "$src"/test_*.c; do
		[ -e "$f" ] || continue
		n=$(basename "$f" .c)
		[ "$n" = test_netns ] && continue
		# Fault tests time kills and cuts against loopback speeds, and
		# test_fault_linkdown builds its own namespaces: they run in
		# the normal suite, not across the veth link.
		case "$n" in test_fault_*) continue ;; esac
		grep -q SAN_TEST_TRANSPORTS "$f" && tests+=("$n")
	done
fi
[ ${#tests[@]} -gt 0 ] || skip "no transfer tests (test_*.c naming SAN_TEST_TRANSPORTS) in $src"

log=$(mktemp "${TMPDIR:-/tmp}/san-netns.XXXXXX") || exit 1
trap 'cleanup; rm -f "$log"' EXIT
pass=0 fail=0 skipped=0
for t in "${tests[@]}"; do
	if [ ! -x "$bin/$t" ]; then
		echo "FAIL $t: not built ($bin/$t)"
		fail=$((fail + 1))
		continue
	fi
	start=$(date +%s.%N)
	# In the background, so that a signal to this script is handled at once.
	timeout -k 5 "$per_test" ip netns exec "$a" env SAN_TEST_TRANSPORT=tcp \
		SAN_TEST_LISTEN=tcp:192.0.2.1:0 SAN_TEST_PEER_NETNS="/run/netns/$b" \
		"$bin/$t" >"$log" 2>&1 </dev/null &
	child=$!
	wait "$child"
	rc=$?
	child=
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
	case $rc in
	0)
		echo "PASS $t (${secs} s)"
		pass=$((pass + 1))
		;;
	77)
		why=$(grep -m1 '^SKIP' "$log" | sed 's/^SKIP:* *//')
		echo "SKIP $t: ${why:-exit 77}"
		skipped=$((skipped + 1))
		;;
	124 | 137)
		echo "FAIL $t: timed out after ${per_test} s"
		sed 's/^/    /' "$log" | tail -n 20
		fail=$((fail + 1))
		;;
	*)
		echo "FAIL $t: exit $rc (${secs} s)"
		sed 's/^/    /' "$log" | tail -n 20
		fail=$((fail + 1))
		;;
	esac
done
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -gt 0 ] && exit 1
[ "$pass" -eq 0 ] && { echo "SKIP: every test skipped"; exit 77; }
exit 0
