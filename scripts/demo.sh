#!/usr/bin/env bash
# The main job: builds libsan and runs the benchmark demo between two
# processes over loopback (RDMA write bandwidth against the raw io_uring
# fixed-buffer socket copy, in one run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/bench_rdma_write "$@"
