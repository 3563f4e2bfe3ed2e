#include "agent/supervisor.h"

#include <signal.h>
#include <sys/wait.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_process_launcher.h"

namespace jobd::agent {
namespace {

using ::testing::HasSubstr;
using testing::FakeProcessLauncher;

class ManualClock final : public coordinator::Clock {
 public:
  absl::Time Now() const override { return now; }
  absl::Time now = absl::FromUnixSeconds(1'000'000);
};

constexpr int kExit0 = 0;                 // wait status: exited with 0
constexpr int kExit1 = 1 << 8;            // exited with 1
constexpr int kKilled9 = SIGKILL;         // killed by signal 9

class SupervisorTest : public ::testing::Test {
 protected:
  Supervisor Make(uint32_t workers) {
    SupervisorOptions o;
    o.workers = workers;
    o.argv = {"/bin/worker", "--flag"};
    o.env = {"PATH=/bin", "JOBD_SOCKET=/run/jobd/jobd.sock"};
    return Supervisor(o, launcher_, clock_);
  }
  FakeProcessLauncher launcher_;
  ManualClock clock_;
};

TEST_F(SupervisorTest, StartAllLaunchesEveryWorkerWithItsTokenAndIndex) {
  Supervisor s = Make(3);
  s.StartAll();
  ASSERT_EQ(launcher_.launches.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& l = launcher_.launches[i];
    EXPECT_EQ(l.argv, (std::vector<std::string>{"/bin/worker", "--flag"}));
    EXPECT_EQ(launcher_.EnvOf(l.pid, "JOBD_WORKER_INDEX"), std::to_string(i));
    EXPECT_FALSE(launcher_.EnvOf(l.pid, "JOBD_WORKER_TOKEN").empty());
    EXPECT_EQ(launcher_.EnvOf(l.pid, "PATH"), "/bin");
  }
  EXPECT_NE(launcher_.EnvOf(launcher_.launches[0].pid, "JOBD_WORKER_TOKEN"),
            launcher_.EnvOf(launcher_.launches[1].pid, "JOBD_WORKER_TOKEN"));
  for (const SlotInfo& slot : s.Slots()) EXPECT_EQ(slot.state, SlotState::kStarting);
  EXPECT_EQ(s.ReadyCount(), 0u);
}

TEST_F(SupervisorTest, ConnectAcceptsTheIssuedTokenOnceAndOnlyFromItsPid) {
  Supervisor s = Make(1);
  s.StartAll();
  const pid_t pid = launcher_.launches[0].pid;
  const std::string token = launcher_.EnvOf(pid, "JOBD_WORKER_TOKEN");

  auto wrong_pid = s.Connect(token, pid + 1, 7);
  ASSERT_FALSE(wrong_pid.ok());
  EXPECT_EQ(wrong_pid.status().code(), absl::StatusCode::kPermissionDenied);

  auto forged = s.Connect("0-1-12345", pid, 7);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(forged.status().message()), HasSubstr("unknown worker token"));

  auto ok = s.Connect(token, pid, 7);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, 0u);
  EXPECT_EQ(s.ReadyCount(), 1u);
  EXPECT_EQ(s.SlotOfOwner(7), std::optional<uint32_t>(0));

  auto again = s.Connect(token, pid, 8);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SupervisorTest, WorkerThatLivedLongRestartsAtOnce) {
  Supervisor s = Make(1);
  s.StartAll();
  const pid_t pid = launcher_.launches[0].pid;
  clock_.now += absl::Minutes(10);
  auto exit = s.OnExit(pid, kExit0);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->reason, ExitReason::kExit);
  EXPECT_EQ(exit->restart_in, absl::ZeroDuration());
  EXPECT_EQ(launcher_.launches.size(), 2u);
  EXPECT_EQ(s.Slots()[0].restarts, 1u);
}

