#include "tests/bench/suite/sessions.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tests/bench/suite/client_process.h"
#include "tests/bench/suite/percentile.h"

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
    results = group.ok() ? (*group)->Run() : group.status();
    if (!results.ok()) {
      for (const CaseInfo& c : SessionCases({n})) out[c.id] = {0, std::string(results.status().message())};
      continue;
    }
    std::vector<double> us;
    double rate = 0;
    for (const ClientResult& r : *results) {
      us.insert(us.end(), r.latencies_us.begin(), r.latencies_us.end());
      if (r.loop_seconds > 0) rate += static_cast<double>(r.latencies_us.size()) / r.loop_seconds;
    }
    out[Key(n, "jobs_s")] = {rate, ""};
    out[Key(n, "p50_us")] = {Percentile(us, 0.5), ""};
    out[Key(n, "p99_us")] = {Percentile(us, 0.99), ""};
  }
  return out;
}

}  // namespace jobd::bench
