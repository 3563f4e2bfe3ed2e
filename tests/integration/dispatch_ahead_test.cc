// Dispatch ahead with the real agent and workers: a job waiting in a busy worker's ring behind
// its current job, and what a worker's death, a deadline, a cancel and the client's end do to
// it. One worker, leases off (so every job goes through the agent), and a bound on the recent
// run time wide enough that a sleeping job counts as short.
#include <signal.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using client::JobOutcome;
using client::OutcomeOf;

class DispatchAheadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto agent = AgentProcess::Start(
        {.workers = 1, .extra = {"--leases=false", "--dispatch_ahead_max_run=10s", "--grace=500ms"}});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    auto client = agent_->Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    // Each type has run once: the agent knows them as short.
    for (const auto& [type, data] : {std::pair{"sleep", "10"}, {"echo", "x"}, {"counter", ""}}) {
      auto r = client_->Start(type, data)->Wait(absl::Seconds(30));
      ASSERT_TRUE(r.ok()) << type << ": " << r.status();
    }
  }

  v1::WorkerStats Worker0() const {
    auto stats = agent_->Stats();
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() && stats->workers_size() > 0 ? stats->workers(0) : v1::WorkerStats();
  }
  // Polls until the worker runs `job` and holds `count` jobs behind it, `next` the first (0:
  // nothing behind).
  bool WaitForBehind(uint64_t job, uint64_t next, uint32_t count) const {
    const absl::Time until = absl::Now() + absl::Seconds(20);
    while (absl::Now() < until) {
      const v1::WorkerStats w = Worker0();
      if (w.job_id() == job && w.next_job_id() == next && w.jobs_behind() == count) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }
  // A sleep of `ms` running on the worker, nothing behind it.
  client::JobFuture SleepRunning(int ms) {
    auto first = client_->Start("sleep", absl::StrCat(ms), {.timeout = absl::Seconds(60)});
    EXPECT_TRUE(first.ok()) << first.status();
    // The sleep must be running before the next jobs come: two sessions' submits that reach the
    // agent in one pass are taken in either order.
    EXPECT_TRUE(WaitForBehind(first->id(), 0, 0)) << agent_->Log();
    return std::move(*first);
  }
  // A sleep of `ms` running on the worker, and `type` dispatched ahead behind it.
  std::pair<client::JobFuture, client::JobFuture> OneBehindAnother(int ms, client::JobClient& second_client,
                                                                   const std::string& type, const std::string& data,
                                                                   client::StartOptions options = {}) {
    client::JobFuture first = SleepRunning(ms);
    auto second = second_client.Start(type, data, options);
    EXPECT_TRUE(second.ok()) << second.status();
    EXPECT_TRUE(WaitForBehind(first.id(), second->id(), 1)) << agent_->Log();
    return {std::move(first), std::move(*second)};
  }
  // One `type` job per entry of `data`, started in order behind `first` (running).
  std::vector<client::JobFuture> SeveralBehind(const client::JobFuture& first, const std::string& type,
                                               const std::vector<std::string>& data) {
    std::vector<client::JobFuture> behind;
    for (const std::string& d : data) {
      auto f = client_->Start(type, d);
      EXPECT_TRUE(f.ok()) << f.status();
      behind.push_back(std::move(*f));
    }
    EXPECT_TRUE(WaitForBehind(first.id(), behind[0].id(), static_cast<uint32_t>(data.size()))) << agent_->Log();
    return behind;
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<client::JobClient> client_;
};

TEST_F(DispatchAheadTest, AJobBehindRunsAsSoonAsTheOneBeforeItEnds) {
  auto [first, second] = OneBehindAnother(300, *client_, "echo", "behind");
  EXPECT_EQ(agent_->Stats()->queue_depth(), 0u) << "dispatched ahead, not queued in the agent";
  auto status = client_->Status(second.id());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, "queued") << "not started";
  auto r1 = first.Wait(absl::Seconds(30));
  auto r2 = second.Wait(absl::Seconds(30));
  ASSERT_TRUE(r1.ok()) << r1.status();
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->view(), "behind");
  EXPECT_EQ(Worker0().jobs_done(), 5u);
  r1->Release();
  r2->Release();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u);
}

TEST_F(DispatchAheadTest, AWorkerKilledWithAJobBehindGivesItBackUnstartedAndItRunsOnTheNextWorker) {
  auto [first, second] = OneBehindAnother(5000, *client_, "echo", "survives");
  const pid_t victim = Worker0().pid();
  ASSERT_GT(victim, 0);
  kill(victim, SIGKILL);
  auto r1 = first.Wait(absl::Seconds(30));
  EXPECT_EQ(OutcomeOf(r1.status()), JobOutcome::kWorkerDied) << r1.status();
  auto r2 = second.Wait(absl::Seconds(30));
  ASSERT_TRUE(r2.ok()) << "the job behind never started: it is not the worker's death's to fail; " << r2.status();
  EXPECT_EQ(r2->view(), "survives");
  auto status = client_->Status(second.id());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->attempt, 1u) << "no attempt spent on a job that never started";
  EXPECT_NE(Worker0().pid(), victim);
  r2->Release();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
}

