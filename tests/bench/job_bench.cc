// Job round trips through a real jobd with 2 jobd-testworker processes, against baselines run
// in the same process: a raw socketpair ping-pong between two processes (the floor for any
// cross-process hand-off) and memcpy (the floor for moving a payload).
//   job_bench [--jobs=N] [--seconds=S]
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <atomic>
#include <fstream>
#include <thread>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/integration/agent_process.h"

ABSL_FLAG(int, gap_us, 0, "pause between the noop round trips (0: back to back; 10000: the paced 100/s case)");
ABSL_FLAG(int, jobs, 5000, "round trips for latency");
ABSL_FLAG(double, seconds, 3, "seconds for the throughput run");
ABSL_FLAG(std::string, agent_flags, "", "extra jobd flags, comma-separated (e.g. --fast_path=false)");

namespace {

using jobd::testing::AgentProcess;

struct Latency {
  double p50_us, p99_us, mean_us;
};

Latency Summarise(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], sum / us.size()};
}

Latency SocketPairPingPong(int n) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  const pid_t child = fork();
  char buf[64];
  if (child == 0) {
    close(sv[0]);
    while (read(sv[1], buf, sizeof buf) == sizeof buf) {
      if (write(sv[1], buf, sizeof buf) != sizeof buf) break;
    }
    _exit(0);
  }
  close(sv[1]);
  std::vector<double> us;
  std::memset(buf, 7, sizeof buf);
  for (int i = 0; i < n; ++i) {
    const absl::Time t = absl::Now();
    if (write(sv[0], buf, sizeof buf) != sizeof buf || read(sv[0], buf, sizeof buf) != sizeof buf) break;
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  close(sv[0]);
  waitpid(child, nullptr, 0);
  return Summarise(us);
}

// utime + stime of a process, from /proc/<pid>/stat.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  // Fields after the command: state is [0], utime is [11], stime is [12].
  return (std::stod(fields[11]) + std::stod(fields[12])) / sysconf(_SC_CLK_TCK);
}

double ProcessRssMiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return -1;
}

