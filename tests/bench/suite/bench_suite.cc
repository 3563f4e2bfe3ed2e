// The comparison suite: every case against every system in one run, unpinned and then with
// every process pinned to CPU 0, plus the raw floors; markdown tables on stdout and a JSON
// file. scripts/bench.sh installs the peers and runs it. In each placement the paced cases come
// first, with every system started at once and their pieces interleaved (paced.h); then each
// system alone runs the hot loop, many sessions and idle.
//   bench_suite [--systems=jobd,grpc,redis,gearman,raw] [--modes=unpinned,pinned] [--quick]
//               [--cases=hot,paced,sessions[,idle]] [--idle_seconds=60] [--json=bench-results.json]
//               [--breakdown]
//               [--jobd_flags=--spin_us=0,...] [--session_clients=8,64]
// (--client_child is how the paced and many-session cases start their client processes.)
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/bench/suite/breakdown.h"
#include "tests/bench/suite/cases.h"
#include "tests/bench/suite/idle.h"
#include "tests/bench/suite/raw_limits.h"
#include "tests/bench/suite/report.h"
#include "tests/bench/suite/client_process.h"
#include "tests/bench/suite/sessions.h"

ABSL_FLAG(std::string, systems, "jobd,grpc,redis,gearman,raw",
          "systems to run (raw: the raw Unix-socket echo to 2 preforked workers, the two-hop floor; and, not by "
          "default, models over jobd's rings (docs/benchmarks.md): relay (a broker, four hops), direct (a "
          "broker on the way in, answers from the worker), lanes (two hops, workers serving every client))");
ABSL_FLAG(std::string, cases, "hot,paced,sessions",
          "case groups: hot (the hot loop, large payloads, start-multi), paced (one client at 100, 1,000 "
          "and 10,000 jobs/s), sessions (8 and 64 client processes), idle (not by default: nothing for "
          "--idle_seconds after 20 jobs, the CPU of the system's own processes)");
ABSL_FLAG(std::string, modes, "unpinned,pinned", "placements: unpinned (default), pinned (all on CPU 0)");
ABSL_FLAG(double, idle_seconds, 60, "idle: how long the system gets no jobs (after 20)");
ABSL_FLAG(bool, quick, false, "a smoke run: few jobs, short throughput runs");
ABSL_FLAG(std::string, json, "bench-results.json", "where to write the JSON results");
ABSL_FLAG(bool, breakdown, false, "also print where a jobd noop job's microseconds go");
ABSL_FLAG(int64_t, model_broker_work_ns, 0,
          "the broker models (relay, direct): nanoseconds of CPU the broker burns per job it carries, 0 to "
          "1,000,000: how much a broker may cost a job before the shape loses its lead");
ABSL_FLAG(std::vector<std::string>, jobd_flags, {},
          "more flags for the jobd agent, comma-separated (e.g. --jobd_flags=--spin_us=0): to compare settings");
ABSL_FLAG(int, jobs, 5000, "noop round trips measured per system");
ABSL_FLAG(double, seconds, 3, "seconds per throughput level and per many-session count");
ABSL_FLAG(std::vector<std::string>, session_clients, std::vector<std::string>({"8", "64"}),
          "sessions: the client process counts, comma-separated (issue 12's targets read 8 and 64)");
ABSL_FLAG(std::string, client_child, "", "internal: run as a client process of this system (client_process.h)");
ABSL_FLAG(std::string, client_address, "", "internal: where the client child's system is");
ABSL_FLAG(double, client_seconds, 3, "internal: closed loop: how long the client child runs");
ABSL_FLAG(int, client_rate, 0, "internal: paced: jobs per second (0: closed loop)");
ABSL_FLAG(int, client_jobs, 0, "internal: paced: measured jobs");
ABSL_FLAG(int, client_warmup, 20, "internal: jobs before the client child says it is ready");

namespace jobd::bench {

namespace {

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu >= 0) {
    CPU_SET(cpu, &set);
  } else {
    for (long i = 0; i < sysconf(_SC_NPROCESSORS_ONLN); ++i) CPU_SET(i, &set);
  }
  sched_setaffinity(0, sizeof set, &set);
}

