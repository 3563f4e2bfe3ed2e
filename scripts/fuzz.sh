#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in ./build-fuzz and runs each one.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 60; CI runs 20
# Corpora live in build-fuzz/corpus/<target> and grow between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
# Run alone on a fresh machine, apt has no package lists yet: update first.
if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-dev 2>/dev/null | grep -q "ok installed"; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "fuzz: installing clang and libclang-rt-dev (apt-get update first)"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends clang libclang-rt-dev
fi
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
echo "fuzz: building the fuzz targets in build-fuzz"
# A unity build with line tables only: a cold build is most of this stage's time.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON \
  -DJOBD_FUZZ=ON -DJOBD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target arena_attach_fuzz arena_ops_fuzz messages_fuzz segment_fuzz lane_records_fuzz session_records_fuzz worker_records_fuzz
status=0
for target in arena_attach_fuzz arena_ops_fuzz messages_fuzz segment_fuzz lane_records_fuzz session_records_fuzz worker_records_fuzz; do
  mkdir -p "build-fuzz/corpus/$target"
  echo "fuzz $target: running for ${SECONDS_PER_TARGET}s"
  if ./build-fuzz/bin/$target -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
       "build-fuzz/corpus/$target" > "build-fuzz/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$target.log" | grep -o '[0-9]*$')
    echo "fuzz $target: ${runs:-?} executions in ${SECONDS_PER_TARGET}s, no crash"
  else
    echo "fuzz $target: FAILED (see build-fuzz/$target.log)"; tail -30 "build-fuzz/$target.log"; status=1
  fi
done
exit $status
