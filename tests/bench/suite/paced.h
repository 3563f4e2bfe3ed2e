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

// One started system of the paced phase, by its suite id.
struct PacedSystem {
  std::string id;
  BenchSystem* system;
};

// Runs every rate against every started system, interleaved: each rate's measured jobs are cut
// into `rounds` pieces, and each round gives every system one piece (a fresh client process,
// its own warm-up), in an order that rotates from round to round. So a spell of noise on the
// machine (another VM, a slow minute) falls on every system alike, and the ratios between
// systems (issue 12's targets) hold within one run; run one system after another, they were
// minutes apart. Values by system id, then case id: p50 and p99 latency over all pieces (from
// each job's actual start), the achieved start rate (the lowest piece's), and CPU per job of
// the client processes, the server process and the worker processes (summed), each over the
// measured jobs.
std::map<std::string, std::map<std::string, CaseValue>> RunPacedCases(const std::vector<PacedSystem>& systems,
                                                                      const std::vector<PacedRate>& rates,
                                                                      int rounds);

}  // namespace jobd::bench
