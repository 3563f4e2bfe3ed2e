#include "tests/bench/suite/sessions.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tests/bench/suite/client_process.h"
#include "tests/bench/suite/percentile.h"
#include "tests/bench/suite/system_cpu.h"

namespace jobd::bench {
namespace {

std::string Key(int clients, const char* what) { return absl::StrCat("sessions_", clients, "_", what); }

}  // namespace

std::vector<CaseInfo> SessionCases(const std::vector<int>& clients) {
  std::vector<CaseInfo> out;
  for (int n : clients) {
    const std::string who = absl::StrCat(n, " client processes: ");
    out.push_back({Key(n, "jobs_s"), who + "jobs/s"});
    out.push_back({Key(n, "p50_us"), who + "p50 (µs)"});
    out.push_back({Key(n, "p99_us"), who + "p99 (µs)"});
    out.push_back({Key(n, "cpu_clients_us"), who + "CPU per job, clients (µs)"});
    out.push_back({Key(n, "cpu_server_us"), who + "CPU per job, agent / broker / server (µs)"});
    out.push_back({Key(n, "cpu_workers_us"), who + "CPU per job, workers (µs)"});
  }
  return out;
}

std::map<std::string, CaseValue> RunSessionCases(const std::string& system_id, BenchSystem& system,
                                                 const std::vector<int>& clients, absl::Duration time) {
  std::map<std::string, CaseValue> out;
  for (int n : clients) {
    std::fprintf(stderr, "  %s: %d client processes\n", system.name().c_str(), n);
    absl::StatusOr<std::vector<ClientResult>> results;
    absl::StatusOr<std::unique_ptr<ClientGroup>> group =
        ClientGroup::Start(system_id, system.address(), n, {.rate = 0, .jobs = 0, .warmup = 20, .time = time});
    SystemCpu cpu(system.server_pid(), system.worker_pids());
    results = group.ok() ? (*group)->Run() : group.status();
    cpu.Stop();
    if (!results.ok()) {
      for (const CaseInfo& c : SessionCases({n})) out[c.id] = {0, std::string(results.status().message())};
      continue;
    }
    std::vector<double> us;
    double rate = 0;
    double clients_cpu = 0;
    for (const ClientResult& r : *results) {
      us.insert(us.end(), r.latencies_us.begin(), r.latencies_us.end());
      if (r.loop_seconds > 0) rate += static_cast<double>(r.latencies_us.size()) / r.loop_seconds;
      clients_cpu += r.cpu_seconds;
    }
    out[Key(n, "jobs_s")] = {rate, ""};
    out[Key(n, "p50_us")] = {Percentile(us, 0.5), ""};
    out[Key(n, "p99_us")] = {Percentile(us, 0.99), ""};
    // Per job of the whole run: where a saturated system spends its CPUs, process by process.
    const double jobs = static_cast<double>(std::max<size_t>(us.size(), 1));
    out[Key(n, "cpu_clients_us")] = {clients_cpu * 1e6 / jobs, ""};
    out[Key(n, "cpu_server_us")] = cpu.ServerPerJob(jobs);
    out[Key(n, "cpu_workers_us")] = cpu.WorkersPerJob(jobs);
  }
  return out;
}

}  // namespace jobd::bench
