#include "tests/bench/suite/cases.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/bench/suite/idle.h"
#include "tests/bench/suite/percentile.h"
#include "tests/bench/suite/process_cpu.h"
#include "tests/bench/suite/sessions.h"

namespace jobd::bench {
namespace {

// Resident memory that is the process's own, not the shared files it maps (the arena): MiB.
double PrivateRssMiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  double kib = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RssAnon:", 0) == 0 || line.rfind("RssFile:", 0) == 0) {
      double v = 0;
      if (absl::SimpleAtod(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(8), "kB")), &v)) kib += v;
    }
  }
  return kib / 1024;
}

CaseValue Fail(const absl::Status& s) { return {0, std::string(s.message())}; }

// Round trips of `size` bytes until the budget or the rep count runs out; median ms. With
// `copy_ms`, each round trip follows a memcpy of as many bytes between two buffers of this
// process, whose median goes there: the floor a large payload is judged against (one copy),
// measured at the same moments, since this machine's memory bandwidth moves by 1.5x from one
// minute to the next.
CaseValue LargeRoundTrip(Caller& caller, size_t size, const CaseOptions& o, CaseValue* copy_ms = nullptr) {
  const std::string request(size, 'L');
  std::string from, to;
  if (copy_ms != nullptr) from.assign(size, 'C'), to.assign(size, 0);  // every page touched now
  std::vector<double> ms, copies;
  const absl::Time until = absl::Now() + o.large_budget;
  while (ms.size() < static_cast<size_t>(o.large_reps) && (ms.empty() || absl::Now() < until)) {
    if (copy_ms != nullptr) {
      const absl::Time c = absl::Now();
      std::memcpy(to.data(), from.data(), size);
      copies.push_back(absl::ToDoubleMilliseconds(absl::Now() - c));
      if (to[size / 2] != 'C') return {0, "the floor's memcpy did not copy"};
    }
    const absl::Time t = absl::Now();
    absl::StatusOr<size_t> r = caller.Call(request);
    if (!r.ok()) return Fail(r.status());
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
  }
  if (copy_ms != nullptr) *copy_ms = {Percentile(copies, 0.5), ""};
  return {Percentile(ms, 0.5), ""};
}

}  // namespace

const std::vector<CaseInfo>& AllCases() {
  static const auto* cases = new std::vector<CaseInfo>{
      {"rtt_p50_us", "noop round trip p50 (µs)"},
      {"rtt_p99_us", "noop round trip p99 (µs)"},
      {"rtt_p999_us", "noop round trip p99.9 (µs)"},
      {"jobs_s_1", "jobs/s, 1 in flight"},
      {"jobs_s_8", "jobs/s, 8 in flight"},
      {"jobs_s_64", "jobs/s, 64 in flight"},
      {"server_cpu_us_per_job_64", "coordinator CPU per job at 64 in flight (µs)"},
      {"server_rss_mib_64", "coordinator RSS at 64 in flight, own memory (MiB)"},
      {"rtt_1mib_ms", "1 MiB round trip (ms)"},
      {"rtt_16mib_ms", "16 MiB round trip (ms)"},
      {"memcpy_16mib_ms", "16 MiB memcpy, one before each of those round trips (ms)"},
      {"rtt_64mib_ms", "64 MiB round trip (ms)"},
      {"multi_shared_32mib_ms", "8 jobs sharing one 32 MiB piece (ms)"},
      {"multi_carried_32mib_ms", "8 jobs each carrying 32 MiB (ms)"},
  };
  return *cases;
}

