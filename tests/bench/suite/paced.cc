#include "tests/bench/suite/paced.h"

#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tests/bench/suite/percentile.h"
#include "tests/bench/suite/process_cpu.h"

namespace jobd::bench {
namespace {

int64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Sleeps until `deadline` (CLOCK_MONOTONIC ns); returns at once when it has passed, which is
// how a system that cannot keep up shows: its jobs start late and the achieved rate drops.
void SleepUntil(int64_t deadline) {
  const timespec ts{.tv_sec = deadline / 1'000'000'000, .tv_nsec = deadline % 1'000'000'000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

struct CpuSnapshot {
  double client = 0, server = 0, workers = 0;
};

CpuSnapshot TakeCpu(pid_t server, const std::vector<pid_t>& workers) {
  return {ProcessCpuSeconds(getpid()), ProcessCpuSeconds(server), ProcessCpuSeconds(workers)};
}

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

std::map<std::string, CaseValue> RunPacedCases(BenchSystem& system, Caller& caller,
                                               const std::vector<PacedRate>& rates) {
  std::map<std::string, CaseValue> out;
  const std::string noop(64, 'n');
  // The default 50 µs of timer slack would let each wake-up land up to half a period late at
  // 10,000 jobs/s: the rate asked of the system would not be the rate it saw.
  const int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
  for (const PacedRate& rate : rates) {
    const int r = rate.jobs_per_second;
    std::fprintf(stderr, "  %s: paced %d/s\n", system.name().c_str(), r);
    const int64_t period = 1'000'000'000 / r;
    const pid_t server = system.server_pid();
    const std::vector<pid_t> workers = system.worker_pids();
    // A short warm-up at the same rate, so that the measured jobs find the system in the state
    // this rate keeps it in (asleep between jobs, or still spinning).
    const int warmup = std::max(10, rate.jobs / 20);
    std::vector<double> us;
    us.reserve(rate.jobs);
    absl::Status failed;
    int64_t next = MonotonicNanos();
    int64_t first_start = 0, last_start = 0;
    CpuSnapshot before;
    for (int i = 0; i < warmup + rate.jobs && failed.ok(); ++i) {
      if (i == warmup) before = TakeCpu(server, workers);
      next += period;
      SleepUntil(next);
      const int64_t start = MonotonicNanos();
      absl::StatusOr<size_t> answer = caller.Call(noop);
      const int64_t end = MonotonicNanos();
      if (!answer.ok()) failed = answer.status();
      if (i < warmup) continue;
      if (i == warmup) first_start = start;
      last_start = start;
      us.push_back(static_cast<double>(end - start) / 1e3);
    }
    const CpuSnapshot after = TakeCpu(server, workers);
    if (!failed.ok()) {
      for (const CaseInfo& c : PacedCases({rate})) out[c.id] = {0, std::string(failed.message())};
      continue;
    }
    const double jobs = static_cast<double>(us.size());
    out[Key(r, "p50_us")] = {Percentile(us, 0.5), ""};
    out[Key(r, "p99_us")] = {Percentile(us, 0.99), ""};
    // The rate at which jobs started: exactly the asked rate when the system kept up.
    out[Key(r, "achieved_jobs_s")] = {(jobs - 1) * 1e9 / static_cast<double>(last_start - first_start), ""};
    out[Key(r, "cpu_client_us")] = {(after.client - before.client) * 1e6 / jobs, ""};
    out[Key(r, "cpu_server_us")] =
        server > 0 ? CaseValue{(after.server - before.server) * 1e6 / jobs, ""} : CaseValue{0, "no server process"};
    out[Key(r, "cpu_workers_us")] = workers.empty()
                                        ? CaseValue{0, "the handler runs inside the server process"}
                                        : CaseValue{(after.workers - before.workers) * 1e6 / jobs, ""};
  }
  if (slack > 0) prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0);
  return out;
}

}  // namespace jobd::bench
