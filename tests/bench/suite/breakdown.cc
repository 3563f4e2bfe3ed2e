#include "tests/bench/suite/breakdown.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "absl/strings/str_format.h"
#include "tests/integration/agent_process.h"

namespace jobd::bench {

namespace {

// Back to back, or one job every `gap` (paced: each job finds the processes asleep).
absl::StatusOr<std::vector<client::JobTimings>> Run(client::JobClient& client, const std::string& request, int warmup,
                                                   int jobs, absl::Duration gap = absl::ZeroDuration()) {
  std::vector<client::JobTimings> stamps;
  absl::Time next = absl::Now();
  for (int i = 0; i < jobs + warmup; ++i) {
    if (gap > absl::ZeroDuration()) {
      next += gap;
      absl::SleepFor(next - absl::Now());
    }
    auto f = client.Start("bench", request);
    if (!f.ok()) return f.status();
    auto r = f->Wait();
    if (!r.ok()) return r.status();
    if (i >= warmup) stamps.push_back(f->timings());
  }
  return stamps;
}

// A job that went through the agent has its stamps; one that took a leased worker's lane
// (client -> worker -> client) has none of the agent's, and its hops are the lane's.
bool OnLane(const client::JobTimings& t) { return t.agent_received_ns == 0; }

std::string Table(const std::string& title, const std::vector<client::JobTimings>& all, bool lane) {
  using T = client::JobTimings;
  struct Hop {
    const char* name;
    const char* where;
    std::function<int64_t(const T&)> ns;
  };
  const Hop submit = {"client submit", "Start: slab, copy, Submit into the ring",
                      [](const T& t) { return t.client_sent_ns - t.client_start_ns; }};
  const Hop worker = {"worker", "resolve, handler, response slab",
                      [](const T& t) { return t.worker_done_ns - t.worker_received_ns; }};
  const Hop wake = {"wake", "the future resolves, Wait returns",
                    [](const T& t) { return t.client_woken_ns - t.client_received_ns; }};
  const Hop total = {"total", "Start to Wait returning", [](const T& t) { return t.client_woken_ns - t.client_start_ns; }};
  const std::vector<Hop> hops =
      lane ? std::vector<Hop>{
                 submit,
                 {"to worker", "lane ring + doorbell to the leased worker", [](const T& t) { return t.worker_received_ns - t.client_sent_ns; }},
                 worker,
                 {"to client", "lane ring + doorbell to the waiting thread", [](const T& t) { return t.client_received_ns - t.worker_done_ns; }},
                 wake,
                 total}
           : std::vector<Hop>{
                 submit,
                 {"to agent", "ring + doorbell to the agent's pump", [](const T& t) { return t.agent_received_ns - t.client_sent_ns; }},
                 {"agent: submit", "validate, coordinator, dispatch", [](const T& t) { return t.agent_dispatched_ns - t.agent_received_ns; }},
                 {"to worker", "ring + doorbell to the worker", [](const T& t) { return t.worker_received_ns - t.agent_dispatched_ns; }},
                 worker,
                 {"to agent", "ring + doorbell back", [](const T& t) { return t.agent_result_ns - t.worker_done_ns; }},
                 {"agent: result", "coordinator, ownership, completion", [](const T& t) { return t.agent_sent_ns - t.agent_result_ns; }},
                 {"to client", "ring + doorbell to the waiting thread", [](const T& t) { return t.client_received_ns - t.agent_sent_ns; }},
                 wake,
                 total};
  std::vector<T> stamps;
  for (const T& t : all) {
    if (OnLane(t) == lane) stamps.push_back(t);
  }
  if (stamps.empty()) return "";
  std::string out = absl::StrFormat(
      "### Where the time of %s goes (jobd, %d of %d jobs %s, median and p99 of each hop)\n\n"
      "| hop | what happens | p50 µs | p99 µs |\n|---|---|---:|---:|\n",
      title, stamps.size(), all.size(), lane ? "on a leased worker's lane" : "through the agent");
  for (const Hop& h : hops) {
    std::vector<double> us;
    for (const T& t : stamps) us.push_back(static_cast<double>(h.ns(t)) / 1000.0);
    std::sort(us.begin(), us.end());
    absl::StrAppendFormat(&out, "| %s | %s | %.1f | %.1f |\n", h.name, h.where, us[us.size() / 2],
                          us[std::min(us.size() - 1, us.size() * 99 / 100)]);
  }
  return out + "\n";
}

std::string Tables(const std::string& title, const std::vector<client::JobTimings>& stamps) {
  return Table(title, stamps, /*lane=*/true) + Table(title, stamps, /*lane=*/false);
}

}  // namespace

absl::StatusOr<std::string> JobdBreakdown(int jobs) {
  auto agent = testing::AgentProcess::Start({.workers = 2, .lock_order_checks = false});
  if (!agent.ok()) return agent.status();
  auto client = (*agent)->Connect();
  if (!client.ok()) return client.status();
  auto noop = Run(**client, std::string(64, 'n'), 300, jobs);
  if (!noop.ok()) return noop.status();
  auto large = Run(**client, std::string(size_t{16} << 20, 'L'), 3, 20);
  if (!large.ok()) return large.status();
  auto paced_100 = Run(**client, std::string(64, 'n'), 20, 500, absl::Milliseconds(10));
  if (!paced_100.ok()) return paced_100.status();
  auto paced_1000 = Run(**client, std::string(64, 'n'), 100, 2000, absl::Milliseconds(1));
  if (!paced_1000.ok()) return paced_1000.status();
  client->reset();
  (void)(*agent)->Terminate();
  return absl::StrCat(Tables("a noop job (64 B)", *noop), Tables("a 16 MiB job", *large),
                      Tables("a noop job paced at 100/s", *paced_100),
                      Tables("a noop job paced at 1,000/s", *paced_1000));
}

}  // namespace jobd::bench
