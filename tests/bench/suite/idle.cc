#include "tests/bench/suite/idle.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/bench/suite/system_cpu.h"

namespace jobd::bench {

std::vector<CaseInfo> IdleCases(absl::Duration time) {
  const std::string what = absl::StrCat("idle ", absl::ToInt64Seconds(time), " s after 20 jobs: CPU, ");
  return {{"idle_cpu_server_us_s", what + "agent / broker / server (µs per s)"},
          {"idle_cpu_workers_us_s", what + "workers (µs per s)"}};
}

std::map<std::string, CaseValue> RunIdleCases(BenchSystem& system, Caller& caller, absl::Duration time) {
  std::fprintf(stderr, "  %s: idle %.0f s\n", system.name().c_str(), absl::ToDoubleSeconds(time));
  std::map<std::string, CaseValue> out;
  const std::string noop(64, 'i');
  for (int i = 0; i < 20; ++i) {
    if (absl::StatusOr<size_t> r = caller.Call(noop); !r.ok()) {
      for (const CaseInfo& c : IdleCases(time)) out[c.id] = {0, std::string(r.status().message())};
      return out;
    }
  }
  // The workers of jobd are its agent's children: read them now, after the jobs, in case one
  // was replaced.
  SystemCpu cpu(system.server_pid(), system.worker_pids());
  absl::SleepFor(time);
  cpu.Stop();
  const double seconds = absl::ToDoubleSeconds(time);
  // "Per job" of a run of `seconds` jobs is per second.
  out["idle_cpu_server_us_s"] = cpu.ServerPerJob(seconds);
  out["idle_cpu_workers_us_s"] = cpu.WorkersPerJob(seconds);
  return out;
}

}  // namespace jobd::bench