namespace {

// The first table: noop latency and throughput in a hot loop, large payloads, start-multi.
void RunHotCases(BenchSystem& system, Caller& caller, const CaseOptions& o, std::map<std::string, CaseValue>& out) {
  auto progress = [&](const char* what) { std::fprintf(stderr, "  %s: %s\n", system.name().c_str(), what); };
  progress("noop round trips");
  // Noop round trips, one in flight.
  const std::string noop(64, 'n');
  std::vector<double> us;
  absl::Status failed;
  for (int i = 0; i < o.latency_jobs + 300 && failed.ok(); ++i) {
    const absl::Time t = absl::Now();
    absl::StatusOr<size_t> r = caller.Call(noop);
    if (!r.ok()) failed = r.status();
    if (i >= 300) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  if (!failed.ok()) {
    out["rtt_p50_us"] = out["rtt_p99_us"] = out["rtt_p999_us"] = Fail(failed);
  } else {
    out["rtt_p50_us"] = {Percentile(us, 0.5), ""};
    out["rtt_p99_us"] = {Percentile(us, 0.99), ""};
    out["rtt_p999_us"] = {Percentile(us, 0.999), ""};
  }

  // Throughput: one caller per job in flight, each in its own thread.
  for (int in_flight : {1, 8, 64}) {
    progress(absl::StrCat(in_flight, " in flight").c_str());
    std::vector<std::unique_ptr<Caller>> callers;
    absl::Status s;
    for (int i = 0; i < in_flight && s.ok(); ++i) {
      auto c = system.NewCaller();
      if (c.ok()) callers.push_back(std::move(*c)); else s = c.status();
    }
    const std::string key = absl::StrCat("jobs_s_", in_flight);
    if (!s.ok()) {
      out[key] = Fail(s);
      continue;
    }
    std::atomic<uint64_t> done{0};
    std::atomic<bool> stop{false};
    absl::Mutex mu;
    absl::Status error;
    const pid_t server = system.server_pid();
    const double cpu_before = server > 0 ? ProcessCpuSeconds(server) : 0;
    std::vector<std::thread> threads;
    const absl::Time start = absl::Now();
    for (auto& c : callers) {
      threads.emplace_back([&, caller = c.get()] {
        while (!stop.load(std::memory_order_relaxed)) {
          absl::StatusOr<size_t> r = caller->Call(noop);
          if (!r.ok()) {
            absl::MutexLock lock(&mu);
            error = r.status();
            stop.store(true);
            return;
          }
          done.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    absl::SleepFor(o.throughput_time);
    double rss = server > 0 ? PrivateRssMiB(server) : 0;
    stop.store(true);
    for (auto& t : threads) t.join();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (!error.ok()) {
      out[key] = Fail(error);
      continue;
    }
    out[key] = {done.load() / seconds, ""};
    if (in_flight == 64 && server > 0 && done.load() > 0) {
      out["server_cpu_us_per_job_64"] = {(ProcessCpuSeconds(server) - cpu_before) * 1e6 / done.load(), ""};
      rss = std::max(rss, PrivateRssMiB(server));
      out["server_rss_mib_64"] = {rss, ""};
    }
  }
  if (!out.contains("server_cpu_us_per_job_64")) {
    out["server_cpu_us_per_job_64"] = out["server_rss_mib_64"] = {0, "no server process"};
  }

  // Large payloads.
  for (auto [key, mib] : std::vector<std::pair<std::string, size_t>>{
           {"rtt_1mib_ms", 1}, {"rtt_16mib_ms", 16}, {"rtt_64mib_ms", 64}}) {
    if ((mib << 20) > system.max_request()) {
      out[key] = {0, absl::StrCat("n/a: largest request is ", system.max_request() >> 20, " MiB")};
      if (mib == 16) out["memcpy_16mib_ms"] = out[key];
      continue;
    }
    progress(key.c_str());
    out[key] = LargeRoundTrip(caller, mib << 20, o, mib == 16 ? &out["memcpy_16mib_ms"] : nullptr);
  }

  // Start-multi: 8 jobs sharing one 32 MiB piece, against 8 jobs each carrying it.
  const std::string piece(size_t{32} << 20, 'S');
  if (piece.size() + 8 > system.max_request()) {
    const std::string why = absl::StrCat("n/a: largest request is ", system.max_request() >> 20, " MiB");
    out["multi_shared_32mib_ms"] = out["multi_carried_32mib_ms"] = {0, why};
    return;
  }
  const std::vector<std::string> tails = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
  std::vector<std::string_view> requests(tails.begin(), tails.end());
  progress("start-multi");
  {
    std::vector<double> ms;
    const absl::Time until = absl::Now() + o.large_budget;
    absl::Status s;
    while (s.ok() && ms.size() < 10 && (ms.empty() || absl::Now() < until)) {
      const absl::Time t = absl::Now();
      s = caller.CallMulti(piece, requests);
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    }
    out["multi_shared_32mib_ms"] = s.ok() ? CaseValue{Percentile(ms, 0.5), ""} : Fail(s);
  }
  {
    std::vector<std::unique_ptr<Caller>> callers;
    absl::Status s;
    for (int i = 0; i < 8 && s.ok(); ++i) {
      auto c = system.NewCaller();
      if (c.ok()) callers.push_back(std::move(*c)); else s = c.status();
    }
    std::vector<std::string> carried;
    for (const std::string& tail : tails) carried.push_back(piece + tail);
    std::vector<double> ms;
    const absl::Time until = absl::Now() + o.large_budget;
    while (s.ok() && ms.size() < 10 && (ms.empty() || absl::Now() < until)) {
      std::vector<absl::Status> results(8);
      std::vector<std::thread> threads;
      const absl::Time t = absl::Now();
      for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] { results[i] = callers[i]->Call(carried[i]).status(); });
      }
      for (auto& th : threads) th.join();
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
      for (const absl::Status& r : results) {
        if (!r.ok()) s = r;
      }
    }
    out["multi_carried_32mib_ms"] = s.ok() ? CaseValue{Percentile(ms, 0.5), ""} : Fail(s);
  }
}

}  // namespace

std::map<std::string, CaseValue> RunCases(const std::string& system_id, BenchSystem& system, const CaseOptions& o) {
  std::map<std::string, CaseValue> out;
  absl::StatusOr<std::unique_ptr<Caller>> main_caller = system.NewCaller();
  if (!main_caller.ok()) {
    std::vector<CaseInfo> all;
    if (o.hot) all = AllCases();
    if (o.sessions) {
      for (const CaseInfo& c : SessionCases(o.session_clients)) all.push_back(c);
    }
    if (o.idle) {
      for (const CaseInfo& c : IdleCases(o.idle_time)) all.push_back(c);
    }
    for (const CaseInfo& c : all) out[c.id] = Fail(main_caller.status());
    return out;
  }
  // The hot loop first, as before the paced cases existed, so its numbers stay comparable with
  // earlier runs.
  if (o.hot) RunHotCases(system, **main_caller, o, out);
  if (o.sessions) out.merge(RunSessionCases(system_id, system, o.session_clients, o.session_time));
  // Last: whatever the cases before left behind (leases, connections) is part of idle.
  if (o.idle) out.merge(RunIdleCases(system, **main_caller, o.idle_time));
  return out;
}

}  // namespace jobd::bench
