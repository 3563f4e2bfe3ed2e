#include "tests/bench/suite/paced.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tests/bench/suite/client_process.h"
#include "tests/bench/suite/percentile.h"
#include "tests/bench/suite/system_cpu.h"

namespace jobd::bench {
namespace {

std::string Key(int rate, const char* what) { return absl::StrCat("paced_", rate, "_", what); }

}  // namespace

std::vector<PacedRate> PacedRates(bool quick) {
  if (quick) return {{100, 50}, {1000, 300}, {10000, 2000}};
  return {{100, 300}, {1000, 2000}, {10000, 20000}};
}

std::vector<CaseInfo> PacedCases(const std::vector<PacedRate>& rates) {
  std::vector<CaseInfo> out;
  for (const PacedRate& r : rates) {
    const std::string at = absl::StrCat("paced ", r.jobs_per_second, "/s: ");
    out.push_back({Key(r.jobs_per_second, "p50_us"), at + "p50 (µs)"});
    out.push_back({Key(r.jobs_per_second, "p99_us"), at + "p99 (µs)"});
    out.push_back({Key(r.jobs_per_second, "achieved_jobs_s"), at + "achieved jobs/s"});
    out.push_back({Key(r.jobs_per_second, "cpu_client_us"), at + "CPU per job, client (µs)"});
    out.push_back({Key(r.jobs_per_second, "cpu_server_us"), at + "CPU per job, agent / broker / server (µs)"});
    out.push_back({Key(r.jobs_per_second, "cpu_workers_us"), at + "CPU per job, workers (µs)"});
  }
  return out;
}

std::map<std::string, CaseValue> RunPacedCases(const std::string& system_id, BenchSystem& system,
                                               const std::vector<PacedRate>& rates) {
  std::map<std::string, CaseValue> out;
  for (const PacedRate& rate : rates) {
    const int r = rate.jobs_per_second;
    std::fprintf(stderr, "  %s: paced %d/s\n", system.name().c_str(), r);
    // The warm-up runs at the same rate, so that the measured jobs find the system in the state
    // this rate keeps it in (asleep between jobs, or still spinning).
    const ClientLoop loop{.rate = r, .jobs = rate.jobs, .warmup = std::max(10, rate.jobs / 20)};
    absl::StatusOr<std::unique_ptr<ClientGroup>> client = ClientGroup::Start(system_id, system.address(), 1, loop);
    SystemCpu cpu(system.server_pid(), system.worker_pids());
    absl::StatusOr<std::vector<ClientResult>> results = client.ok() ? (*client)->Run() : client.status();
    cpu.Stop();
    if (!results.ok()) {
      for (const CaseInfo& c : PacedCases({rate})) out[c.id] = {0, std::string(results.status().message())};
      continue;
    }
    const ClientResult& one = results->front();
    const std::vector<double> us(one.latencies_us.begin(), one.latencies_us.end());
    const double jobs = static_cast<double>(us.size());
    out[Key(r, "p50_us")] = {Percentile(us, 0.5), ""};
    out[Key(r, "p99_us")] = {Percentile(us, 0.99), ""};
    // The rate at which jobs started: exactly the asked rate when the system kept up.
    out[Key(r, "achieved_jobs_s")] = {one.start_rate, ""};
    out[Key(r, "cpu_client_us")] = {one.cpu_seconds * 1e6 / jobs, ""};
    out[Key(r, "cpu_server_us")] = cpu.ServerPerJob(jobs);
    out[Key(r, "cpu_workers_us")] = cpu.WorkersPerJob(jobs);
  }
  return out;
}

}  // namespace jobd::bench
