#!/usr/bin/env bash
# The benchmarks, one command: installs what the comparison needs (redis-server, gearmand and
# their client libraries, on 127.0.0.1 only), builds, and runs
#   bench_suite: jobd, gRPC unary, a Redis list queue, Gearman and the raw Unix-socket echo
#                (the two-hop floor), every case (hot loop, paced at 100 / 1,000 / 10,000 jobs/s,
#                8 and 64 client processes), unpinned and pinned, plus the raw floors and the
#                --breakdown of a jobd noop job; markdown on stdout, JSON in bench-results.json
#   arena_bench: allocation and slab-write costs of the arena alone
# Servers the suite starts are stopped by PID when it ends.
#   scripts/bench.sh [bench_suite flags, e.g. --quick, --systems=jobd,redis or --cases=paced,sessions]
set -euo pipefail
cd "$(dirname "$0")/.."
JOBD_EXTRA_PACKAGES="redis-server libhiredis-dev gearman-job-server libgearman-dev" ./scripts/setup.sh
BIN="${BUILD_DIR:-build}/bin"
"$BIN/bench_suite" --breakdown --json=bench-results.json "$@"
echo
echo "## arena alone"
"$BIN/arena_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
