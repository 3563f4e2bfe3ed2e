// The idle case: what a system's own processes (agent, broker or server; workers) cost while
// nothing is asked of them, as a sidecar on every pod of a cluster spends most of its life.
// The system first answers a few jobs, so that whatever those leave behind (a worker lease, a
// connection's timers) is part of what idle costs, then gets nothing for the given time.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/case_value.h"

namespace jobd::bench {

// Case ids, in table order.
std::vector<CaseInfo> IdleCases(absl::Duration time);

// Values by case id: CPU per second of the server and of the workers, in µs (1,000 µs per
// second is 0.1% of one CPU). `caller` answers the jobs before the idle time.
std::map<std::string, CaseValue> RunIdleCases(BenchSystem& system, Caller& caller, absl::Duration time);

}  // namespace jobd::bench
