// Paced cases: one client starting a 64-byte job every 1/rate seconds, the way a service calls
// (not a hot loop). Besides latency they say what each process of the system spent per job:
// at low rates the hand-offs that sleep and wake dominate, and a system that spins to win the
// hot loop pays for it here.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/case_value.h"

namespace jobd::bench {

struct PacedRate {
  int jobs_per_second;
  int jobs;  // measured jobs; the case lasts about jobs / jobs_per_second seconds
};

// The rates the full run measures, and the short ones of --quick.
std::vector<PacedRate> PacedRates(bool quick);

// Case ids, in table order, for the given rates.
std::vector<CaseInfo> PacedCases(const std::vector<PacedRate>& rates);

// Runs every rate with one fresh client process (client_process.h) against the started system
// `system_id`; values by case id: p50 and p99 latency (from each job's actual start), the
// achieved start rate, and CPU per job of the client process, the server process and the worker
// processes (summed), each over the measured jobs.
std::map<std::string, CaseValue> RunPacedCases(const std::string& system_id, BenchSystem& system,
                                               const std::vector<PacedRate>& rates);

}  // namespace jobd::bench