// Also makes `scratch_dir`, which the system's sockets and files go into.
SystemOptions OptionsFor(const std::string& scratch_dir) {
  SystemOptions so;
  so.workers = 2;
  so.jobd_flags = absl::GetFlag(FLAGS_jobd_flags);
  so.model_broker_work_ns = absl::GetFlag(FLAGS_model_broker_work_ns);
  so.scratch_dir = scratch_dir;
  mkdir(so.scratch_dir.c_str(), 0700);
  return so;
}

// The paced cases of one placement: every system started at once, their pieces interleaved
// (paced.h), every system stopped. Values by system id; a system that did not start has its
// reason in every paced case.
std::map<std::string, std::map<std::string, CaseValue>> RunPacedPhase(const std::vector<std::string>& ids,
                                                                      const std::string& scratch,
                                                                      absl::string_view mode,
                                                                      const CaseOptions& options) {
  std::map<std::string, std::map<std::string, CaseValue>> out;
  std::vector<std::unique_ptr<BenchSystem>> started;
  std::vector<PacedSystem> paced;
  for (const std::string& id : ids) {
    std::unique_ptr<BenchSystem> system = MakeSystem(id);
    if (system == nullptr) continue;  // the main loop reports it
    std::fprintf(stderr, "[%s] paced: starting %s\n", std::string(mode).c_str(), system->name().c_str());
    absl::Status s = system->Start(OptionsFor(absl::StrCat(scratch, "/", id, "-", mode, "-paced")));
    if (!s.ok()) {
      system->Stop();
      for (const CaseInfo& c : PacedCases(options.paced_rates)) out[id][c.id] = {0, std::string(s.message())};
      continue;
    }
    paced.push_back({id, system.get()});
    started.push_back(std::move(system));
  }
  for (auto& [id, cases] : RunPacedCases(paced, options.paced_rates, options.paced_rounds)) out[id] = cases;
  for (auto& system : started) system->Stop();
  return out;
}

}  // namespace
}  // namespace jobd::bench

