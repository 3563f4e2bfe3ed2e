#!/usr/bin/env bash
# Runs the tests under sanitizers, each in its own build dir:
#   build-asan: AddressSanitizer + UndefinedBehaviorSanitizer, every test (unit, stress,
#               integration, fault); leak checking on for the unit tests.
#   build-tsan: ThreadSanitizer, the unit and stress tests (gRPC and Abseil from Debian are not
#               built with TSan, so the agent's gRPC threads would only report noise).
#   scripts/sanitize.sh [asan|tsan|all]      default all
# Neither builds the benchmarks (-DJOBD_BENCH=OFF): no sanitizer test runs them. Both build
# at -O1 with line tables only, as unity builds: cold, these builds were most of CI's time
# (agent/agent_pump.cc under ASan+UBSan: 78 s at -O2 -g, 53 s at -O1 -g, 40 s at -O1 -g1).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
FAST_BUILD=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DCMAKE_UNITY_BUILD=ON)
T0=$(date +%s)
say() { echo "sanitize [+$(( $(date +%s) - T0 ))s]: $*"; }
status=0
if [ "$which" = asan ] || [ "$which" = all ]; then
  cmake -S . -B build-asan "${FAST_BUILD[@]}" -DJOBD_SANITIZE=address,undefined -DJOBD_BENCH=OFF >/dev/null
  say "building build-asan"
  cmake --build build-asan -j"$(nproc)"
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  say "ASan+UBSan, unit and stress tests"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan -L 'unit|stress' -j"$(nproc)" --output-on-failure || status=1
  # The agent's processes end by signal, mid-flight, by design: leaks at exit are not findings there.
  say "ASan+UBSan, integration and fault tests"
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-asan -L 'integration|fault' -j"$(nproc)" --output-on-failure \
    --timeout 900 || status=1
fi
if [ "$which" = tsan ] || [ "$which" = all ]; then
  cmake -S . -B build-tsan "${FAST_BUILD[@]}" -DJOBD_SANITIZE=thread -DJOBD_BENCH=OFF >/dev/null
  say "building build-tsan (unit and stress tests only)"
  # Every target labelled unit or stress (tests/CMakeLists.txt collects them) but those marked
  # NOT_UNDER_TSAN there (connect_test: Debian's uninstrumented Abseil under its gRPC threads);
  # JOBD_BENCH=OFF leaves out the bench suite's.
  cmake --build build-tsan -j"$(nproc)" --target jobd_unit_and_stress_tests
  say "TSan, unit and stress tests"
  TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan -L 'unit|stress' -j"$(nproc)" --output-on-failure \
    -E 'Operations|JobPath|JsonLogFormatterTest|JsonWriterTest|JobctlJsonTest' || status=1
  # (The excluded JSON suites parse with protobuf's Struct: Debian's protobuf is not TSan-built and
  # its Map crashes under TSan's instrumentation, before any code of ours runs.)
fi
say "done"
exit $status
