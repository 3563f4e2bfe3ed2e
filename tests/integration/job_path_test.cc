// The job path end to end: real jobd, real jobd-testworker processes, real socket and arena.
#include <signal.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using client::JobOutcome;
using client::OutcomeOf;

class JobPathTest : public ::testing::Test {
 protected:
  void StartAgent(AgentFlags flags = {}) {
    auto agent = AgentProcess::Start(std::move(flags));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    auto client = agent_->Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  // After every test: no slab leaked and the agent still answers jobs.
  void TearDown() override {
    if (agent_ == nullptr) return;
    client_.reset();
    EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
    auto probe = agent_->Connect();
    ASSERT_TRUE(probe.ok()) << probe.status();
    auto f = (*probe)->Start("echo", "still serving", {.timeout = absl::Seconds(20)});
    ASSERT_TRUE(f.ok()) << f.status();
    auto r = f->Wait();
    ASSERT_TRUE(r.ok()) << r.status() << "\n" << agent_->Log();
    EXPECT_EQ(r->view(), "still serving");
  }

  absl::StatusOr<std::string> Run(const std::string& type, const std::string& payload,
                                  client::StartOptions options = {}) {
    auto f = client_->Start(type, payload, options);
    if (!f.ok()) return f.status();
    auto r = f->Wait();
    if (!r.ok()) return r.status();
    return std::string(r->view());
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<client::JobClient> client_;
};

TEST_F(JobPathTest, EchoReturnsThePayloadThroughTheArena) {
  StartAgent();
  EXPECT_TRUE(client_->enabled());
  EXPECT_EQ(client_->workers(), 2u);
  auto r = Run("echo", "hello, jobd");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "hello, jobd");
  auto empty = Run("echo", "");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, "");
}

TEST_F(JobPathTest, TenThousandJobsFromFourThreadsAllAnswerCorrectly) {
  StartAgent();
  constexpr int kThreads = 4, kPerThread = 2500, kInFlight = 16;
  std::atomic<int> ok{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<client::JobFuture, std::string>> window;
      auto drain_one = [&] {
        auto& [future, expected] = window.front();
        auto r = future.Wait(absl::Seconds(60));
        if (r.ok() && r->view() == expected) ++ok; else ++wrong;
        window.erase(window.begin());
      };
      for (int i = 0; i < kPerThread; ++i) {
        std::string payload = absl::StrCat("thread ", t, " job ", i, " ", std::string(i % 200, 'x'));
        auto f = client_->Start("echo", payload, {.timeout = absl::Seconds(60)});
        if (!f.ok()) { ++wrong; continue; }
        window.emplace_back(std::move(*f), std::move(payload));
        if (window.size() >= kInFlight) drain_one();
      }
      while (!window.empty()) drain_one();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(wrong.load(), 0);
  auto stats = agent_->Stats();
  ASSERT_TRUE(stats.ok());
  uint64_t echo_ok = 0;
  for (const auto& t : stats->types()) {
    if (t.type() == "echo") echo_ok = t.outcomes().at("ok");
  }
  EXPECT_EQ(echo_ok, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(JobPathTest, LargePayloadsRoundTripIntact) {
  StartAgent();
  for (size_t size : {size_t{1} << 20, size_t{16} << 20}) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 131) >> 3);
    auto r = Run("echo", payload, {.timeout = absl::Seconds(30)});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->size(), size);
    EXPECT_TRUE(*r == payload) << "payload of " << size << " bytes came back different";
  }
}

TEST_F(JobPathTest, UnknownJobTypeIsRejectedAsCouldNotStart) {
  StartAgent();
  auto r = Run("no-such-type", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no-such-type"));
  EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kRejected);
  EXPECT_TRUE(client::CouldNotStart(r.status()));
}

TEST_F(JobPathTest, DeadlinePassingInTheQueueMeansTheJobNeverStarts) {
  StartAgent({.workers = 1});
  auto busy = client_->Start("sleep", "1500", {.timeout = absl::Seconds(20)});
  ASSERT_TRUE(busy.ok());
  absl::SleepFor(absl::Milliseconds(100));  // the only worker is now asleep
  auto queued = Run("echo", "late", {.timeout = absl::Milliseconds(300)});
  ASSERT_FALSE(queued.ok());
  EXPECT_EQ(queued.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(OutcomeOf(queued.status()), JobOutcome::kDeadlineExceeded);
  EXPECT_THAT(std::string(queued.status().message()), HasSubstr("queue"));
  auto slept = busy->Wait();
  ASSERT_TRUE(slept.ok()) << slept.status();
  auto stats = agent_->Stats();
  ASSERT_TRUE(stats.ok());
  for (const auto& t : stats->types()) {
    if (t.type() == "echo") {
      EXPECT_EQ(t.run_time().count(), 0u) << "the echo job must never have run";
    }
  }
}

TEST_F(JobPathTest, DeadlinePassingWhileRunningKillsTheWorkerAfterTheGrace) {
  StartAgent({.workers = 1, .extra = {"--grace=200ms"}});
  auto r = Run("hang", "", {.timeout = absl::Milliseconds(300)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("running"));
  // The hung worker is killed after the grace period and replaced.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  uint64_t restarts = 0;
  while (absl::Now() < until && restarts == 0) {
    auto stats = agent_->Stats();
    ASSERT_TRUE(stats.ok());
    restarts = stats->workers(0).restarts();
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(restarts, 1u);
  EXPECT_TRUE(agent_->WaitForReadyWorkers(1));
  EXPECT_THAT(agent_->Log(), HasSubstr("killed_deadline"));
}

TEST_F(JobPathTest, HandlerErrorReachesTheCallerWithItsMessage) {
  StartAgent();
  auto r = Run("fail", "the disk is full");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("the disk is full"));
  EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kHandlerError);
  EXPECT_FALSE(client::CouldNotStart(r.status()));

  auto thrown = Run("throw", "");
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(OutcomeOf(thrown.status()), JobOutcome::kHandlerError);
  EXPECT_THAT(std::string(thrown.status().message()), HasSubstr("handler threw"));
}

TEST_F(JobPathTest, WorkerCrashMidJobFailsTheJobAndThePoolRefills) {
  StartAgent();
  auto r = Run("crash", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kWorkerDied);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("worker died"));
  EXPECT_TRUE(agent_->WaitForReadyWorkers(2));
}

TEST(NoAgentTest, ConnectFailsWithUnavailableAndSaysWhere) {
  auto client = client::JobClient::Connect({.socket_path = "/tmp/no-such-dir-for-jobd/jobd.sock"});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("/tmp/no-such-dir-for-jobd/jobd.sock"));
}

}  // namespace
}  // namespace jobd::testing
