#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan+UBSan) in build-fuzz and
# runs each for a bounded time from its seed corpus fuzz/corpus/<target>.
# A crash, a sanitizer report, a leak, a timeout (-timeout) or running out of
# memory (-rss_limit_mb) fails the run; the input is kept as
# build-fuzz/artifacts/<target>-crash-<sha1> with the command to replay it.
#
# Usage: scripts/fuzz.sh [target...]     (default: every target; names
#                                          without the fuzz_ prefix)
# Env:   SAN_FUZZ_SECONDS  fuzzing time per target (default 15)
#        SAN_FUZZ_ARGS     extra libFuzzer flags (e.g. -jobs=2, -dict=...)
# New inputs the fuzzer finds go to build-fuzz/corpus/<target> (not the
# tree); fuzz/make_seeds.py writes the committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

secs=${SAN_FUZZ_SECONDS:-15}
b=build-fuzz
all=(hdr hello desc addr config stream smsg)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

t0=$SECONDS
CC=clang CXX=clang++ cmake -S . -B "$b" -DSAN_FUZZ=ON -DSAN_WERROR=ON -DSAN_SANITIZE= >/dev/null
cmake --build "$b" --target fuzz -j"$(nproc)" >/dev/null
echo "fuzz targets built in $((SECONDS - t0)) s; ${secs} s per target"

# Sanitizer reports are fatal (-fno-sanitize-recover=all as well); leaks are
# checked by libFuzzer after each input that allocated more than it freed.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
mkdir -p "$b/artifacts"

rc=0
summary=()
for t in "${targets[@]}"; do
  bin=$b/fuzz/fuzz_$t
  seeds=fuzz/corpus/$t
  work=$b/corpus/$t
  log=$b/fuzz-$t.log
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "no such fuzz target: $t (have: ${all[*]})" >&2
    exit 2
  fi
  mkdir -p "$work"
  rm -f "$b/artifacts/$t-"*
  start=$SECONDS
  set +e
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$b/artifacts/$t-" ${SAN_FUZZ_ARGS:-} "$work" "$seeds" >"$log" 2>&1
  st=$?
  set -e
  # libFuzzer's last stats line: "#N DONE cov: X ft: Y corp: ... exec/s: ..."
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | tr -s ' \t' ' ' || true)
  line=$(printf '%-7s %3d s  %s' "$t" "$((SECONDS - start))" "${done_line:-(no final stats)}")
  if [ $st -ne 0 ]; then
    rc=1
    line="$line  FAILED (exit $st)"
    echo "---- fuzz_$t failed (exit $st); the end of $log:" >&2
    grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|NEW_FUNC' "$log" | tail -n 60 >&2
    for a in "$b/artifacts/$t-"*; do
      [ -e "$a" ] && echo "reproduce: $bin $a" >&2
    done
  fi
  echo "$line"
  summary+=("$line")
done

echo "---- fuzzing summary (${secs} s per target, $((SECONDS - t0)) s in all)"
printf '%s\n' "${summary[@]}"
[ $rc -eq 0 ] && echo "fuzzing: no crash" || echo "fuzzing: FAILED"
exit $rc
