// Many-session cases: N client processes, each with its own session or connection and one job
// in flight at a time (closed loop), for a fixed time. This is how many service processes on a
// host share one job system, as opposed to many threads of one process sharing one session.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/case_value.h"

namespace jobd::bench {

// Case ids, in table order, for the given client counts.
std::vector<CaseInfo> SessionCases(const std::vector<int>& clients);

// Runs each count of client processes (client_process.h) against the started system
// `system_id` for `time`; values by case id: total jobs/s, p50 and p99 over every job of every
// client.
std::map<std::string, CaseValue> RunSessionCases(const std::string& system_id, BenchSystem& system,
                                                 const std::vector<int>& clients, absl::Duration time);

}  // namespace jobd::bench
