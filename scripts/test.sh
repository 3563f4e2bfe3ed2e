#!/usr/bin/env bash
# Installs, builds, and runs every test: unit, stress, integration, fault and chart tests
# (ctest), then a short fuzzing run of every libFuzzer target and the tests under ASan+UBSan and
# TSan. Fails when anything fails. JOBD_QUICK=1 stops after ctest (for a quick local loop).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBD_EXTRA_PACKAGES="${JOBD_EXTRA_PACKAGES:-clang libclang-rt-dev}" ./scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}"
start=$(date +%s)
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600 "$@"
echo "ctest: $(( $(date +%s) - start ))s"
if [ "${JOBD_QUICK:-0}" != 1 ]; then
  start=$(date +%s)
  ./scripts/fuzz.sh "${JOBD_FUZZ_SECONDS:-20}"
  echo "fuzz: $(( $(date +%s) - start ))s"
  start=$(date +%s)
  ./scripts/sanitize.sh all
  echo "sanitizers: $(( $(date +%s) - start ))s"
fi
