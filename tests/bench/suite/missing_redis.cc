// Built when hiredis is not installed (scripts/bench.sh installs libhiredis-dev).
#include "tests/bench/suite/bench_system.h"

namespace jobd::bench {
std::unique_ptr<BenchSystem> MakeRedisSystem() { return nullptr; }
}  // namespace jobd::bench
