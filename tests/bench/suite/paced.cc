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

// One system's pieces of one rate, summed.
struct PacedSum {
  std::vector<double> us;
  double start_rate = -1;  // the lowest piece's
  double client_us = 0;
  // The pieces' server and worker CPU in µs, or why the system has none (no server process,
  // the handler runs inside the server).
  CaseValue server_us, workers_us;
  std::string error;  // a piece that failed: the case has no value
};

void Add(CaseValue& total, const CaseValue& piece) {
  if (!piece.error.empty()) total = piece;
  else total.value += piece.value;
}

CaseValue PerJob(const CaseValue& total, double jobs) {
  return total.error.empty() ? CaseValue{total.value / jobs, ""} : total;
}

void RunPiece(const PacedSystem& s, const PacedRate& rate, int jobs, PacedSum& sum) {
  // The warm-up runs at the same rate, so that the measured jobs find the system in the state
  // this rate keeps it in (asleep between jobs, or still spinning). Each piece is a new client,
  // so each warms up as long as one client of the whole rate would: a service's session is
  // long-lived, and its first jobs (a lease, pages touched the first time) are not the load.
  const ClientLoop loop{.rate = rate.jobs_per_second, .jobs = jobs, .warmup = std::max(20, rate.jobs / 20)};
  absl::StatusOr<std::unique_ptr<ClientGroup>> client = ClientGroup::Start(s.id, s.system->address(), 1, loop);
  SystemCpu cpu(s.system->server_pid(), s.system->worker_pids());
  absl::StatusOr<std::vector<ClientResult>> results = client.ok() ? (*client)->Run() : client.status();
  cpu.Stop();
  if (!results.ok()) {
    sum.error = std::string(results.status().message());
    return;
  }
  const ClientResult& one = results->front();
  sum.us.insert(sum.us.end(), one.latencies_us.begin(), one.latencies_us.end());
  sum.start_rate = sum.start_rate < 0 ? one.start_rate : std::min(sum.start_rate, one.start_rate);
  sum.client_us += one.cpu_seconds * 1e6;
  // Per "one job": the piece's whole CPU time in µs.
  Add(sum.server_us, cpu.ServerPerJob(1));
  Add(sum.workers_us, cpu.WorkersPerJob(1));
}

}  // namespace

std::vector<PacedRate> PacedRates(bool quick) {
  if (quick) return {{100, 60}, {1000, 300}, {10000, 2000}};
  return {{100, 600}, {1000, 3000}, {10000, 24000}};
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

std::map<std::string, std::map<std::string, CaseValue>> RunPacedCases(const std::vector<PacedSystem>& systems,
                                                                      const std::vector<PacedRate>& rates,
                                                                      int rounds) {
  std::map<std::string, std::map<std::string, CaseValue>> out;
  const int n = static_cast<int>(systems.size());
  rounds = std::max(1, rounds);
  for (const PacedRate& rate : rates) {
    const int r = rate.jobs_per_second;
    const int piece = std::max(1, rate.jobs / rounds);
    std::fprintf(stderr, "  paced %d/s: %d rounds of %d jobs per system\n", r, rounds, piece);
    std::vector<PacedSum> sums(n);
    for (int round = 0; round < rounds; ++round) {
      for (int k = 0; k < n; ++k) {
        const int i = (k + round) % n;
        if (sums[i].error.empty()) RunPiece(systems[i], rate, piece, sums[i]);
      }
    }
    for (int i = 0; i < n; ++i) {
      std::map<std::string, CaseValue>& o = out[systems[i].id];
      const PacedSum& s = sums[i];
      if (!s.error.empty() || s.us.empty()) {
        for (const CaseInfo& c : PacedCases({rate})) o[c.id] = {0, s.error.empty() ? "no jobs measured" : s.error};
        continue;
      }
      const double jobs = static_cast<double>(s.us.size());
      o[Key(r, "p50_us")] = {Percentile(s.us, 0.5), ""};
      o[Key(r, "p99_us")] = {Percentile(s.us, 0.99), ""};
      // The rate at which jobs started: exactly the asked rate when the system kept up.
      o[Key(r, "achieved_jobs_s")] = {s.start_rate, ""};
      o[Key(r, "cpu_client_us")] = {s.client_us / jobs, ""};
      o[Key(r, "cpu_server_us")] = PerJob(s.server_us, jobs);
      o[Key(r, "cpu_workers_us")] = PerJob(s.workers_us, jobs);
    }
  }
  return out;
}

}  // namespace jobd::bench