TEST_F(SupervisorTest, CrashLoopBacksOffExponentiallyUpToTheCap) {
  Supervisor s = Make(1);
  s.StartAll();
  std::vector<absl::Duration> backoffs;
  for (int i = 0; i < 9; ++i) {
    const pid_t pid = launcher_.launches.back().pid;
    clock_.now += absl::Milliseconds(10);  // dies young
    auto exit = s.OnExit(pid, kExit1);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->reason, ExitReason::kCrash);
    backoffs.push_back(exit->restart_in);
    const size_t launches = launcher_.launches.size();
    s.Tick();  // too early: nothing starts
    EXPECT_EQ(launcher_.launches.size(), launches) << "restart before the backoff passed";
    clock_.now += exit->restart_in;
    s.Tick();
    EXPECT_EQ(launcher_.launches.size(), launches + 1);
  }
  EXPECT_EQ(backoffs[0], absl::Milliseconds(100));
  EXPECT_EQ(backoffs[1], absl::Milliseconds(200));
  EXPECT_EQ(backoffs[2], absl::Milliseconds(400));
  EXPECT_EQ(backoffs[7], absl::Seconds(10));
  EXPECT_EQ(backoffs[8], absl::Seconds(10));
  EXPECT_EQ(s.RestartsByReason()[ExitReason::kCrash], 9u);
  auto looping = s.CrashLooping();
  ASSERT_TRUE(looping.has_value());
  EXPECT_THAT(*looping, HasSubstr("exited with status 1 at start, 9 times in a row"));
  const pid_t pid = launcher_.launches.back().pid;
  ASSERT_TRUE(s.Connect(launcher_.EnvOf(pid, "JOBD_WORKER_TOKEN"), pid, 7).ok());
  EXPECT_FALSE(s.CrashLooping().has_value()) << "a worker that connects ends the loop";
}

TEST_F(SupervisorTest, WorkerThatHadConnectedIsReplacedAtOnceEvenIfItDiedYoung) {
  Supervisor s = Make(1);
  s.StartAll();
  const pid_t pid = launcher_.launches[0].pid;
  ASSERT_TRUE(s.Connect(launcher_.EnvOf(pid, "JOBD_WORKER_TOKEN"), pid, 7).ok());
  clock_.now += absl::Milliseconds(30);
  auto exit = s.OnExit(pid, kKilled9);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->reason, ExitReason::kCrash);
  EXPECT_EQ(exit->restart_in, absl::ZeroDuration());
  EXPECT_EQ(launcher_.launches.size(), 2u);
}

TEST_F(SupervisorTest, StopAttributesTheExitToTheReasonGiven) {
  Supervisor s = Make(2);
  s.StartAll();
  const pid_t pid = launcher_.launches[1].pid;
  ASSERT_TRUE(s.Stop(1, ExitReason::kKilledDeadline, SIGKILL).ok());
  ASSERT_EQ(launcher_.signals.size(), 1u);
  EXPECT_EQ(launcher_.signals[0], std::make_pair(pid, SIGKILL));
  auto exit = s.OnExit(pid, kKilled9);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->reason, ExitReason::kKilledDeadline);
  EXPECT_EQ(exit->restart_in, absl::ZeroDuration()) << "a worker we stopped is no crash loop";
  EXPECT_EQ(exit->description, "killed by signal 9");
  EXPECT_EQ(launcher_.launches.size(), 3u);
}

TEST_F(SupervisorTest, StopOwnerLeavesAReplacementAlone) {
  Supervisor s = Make(1);
  s.StartAll();
  const pid_t first = launcher_.launches[0].pid;
  ASSERT_TRUE(s.Connect(launcher_.EnvOf(first, "JOBD_WORKER_TOKEN"), first, 7).ok());
  ASSERT_TRUE(s.OnExit(first, kKilled9).has_value());  // reaped and replaced
  ASSERT_EQ(launcher_.launches.size(), 2u);
  EXPECT_EQ(s.StopOwner(7, ExitReason::kCrash, SIGKILL).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(launcher_.signals.empty()) << "the new worker in the slot must not be killed";
}

TEST_F(SupervisorTest, UnknownPidIsNotOurs) {
  Supervisor s = Make(1);
  s.StartAll();
  EXPECT_FALSE(s.OnExit(12345, kExit0).has_value());
}

TEST_F(SupervisorTest, LaunchFailureIsRetriedWithBackoff) {
  launcher_.fail_launches = 1;
  Supervisor s = Make(1);
  s.StartAll();
  EXPECT_EQ(launcher_.launches.size(), 0u);
  EXPECT_EQ(s.Slots()[0].state, SlotState::kBackoff);
  s.Tick();
  EXPECT_EQ(launcher_.launches.size(), 0u);
  clock_.now += absl::Milliseconds(100);
  s.Tick();
  EXPECT_EQ(launcher_.launches.size(), 1u);
}

TEST_F(SupervisorTest, StopAllSignalsEveryLiveWorkerAndStopsRestarts) {
  Supervisor s = Make(2);
  s.StartAll();
  auto pids = s.StopAll(SIGTERM);
  EXPECT_EQ(pids.size(), 2u);
  EXPECT_EQ(launcher_.signals.size(), 2u);
  EXPECT_TRUE(s.OnExit(pids[0], kExit0).has_value());
  clock_.now += absl::Minutes(1);
  s.Tick();
  EXPECT_EQ(launcher_.launches.size(), 2u) << "no restart during shutdown";
}

}  // namespace
}  // namespace jobd::agent
