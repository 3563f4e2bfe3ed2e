// The CPU a benchmarked system's own processes (its agent, broker or server, and its workers)
// spend over one case, read from outside them, per job of that case. The paced and the
// many-session cases both report it, in the same two rows.
#pragma once

#include <sys/types.h>

#include <utility>
#include <vector>

#include "tests/bench/suite/case_value.h"
#include "tests/bench/suite/process_cpu.h"

namespace jobd::bench {

class SystemCpu {
 public:
  // Starts counting. `server` 0: the system has none (the raw echo); `workers` empty: the
  // handler runs inside the server.
  SystemCpu(pid_t server, std::vector<pid_t> workers)
      : server_(server),
        workers_(std::move(workers)),
        server_before_(ProcessCpuSeconds(server_)),
        workers_before_(ProcessCpuSeconds(workers_)) {}

  void Stop() {
    server_after_ = ProcessCpuSeconds(server_);
    workers_after_ = ProcessCpuSeconds(workers_);
  }

  CaseValue ServerPerJob(double jobs) const {
    return server_ > 0 ? CaseValue{(server_after_ - server_before_) * 1e6 / jobs, ""}
                       : CaseValue{0, "no server process"};
  }
  CaseValue WorkersPerJob(double jobs) const {
    return workers_.empty() ? CaseValue{0, "the handler runs inside the server process"}
                            : CaseValue{(workers_after_ - workers_before_) * 1e6 / jobs, ""};
  }

 private:
  pid_t server_;
  std::vector<pid_t> workers_;
  double server_before_, workers_before_;
  double server_after_ = 0, workers_after_ = 0;
};

}  // namespace jobd::bench
