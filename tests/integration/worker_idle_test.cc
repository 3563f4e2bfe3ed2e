// A worker with nothing to do costs nothing: after its handshake it leaves its gRPC stream
// (Detach in jobd.proto), so no gRPC thread runs in it, and it sleeps until the agent or a
// session's lane has something for it.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"
#include "tests/integration/proc_threads.h"

namespace jobd::testing {
namespace {

uint64_t SwitchesOf(pid_t pid) {
  uint64_t total = 0;
  for (const ProcThread& t : ThreadsOf(pid)) total += t.switches;
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
    const std::vector<ProcThread> threads = ThreadsOf(pid);
    ASSERT_FALSE(threads.empty()) << "cannot read the threads of worker " << pid;
    for (const ProcThread& t : threads) {
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
