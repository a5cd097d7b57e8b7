#!/usr/bin/env bash
# Runs the test suite under sanitizers (STYLE.md: "The suite also runs under
# ASan+UBSan and TSan in CI").
#
#   asan  build-asan, -DSAN_SANITIZE=address,undefined: the whole ctest suite
#         (leak checking on: LSan runs at every test program's exit).
#   tsan  build-tsan, -DSAN_SANITIZE=thread: the multithreaded tests. That
#         is every test that opens a provider: each provider runs a
#         progress thread (serving peers under the engine lock while the app
#         posts and polls) and a monitor thread (userfaultfd events under the
#         cache's write lock), besides the tests that start threads of their
#         own (test_monitor_race, test_rcache_mt_hit, test_wsp_threads) -- so
#         by default the whole suite; SAN_TSAN_TESTS narrows it.
#
# Usage: scripts/sanitize.sh [asan] [tsan]        (default: both)
# Env:   CC                compiler (default gcc: see below)
#        SAN_TSAN_TESTS    ctest -R regex for the TSan run (default: all)
#        SAN_ASAN_EXCLUDE, SAN_TSAN_EXCLUDE
#                          ctest -E regex of tests to leave out of a run
#                          (default: none; for a test known to be broken
#                          under that sanitizer while it is being fixed)
#        SAN_CTEST_JOBS    ctest -j (default 2)
#        SAN_TEST_STRESS_SECONDS
#                          how long the stress tests run (default 3 here:
#                          test_hazard_stress runs 10 s in the normal suite,
#                          and a sanitizer run does its thousands of
#                          transfers and mapping changes in 3)
# Exit status: non-zero if a build fails or any test fails; a sanitizer
# report fails its test (halt_on_error / -fno-sanitize-recover=all).
#
# File descriptors: the tests' fixture fails on fds left open (harness.h).
# The sanitizer runtimes keep none open in the test process as long as
# reports go to stderr, so log_path must NOT be set here (ASan's log file
# would be an fd the fixture counts) -- reports land in ctest's output.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc by default: tests that exercise glibc's own heap (test_monitor_brk,
# test_monitor_free) recognise a sanitizer's allocator by gcc's
# __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, which clang 14 does not
# define. The fuzz build (scripts/fuzz.sh) is the clang one.
export CC=${CC:-gcc}
[ "$CC" = gcc ] && export CXX=${CXX:-g++}
[ "$CC" = clang ] && export CXX=${CXX:-clang++}
jobs=${SAN_CTEST_JOBS:-2}
export SAN_TEST_STRESS_SECONDS=${SAN_TEST_STRESS_SECONDS:-3}
# ctest -R regex of the TSan run. Everything by default (see above); a
# quicker run: SAN_TSAN_TESTS='^test_(monitor_race|rcache_mt_hit|wsp_threads|api_backpressure|api_rdma_transfer|fault_)'
: "${SAN_TSAN_TESTS:=.}"

what=("$@")
[ ${#what[@]} -eq 0 ] && what=(asan tsan)

# Common to every sanitizer: stop at the first report, full stacks.
common="halt_on_error=1:abort_on_error=0:print_stacktrace=1:symbolize=1"
export UBSAN_OPTIONS="$common:report_error_type=1"
export ASAN_OPTIONS="$common:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="print_suppressions=0"
# second_deadlock_stack: a lock-order report shows both acquisitions.
export TSAN_OPTIONS="$common:second_deadlock_stack=1"

build() { # dir sanitizers
  local dir=$1 san=$2 t0=$SECONDS
  echo "== $dir: $CC -fsanitize=$san"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAN_WERROR=ON \
        -DSAN_SANITIZE="$san" -DSAN_FUZZ=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)" >/dev/null
  echo "   built in $((SECONDS - t0)) s"
}

rc=0
for w in "${what[@]}"; do
  case $w in
  asan)
    bash scripts/deps.sh
    build build-asan address,undefined
    t0=$SECONDS
    (cd build-asan && ctest --output-on-failure -j"$jobs" ${SAN_ASAN_EXCLUDE:+-E "$SAN_ASAN_EXCLUDE"}) || rc=1
    echo "   asan+ubsan suite: $((SECONDS - t0)) s"
    ;;
  tsan)
    bash scripts/deps.sh
    build build-tsan thread
    t0=$SECONDS
    (cd build-tsan && ctest --output-on-failure -j"$jobs" -R "$SAN_TSAN_TESTS" \
                            ${SAN_TSAN_EXCLUDE:+-E "$SAN_TSAN_EXCLUDE"}) || rc=1
    echo "   tsan tests: $((SECONDS - t0)) s"
    ;;
  *)
    echo "usage: $0 [asan] [tsan]" >&2
    exit 2
    ;;
  esac
done
exit $rc
