// The suite's results and how they are shown: markdown tables (systems side by side, unpinned
// / pinned in each cell) of the hot-loop cases and of the paced and many-session cases, the raw
// floors, the targets with met / not met, and JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/bench/suite/cases.h"
#include "tests/bench/suite/raw_limits.h"

namespace jobd::bench {

struct SystemRun {
  std::string name;
  std::string error;  // the system did not start
  std::map<std::string, CaseValue> cases;
};

struct RawFloors {
  PingPong pingpong_same_cpu, pingpong_two_cpus;
  std::map<size_t, double> memcpy_ms;  // by MiB
};

struct Results {
  std::string machine;
  // /proc/loadavg's 1, 5 and 15 minute averages when the run started and ended: how much else
  // the machine was doing (other builds), which moves every number here.
  std::string load_start, load_end;
  bool hot = true;                      // the hot-loop cases ran (first table, targets)
  std::vector<CaseInfo> paced_cases;    // the paced and many-session cases that ran, in order
  RawFloors raw;
  // mode ("unpinned", "pinned") -> system id ("jobd", "grpc", "redis", "gearman") -> run
  std::map<std::string, std::map<std::string, SystemRun>> runs;
};

std::string DescribeMachine();
std::string LoadAverage();
std::string RenderMarkdown(const Results& results);
std::string RenderJson(const Results& results);

}  // namespace jobd::bench
