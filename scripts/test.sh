#!/usr/bin/env bash
# Installs, builds, and runs every test: unit, stress, integration, fault and chart tests
# (ctest), then a short fuzzing run of every libFuzzer target and the tests under ASan+UBSan and
# TSan. Fails when anything fails. JOBD_QUICK=1 stops after ctest (for a quick local loop).
# Each stage starts with a line "test.sh [+ELAPSED] stage N/M: what" and ends with how long it
# took, so a long run (37 minutes on CI, a fresh 2-core machine with an empty ccache; 21 from a
# clean clone with a warm one) is never silent about where it is.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
T0=$(date +%s)
STAGES=5
[ "${JOBD_QUICK:-0}" = 1 ] && STAGES=2
elapsed() { local s=$(( $(date +%s) - T0 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
stage_start=0
stage() {
  stage_start=$(date +%s)
  echo "test.sh [+$(elapsed)] stage $1/$STAGES: $2"
}
stage_done() { echo "test.sh [+$(elapsed)] $1: done in $(( $(date +%s) - stage_start ))s"; }

stage 1 "setup: install missing packages, build Release in $BUILD_DIR"
# Warnings are errors here, so the build a newcomer sees stays clean.
CMAKE_ARGS="${CMAKE_ARGS:--DJOBD_WERROR=ON}" JOBD_EXTRA_PACKAGES="${JOBD_EXTRA_PACKAGES:-clang libclang-rt-dev}" \
  ./scripts/setup.sh
stage_done setup

stage 2 "ctest: unit, stress, integration, fault and chart tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600 "$@"
stage_done ctest

if [ "${JOBD_QUICK:-0}" != 1 ]; then
  stage 3 "operations and package: promtool, rule tests, dashboard on a live Prometheus, real helm; install, find_package, .deb"
  ./scripts/check_ops.sh "$BUILD_DIR"
  ./scripts/check_package.sh
  stage_done "operations and package"
  stage 4 "fuzz: build the libFuzzer targets (clang), ${JOBD_FUZZ_SECONDS:-20}s each"
  ./scripts/fuzz.sh "${JOBD_FUZZ_SECONDS:-20}"
  stage_done fuzz
  stage 5 "sanitizers: ASan+UBSan (every test), TSan (unit and stress)"
  ./scripts/sanitize.sh all
  stage_done sanitizers
fi
echo "test.sh [+$(elapsed)] all stages passed"
