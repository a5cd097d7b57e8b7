#!/usr/bin/env bash
# Builds libsan and runs the whole test suite with ctest.
# Usage: scripts/test.sh [build-dir]   (env: SAN_SANITIZE=address,undefined|thread)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
b=${1:-build}
cmake -S . -B "$b" -DSAN_WERROR=ON -DSAN_SANITIZE="${SAN_SANITIZE:-}" >/dev/null
cmake --build "$b" -j"$(nproc)" >/dev/null
cd "$b" && ctest --output-on-failure -j2 ${SAN_CTEST_ARGS:-}
