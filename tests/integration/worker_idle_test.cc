// A worker with nothing to do costs nothing: after its handshake it leaves its gRPC stream
// (Detach in jobd.proto), so no gRPC thread runs in it, and it sleeps until the agent or a
// session's lane has something for it.
#include <dirent.h>
#include <sys/types.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

struct ThreadInfo {
  std::string name;
  uint64_t switches = 0;  // voluntary + involuntary context switches so far
};

std::vector<ThreadInfo> ThreadsOf(pid_t pid) {
  std::vector<ThreadInfo> out;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string task = absl::StrCat(dir, "/", e->d_name);
    ThreadInfo t;
    std::ifstream comm(task + "/comm");
    std::getline(comm, t.name);
    std::ifstream status(task + "/status");
    for (std::string line; std::getline(status, line);) {
      absl::string_view v = line;
      if (absl::ConsumePrefix(&v, "voluntary_ctxt_switches:") || absl::ConsumePrefix(&v, "nonvoluntary_ctxt_switches:")) {
        uint64_t n = 0;
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &n)) t.switches += n;
      }
    }
    out.push_back(t);
  }
  closedir(d);
  return out;
}

uint64_t SwitchesOf(pid_t pid) {
  uint64_t total = 0;
  for (const ThreadInfo& t : ThreadsOf(pid)) total += t.switches;
  return total;
}

// Without leases, so that no worker sits on a lane (a leased worker looks at its lane every
// 100 ms until the lease goes back, --lease_idle after its last job).
TEST(WorkerIdleTest, AWorkerRunsNoGrpcThreadAfterItsHandshakeAndSleepsWhileIdle) {
  auto agent = AgentProcess::Start({.workers = 2, .extra = {"--leases=false"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 4; ++i) {
    auto r = (*client)->Start("echo", absl::StrCat("job ", i))->Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->view(), absl::StrCat("job ", i));
  }
  auto stats = (*agent)->Stats();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->workers_size(), 2);
  std::vector<pid_t> workers;
  for (const auto& w : stats->workers()) workers.push_back(w.pid());

  for (pid_t pid : workers) {
    const std::vector<ThreadInfo> threads = ThreadsOf(pid);
    ASSERT_FALSE(threads.empty()) << "cannot read the threads of worker " << pid;
    for (const ThreadInfo& t : threads) {
      // gRPC names its threads (grpc_global_tim, timer_manager, event_engine, ...); the worker's
      // own keep the process's name.
      EXPECT_EQ(t.name, "jobd-testworker") << "worker " << pid << " runs a thread of gRPC's: " << t.name;
    }
  }
  // The last job's worker may still be on its way to sleep (its spin yields, under load, more
  // than once).
  absl::SleepFor(absl::Seconds(1));
  std::vector<uint64_t> before;
  for (pid_t pid : workers) before.push_back(SwitchesOf(pid));
  absl::SleepFor(absl::Seconds(2));
  for (size_t i = 0; i < workers.size(); ++i) {
    // With gRPC's timer threads (a worker that keeps its stream) this was about 9.
    EXPECT_LE(SwitchesOf(workers[i]) - before[i], 2u) << "idle worker " << workers[i] << " kept waking up";
  }
  // Still serving after the quiet.
  auto after = (*client)->Start("echo", "after")->Wait(absl::Seconds(30));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->view(), "after");
}

}  // namespace
}  // namespace jobd::testing
