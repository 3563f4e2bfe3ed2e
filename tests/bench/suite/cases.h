// The cases every system runs, in one place so that each gets exactly the same treatment.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/bench/suite/bench_system.h"

namespace jobd::bench {

struct CaseOptions {
  int latency_jobs = 5000;                       // noop round trips measured
  absl::Duration throughput_time = absl::Seconds(3);  // per in-flight level
  absl::Duration large_budget = absl::Seconds(5);     // per large-payload case
  int large_reps = 20;
};

// What one case measured, or why it has no number.
struct CaseValue {
  double value = 0;
  std::string error;  // empty: value is valid
};

// Case ids, in table order, with their labels and units.
struct CaseInfo {
  std::string id, label;
};
const std::vector<CaseInfo>& AllCases();

// Runs every case against a started system. Results by case id.
std::map<std::string, CaseValue> RunCases(BenchSystem& system, const CaseOptions& options);

}  // namespace jobd::bench
