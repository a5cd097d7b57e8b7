#!/usr/bin/env bash
# The main job: builds libsan and runs san-perf, its benchmark tool, between
# two processes over TCP loopback (a server forked by the client): RDMA
# write and read bandwidth and send ping-pong latency at 8 B, 4 KiB, 64 KiB
# and 1 MiB, each size checked byte for byte, in about ten seconds.
# Arguments go to san-perf (try --help, --test all, --format csv).
# The older head-to-head benchmark, libsan RDMA write against a raw io_uring
# fixed-buffer socket copy, stays available: scripts/demo.sh bench_rdma_write [ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if [ "${1:-}" = bench_rdma_write ]; then
	shift
	exec build/bench_rdma_write "$@"
fi
exec build/san-perf "$@"