double MemcpyMillis(size_t size) {
  std::vector<char> a(size, 1), b(size, 0);
  std::memcpy(b.data(), a.data(), size);  // fault the pages in first
  double best = 1e9;
  for (int i = 0; i < 10; ++i) {
    const absl::Time t = absl::Now();
    std::memcpy(b.data(), a.data(), size);
    best = std::min(best, absl::ToDoubleMilliseconds(absl::Now() - t));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_jobs);
  std::vector<std::string> extra;
  for (absl::string_view f : absl::StrSplit(absl::GetFlag(FLAGS_agent_flags), ',', absl::SkipEmpty())) {
    extra.emplace_back(f);
  }
  auto agent = AgentProcess::Start({.workers = 2, .extra = extra, .lock_order_checks = false});
  if (!agent.ok()) {
    std::fprintf(stderr, "%s\n", agent.status().ToString().c_str());
    return 1;
  }
  auto client = (*agent)->Connect();
  if (!client.ok()) return 1;
  jobd::client::JobClient& c = **client;

  // Noop round trip: 64-byte echo, one in flight.
  const std::string payload(64, 'p');
  for (int i = 0; i < 200; ++i) (void)c.Start("echo", payload)->Wait();
  std::vector<double> us;
  std::vector<jobd::client::JobTimings> stamps;
  const absl::Duration gap = absl::Microseconds(absl::GetFlag(FLAGS_gap_us));
  for (int i = 0; i < n; ++i) {
    if (gap > absl::ZeroDuration()) absl::SleepFor(gap);
    const absl::Time t = absl::Now();
    auto f = c.Start("echo", payload);
    auto r = f->Wait();
    if (!r.ok() || r->size() != 64) return std::fprintf(stderr, "echo failed\n"), 1;
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
    stamps.push_back(f->timings());
  }
  // Where a noop job's time goes: the median of each hop, over the jobs that took that path
  // (through the agent, or up a leased worker's lane: no agent stamps).
  using T = jobd::client::JobTimings;
  auto lane = [](const T& t) { return t.agent_received_ns == 0; };
  auto median_of = [&](bool lane_jobs, auto get) {
    std::vector<double> v;
    for (const auto& s : stamps) {
      if (lane(s) == lane_jobs) v.push_back(get(s) / 1000.0);
    }
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  size_t lane_jobs = 0;
  for (const auto& s : stamps) lane_jobs += lane(s);
  std::printf("| lane hop (median us, %zu of %zu jobs) | |\n|---|---:|\n", lane_jobs, stamps.size());
  std::printf("| client submit | %.1f |\n", median_of(true, [](const T& t) { return t.client_sent_ns - t.client_start_ns; }));
  std::printf("| to worker | %.1f |\n", median_of(true, [](const T& t) { return t.worker_received_ns - t.client_sent_ns; }));
  std::printf("| worker | %.1f |\n", median_of(true, [](const T& t) { return t.worker_done_ns - t.worker_received_ns; }));
  std::printf("| to client | %.1f |\n", median_of(true, [](const T& t) { return t.client_received_ns - t.worker_done_ns; }));
  std::printf("| wake | %.1f |\n", median_of(true, [](const T& t) { return t.client_woken_ns - t.client_received_ns; }));
  std::printf("| total | %.1f |\n\n", median_of(true, [](const T& t) { return t.client_woken_ns - t.client_start_ns; }));
  auto median = [&](auto get) { return median_of(false, get); };
  std::printf("| agent hop (median us, %zu jobs) | |\n|---|---:|\n", stamps.size() - lane_jobs);
  std::printf("| client submit | %.1f |\n", median([](const T& t) { return t.client_sent_ns - t.client_start_ns; }));
  std::printf("| to agent | %.1f |\n", median([](const T& t) { return t.agent_received_ns - t.client_sent_ns; }));
  std::printf("| agent | %.1f |\n", median([](const T& t) { return t.agent_dispatched_ns - t.agent_received_ns; }));
  std::printf("| to worker | %.1f |\n", median([](const T& t) { return t.worker_received_ns - t.agent_dispatched_ns; }));
  std::printf("| worker | %.1f |\n", median([](const T& t) { return t.worker_done_ns - t.worker_received_ns; }));
  std::printf("| to agent | %.1f |\n", median([](const T& t) { return t.agent_result_ns - t.worker_done_ns; }));
  std::printf("| agent | %.1f |\n", median([](const T& t) { return t.agent_sent_ns - t.agent_result_ns; }));
  std::printf("| to client | %.1f |\n", median([](const T& t) { return t.client_received_ns - t.agent_sent_ns; }));
  std::printf("| wake | %.1f |\n", median([](const T& t) { return t.client_woken_ns - t.client_received_ns; }));
  std::printf("| total | %.1f |\n\n", median([](const T& t) { return t.client_woken_ns - t.client_start_ns; }));
  const Latency job = Summarise(us);
  const Latency floor = SocketPairPingPong(n);

  // Throughput with 8 and 64 in flight, one thread keeping the window full; the agent's CPU
  // time and RSS are read from /proc around the 64 run.
  const absl::Duration run = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  auto throughput = [&](size_t in_flight) -> double {
    std::deque<jobd::client::JobFuture> window;
    uint64_t done = 0;
    const absl::Time start = absl::Now();
    while (absl::Now() - start < run) {
      while (window.size() < in_flight) window.push_back(std::move(*c.Start("echo", payload)));
      auto r = window.front().Wait();
      if (!r.ok() || r->size() != payload.size()) return -1;
      window.pop_front();
      ++done;
    }
    while (!window.empty()) {
      (void)window.front().Wait();
      window.pop_front();
      ++done;
    }
    return done / absl::ToDoubleSeconds(absl::Now() - start);
  };
  const double jobs_per_s = throughput(8);
  // The same with one thread per job in flight, each starting and waiting in turn (how the
  // comparison suite drives every system).
  auto threaded = [&](int threads) -> double {
    std::atomic<uint64_t> done{0};
    std::atomic<bool> stop{false}, failed{false};
    std::vector<std::thread> pool;
    const absl::Time start = absl::Now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        while (!stop.load()) {
          auto r = c.Start("echo", payload)->Wait();
          if (!r.ok() || r->size() != payload.size()) failed.store(true);
          done.fetch_add(1);
        }
      });
    }
    absl::SleepFor(run);
    stop.store(true);
    for (auto& th : pool) th.join();
    return failed.load() ? -1 : done.load() / absl::ToDoubleSeconds(absl::Now() - start);
  };
  const double threads_8 = threaded(8);
  const double cpu_before = ProcessCpuSeconds((*agent)->pid());
  const absl::Time t64 = absl::Now();
  const double jobs_per_s_64 = throughput(64);
  const double jobs_64 = jobs_per_s_64 * absl::ToDoubleSeconds(absl::Now() - t64);
  const double agent_cpu_us_per_job = (ProcessCpuSeconds((*agent)->pid()) - cpu_before) * 1e6 / jobs_64;
  const double agent_rss_mib = ProcessRssMiB((*agent)->pid());
  if (jobs_per_s < 0 || jobs_per_s_64 < 0) return std::fprintf(stderr, "echo failed\n"), 1;

  // Large payloads: the worker answers with the length, so only the request crosses.
  std::printf("| case | jobd | baseline | ratio |\n|---|---:|---:|---:|\n");
  std::printf("| noop RTT p50 (us) | %.1f | %.1f (socketpair ping-pong) | %.1fx |\n", job.p50_us, floor.p50_us,
              job.p50_us / floor.p50_us);
  std::printf("| noop RTT p99 (us) | %.1f | %.1f | %.1fx |\n", job.p99_us, floor.p99_us, job.p99_us / floor.p99_us);
  std::printf("| jobs/s, 8 in flight | %.0f | %.0f (1e6/ping-pong p50) | %.2fx |\n", jobs_per_s,
              1e6 / floor.p50_us, jobs_per_s / (1e6 / floor.p50_us));
  std::printf("| jobs/s, 64 in flight | %.0f | | |\n", jobs_per_s_64);
  std::printf("| jobs/s, 8 threads each start+wait | %.0f | | |\n", threads_8);
  std::printf("| agent CPU per job at 64 in flight (us) | %.1f | | |\n", agent_cpu_us_per_job);
  std::printf("| agent RSS after 64 in flight (MiB) | %.1f | 50 (target) | %.2fx |\n", agent_rss_mib,
              agent_rss_mib / 50);
  for (size_t mib : {1, 16}) {
    const size_t size = mib << 20;
    std::string big(size, 'b');
    (void)c.Start("size", big)->Wait();
    double best = 1e9;
    for (int i = 0; i < 10; ++i) {
      const absl::Time t = absl::Now();
      auto r = c.Start("size", big)->Wait();
      if (!r.ok() || r->view() != std::to_string(size)) return std::fprintf(stderr, "size failed\n"), 1;
      best = std::min(best, absl::ToDoubleMilliseconds(absl::Now() - t));
    }
    const double copy = MemcpyMillis(size);
    std::printf("| %zu MiB RTT (ms, best of 10) | %.3f | %.3f (memcpy + noop p50) | %.2fx |\n", mib, best,
                copy + job.p50_us / 1000, best / (copy + job.p50_us / 1000));
  }
  (void)(*agent)->Terminate();
  return 0;
}