TEST_F(DispatchAheadTest, ADeadlineBehindFailsItUnstartedAndLeavesTheRunningJobAlone) {
  auto [first, second] = OneBehindAnother(3000, *client_, "echo", "late", {.timeout = absl::Milliseconds(300)});
  auto r2 = second.Wait(absl::Seconds(30));
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kDeadlineExceeded) << r2.status();
  EXPECT_EQ(OutcomeOf(r2.status()), JobOutcome::kDeadlineExceeded);
  EXPECT_THAT(r2.status().message(), HasSubstr("never started"));
  EXPECT_FALSE(first.Ready()) << "the sleep runs on";
  auto r1 = first.Wait(absl::Seconds(30));
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->view(), "slept 3000ms");
  EXPECT_EQ(Worker0().restarts(), 0u) << "no kill: the job behind was skipped";
  r1->Release();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
}

TEST_F(DispatchAheadTest, ACancelBehindIsSkippedByTheWorkerWhoseCurrentJobRunsOn) {
  auto [first, second] = OneBehindAnother(1000, *client_, "counter", "");
  ASSERT_TRUE(client_->Cancel(second).ok());
  auto r2 = second.Wait(absl::Seconds(30));
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kCancelled) << r2.status();
  auto r1 = first.Wait(absl::Seconds(30));
  ASSERT_TRUE(r1.ok()) << r1.status();
  // The counter's handler ran once in SetUp and never for the cancelled job.
  auto next = client_->Start("counter", "")->Wait(absl::Seconds(30));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->view(), "2");
  EXPECT_EQ(Worker0().restarts(), 0u);
  r1->Release();
  next->Release();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
}

TEST_F(DispatchAheadTest, AClientThatLeavesWithAJobBehindCostsTheOtherClientNothing) {
  auto other = agent_->Connect();
  ASSERT_TRUE(other.ok()) << other.status();
  auto jobs = OneBehindAnother(1000, **other, "counter", "");
  client::JobFuture first = std::move(jobs.first);
  { client::JobFuture gone = std::move(jobs.second); }
  other->reset();  // its session ends with its job behind the sleep
  auto r1 = first.Wait(absl::Seconds(30));
  ASSERT_TRUE(r1.ok()) << r1.status();
  auto next = client_->Start("counter", "")->Wait(absl::Seconds(30));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->view(), "2") << "the gone client's job was skipped";
  EXPECT_EQ(Worker0().restarts(), 0u);
  r1->Release();
  next->Release();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
}

// --dispatch_ahead_depth (32 by default): several jobs wait behind one worker, in order.
TEST_F(DispatchAheadTest, AWorkerKilledWithSeveralJobsBehindGivesThemAllBackUnstarted) {
  client::JobFuture first = SleepRunning(5000);
  std::vector<client::JobFuture> behind = SeveralBehind(first, "echo", {"behind 0", "behind 1", "behind 2"});
  EXPECT_EQ(agent_->Stats()->queue_depth(), 0u) << "all three in the worker's ring, none in the queue";
  const pid_t victim = Worker0().pid();
  ASSERT_GT(victim, 0);
  kill(victim, SIGKILL);
  auto r1 = first.Wait(absl::Seconds(30));
  EXPECT_EQ(OutcomeOf(r1.status()), JobOutcome::kWorkerDied) << r1.status();
  for (int i = 0; i < 3; ++i) {
    auto r = behind[i].Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << "job " << i << " behind never started; " << r.status();
    EXPECT_EQ(r->view(), absl::StrCat("behind ", i));
    auto status = client_->Status(behind[i].id());
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->attempt, 1u) << "no attempt spent on job " << i << ", which never started";
    r->Release();
  }
  EXPECT_NE(Worker0().pid(), victim);
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
}

TEST_F(DispatchAheadTest, ACancelOfTheMiddleJobBehindSkipsOnlyThatOne) {
  client::JobFuture first = SleepRunning(1000);
  std::vector<client::JobFuture> behind = SeveralBehind(first, "counter", {"", "", ""});
  ASSERT_TRUE(client_->Cancel(behind[1]).ok());
  auto cancelled = behind[1].Wait(absl::Seconds(30));
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  auto r1 = first.Wait(absl::Seconds(30));
  ASSERT_TRUE(r1.ok()) << r1.status();
  // The counter's handler ran once in SetUp, then for the first and third jobs behind only.
  auto a = behind[0].Wait(absl::Seconds(30));
  auto c = behind[2].Wait(absl::Seconds(30));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(a->view(), "2");
  EXPECT_EQ(c->view(), "3") << "the middle job was skipped, not run";
  EXPECT_EQ(Worker0().restarts(), 0u) << "a skip, not a kill";
  r1->Release();
  a->Release();
  c->Release();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
}

}  // namespace
}  // namespace jobd::testing
