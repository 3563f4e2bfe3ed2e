// The cases every system runs, in one place so that each gets exactly the same treatment:
// the hot-loop cases here, the paced ones (paced.h) and the many-session ones (sessions.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/case_value.h"
#include "tests/bench/suite/paced.h"

namespace jobd::bench {

struct CaseOptions {
  // Which groups run: the hot loop (the first table), paced, many sessions, idle. RunCases runs
  // all but paced, which runs every system at once (paced.h; bench_suite.cc).
  bool hot = true, paced = true, sessions = true, idle = false;
  int latency_jobs = 5000;                       // noop round trips measured
  absl::Duration throughput_time = absl::Seconds(3);  // per in-flight level
  absl::Duration large_budget = absl::Seconds(5);     // per large-payload case
  int large_reps = 20;
  std::vector<PacedRate> paced_rates = PacedRates(false);
  int paced_rounds = 6;
  std::vector<int> session_clients = {8, 64};
  absl::Duration session_time = absl::Seconds(3);  // per client count
  absl::Duration idle_time = absl::Seconds(60);
};

// The hot-loop case ids, in table order, with their labels and units.
const std::vector<CaseInfo>& AllCases();

// Runs the chosen groups of cases, but paced, against the started system `system_id`. Results by case id.
std::map<std::string, CaseValue> RunCases(const std::string& system_id, BenchSystem& system,
                                          const CaseOptions& options);

}  // namespace jobd::bench
