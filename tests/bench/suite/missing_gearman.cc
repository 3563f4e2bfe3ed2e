// Built when libgearman is not installed (scripts/bench.sh installs libgearman-dev).
#include "tests/bench/suite/bench_system.h"

namespace jobd::bench {
std::unique_ptr<BenchSystem> MakeGearmanSystem() { return nullptr; }
}  // namespace jobd::bench