int main(int argc, char** argv) {
  using namespace jobd::bench;
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_client_child).empty()) {
    return RunClientChild(absl::GetFlag(FLAGS_client_child), absl::GetFlag(FLAGS_client_address),
                          {.rate = absl::GetFlag(FLAGS_client_rate),
                           .jobs = absl::GetFlag(FLAGS_client_jobs),
                           .warmup = absl::GetFlag(FLAGS_client_warmup),
                           .time = absl::Seconds(absl::GetFlag(FLAGS_client_seconds))});
  }
  const bool quick = absl::GetFlag(FLAGS_quick);
  CaseOptions options;
  const std::vector<std::string> groups = absl::StrSplit(absl::GetFlag(FLAGS_cases), ',', absl::SkipEmpty());
  for (const std::string& g : groups) {
    if (g != "hot" && g != "paced" && g != "sessions" && g != "idle") {
      return std::fprintf(stderr, "unknown case group %s (hot, paced, sessions, idle)\n", g.c_str()), 2;
    }
  }
  auto chosen = [&](const char* g) { return std::find(groups.begin(), groups.end(), g) != groups.end(); };
  options.hot = chosen("hot");
  options.paced = chosen("paced");
  options.sessions = chosen("sessions");
  options.idle = chosen("idle");
  options.idle_time = absl::Seconds(quick ? 2 : absl::GetFlag(FLAGS_idle_seconds));
  options.paced_rates = PacedRates(quick);
  options.latency_jobs = quick ? 300 : absl::GetFlag(FLAGS_jobs);
  options.throughput_time = absl::Seconds(quick ? 0.5 : absl::GetFlag(FLAGS_seconds));
  options.large_budget = absl::Seconds(quick ? 1 : 5);
  options.large_reps = quick ? 3 : 20;
  options.session_time = options.throughput_time;
  options.session_clients.clear();
  for (const std::string& n : absl::GetFlag(FLAGS_session_clients)) {
    int count = 0;
    if (!absl::SimpleAtoi(n, &count) || count < 1 || count > 512) {
      return std::fprintf(stderr, "--session_clients: '%s' is not a count of 1 to 512\n", n.c_str()), 2;
    }
    options.session_clients.push_back(count);
  }

  if (const int64_t w = absl::GetFlag(FLAGS_model_broker_work_ns); w < 0 || w > 1'000'000) {
    return std::fprintf(stderr, "--model_broker_work_ns=%lld: allowed 0 to 1000000\n", static_cast<long long>(w)), 2;
  }

  Results results;
  results.hot = options.hot;
  if (options.paced) results.paced_cases = PacedCases(options.paced_rates);
  if (options.sessions) {
    for (const CaseInfo& c : SessionCases(options.session_clients)) results.paced_cases.push_back(c);
  }
  if (options.idle) {
    for (const CaseInfo& c : IdleCases(options.idle_time)) results.paced_cases.push_back(c);
  }
  results.machine = DescribeMachine();
  results.load_start = LoadAverage();
  if (absl::GetFlag(FLAGS_model_broker_work_ns) != 0) {
    absl::StrAppend(&results.machine, "; the broker models burn ", absl::GetFlag(FLAGS_model_broker_work_ns),
                    " ns of CPU per job");
  }
  if (!absl::GetFlag(FLAGS_jobd_flags).empty()) {
    absl::StrAppend(&results.machine, "; jobd started with ", absl::StrJoin(absl::GetFlag(FLAGS_jobd_flags), " "));
  }
  std::fprintf(stderr, "machine: %s\n", results.machine.c_str());
  results.raw.pingpong_same_cpu = SocketPingPong(quick ? 500 : 5000, 0, 0);
  results.raw.pingpong_two_cpus = SocketPingPong(quick ? 500 : 5000, 0, 1);
  for (size_t mib : {1, 16, 64}) results.raw.memcpy_ms[mib] = MemcpyMillis(mib << 20);

  char scratch_template[] = "/tmp/jobd-bench.XXXXXX";
  const char* scratch = mkdtemp(scratch_template);
  if (scratch == nullptr) return std::fprintf(stderr, "cannot make a scratch dir\n"), 1;
  const std::vector<std::string> ids = absl::StrSplit(absl::GetFlag(FLAGS_systems), ',', absl::SkipEmpty());
  for (absl::string_view mode : absl::StrSplit(absl::GetFlag(FLAGS_modes), ',', absl::SkipEmpty())) {
    PinTo(mode == "pinned" ? 0 : -1);  // children started from now on inherit it
    std::map<std::string, std::map<std::string, CaseValue>> paced;
    if (options.paced) paced = RunPacedPhase(ids, scratch, mode, options);
    for (const std::string& id : ids) {
      std::unique_ptr<BenchSystem> system = MakeSystem(id);
      SystemRun& run = results.runs[std::string(mode)][id];
      if (system == nullptr) {
        run.error = "not built on this machine";
        continue;
      }
      run.name = system->name();
      std::fprintf(stderr, "[%s] %s ...\n", std::string(mode).c_str(), run.name.c_str());
      absl::Status started = system->Start(OptionsFor(absl::StrCat(scratch, "/", id, "-", mode)));
      if (!started.ok()) {
        run.error = std::string(started.message());
        system->Stop();
        continue;
      }
      run.cases = RunCases(id, *system, options);
      run.cases.merge(paced[id]);
      system->Stop();
    }
  }
  PinTo(-1);
  results.load_end = LoadAverage();
  const std::string table = RenderMarkdown(results);
  std::printf("%s", table.c_str());
  if (absl::GetFlag(FLAGS_breakdown)) {
    absl::StatusOr<std::string> b = JobdBreakdown(quick ? 300 : 2000);
    std::printf("\n%s", b.ok() ? b->c_str() : b.status().ToString().c_str());
  }
  std::ofstream(absl::GetFlag(FLAGS_json)) << RenderJson(results);
  std::fprintf(stderr, "wrote %s\n", absl::GetFlag(FLAGS_json).c_str());
  std::error_code ignored;  // a leftover socket must not fail the run
  std::filesystem::remove_all(scratch, ignored);
  return 0;
}
