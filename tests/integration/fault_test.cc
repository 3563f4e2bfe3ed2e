// Faults under load, with the real agent: workers SIGKILLed mid-job, a client SIGKILLed with
// jobs and slabs in flight, a worker binary that crashes at start, a full queue.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using client::JobOutcome;
using client::OutcomeOf;

TEST(FaultTest, TwoHundredWorkerKillsUnderLoadLoseNoJobAndLeakNoSlab) {
  auto agent = AgentProcess::Start({.workers = 2, .extra = {"--grace=100ms"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, died{0}, other{0}, hung{0}, retried_ok{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&, t] {
      auto client = (*agent)->Connect();
      if (!client.ok()) { ++other; return; }
      client::StartOptions options{.timeout = absl::Seconds(30)};
      if (t == 0) options.retry.max_attempts = 5;  // this caller asks for retries
      while (!stop.load()) {
        auto f = (*client)->Start("sleep", "15", options);
        if (!f.ok()) { ++other; continue; }
        auto r = f->Wait(absl::Seconds(60));
        if (r.ok()) {
          ++ok;
          if (t == 0) ++retried_ok;
        } else if (OutcomeOf(r.status()) == JobOutcome::kWorkerDied) {
          ++died;
        } else if (r.status().code() == absl::StatusCode::kDeadlineExceeded &&
                   OutcomeOf(r.status()) == JobOutcome::kDeadlineExceeded &&
                   r.status().message().find("not finished after") != absl::string_view::npos) {
          ++hung;
        } else {
          ++other;
          std::fprintf(stderr, "unexpected: %s\n", r.status().ToString().c_str());
        }
      }
    });
  }
  int kills = 0;
  absl::Duration worst_refill;
  for (int attempt = 0; kills < 200 && attempt < 20000; ++attempt) {
    auto stats = (*agent)->Stats();
    ASSERT_TRUE(stats.ok());
    pid_t victim = 0;
    for (const auto& w : stats->workers()) {
      if (w.state() == "busy") victim = w.pid();
    }
    if (victim == 0) {
      absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    kill(victim, SIGKILL);
    ++kills;
    const absl::Time killed = absl::Now();
    ASSERT_TRUE((*agent)->WaitForReadyWorkers(2, absl::Seconds(10))) << "pool not refilled after kill " << kills;
    // Ready means both slots have a connected process other than the victim.
    worst_refill = std::max(worst_refill, absl::Now() - killed);
  }
  stop.store(true);
  for (auto& th : load) th.join();
  std::printf("kills %d, jobs ok %d (retrying caller %d), worker_died %d, hung %d, other %d, worst refill %s\n",
              kills, ok.load(), retried_ok.load(), died.load(), hung.load(), other.load(),
              absl::FormatDuration(worst_refill).c_str());
  EXPECT_EQ(kills, 200);
  EXPECT_EQ(hung.load(), 0) << "every job ends";
  EXPECT_EQ(other.load(), 0) << "jobs end answered or with worker_died, nothing else";
  EXPECT_GT(died.load(), 0);
  EXPECT_GT(retried_ok.load(), 0);
  EXPECT_LT(worst_refill, absl::Seconds(10));
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

TEST(FaultTest, KilledClientsSlabsComeBackItsNoReplyJobRunsAndOthersSeeNothing) {
  auto agent = AgentProcess::Start({.workers = 2, .extra = {"--grace=200ms"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const pid_t victim = StartClientVictim((*agent)->socket_path());
  ASSERT_NE(victim, 0) << "client_victim never said ready";
  EXPECT_GE((*agent)->WaitForSlabsInUse(999, absl::Milliseconds(1)), 4u) << "the victim holds slabs";

  auto other = (*agent)->Connect();
  ASSERT_TRUE(other.ok());
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  const absl::Time killed = absl::Now();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0, absl::Seconds(10)), 0u) << (*agent)->Log();
  const absl::Duration reclaimed_in = absl::Now() - killed;
  std::printf("slabs of the killed client back in %s\n", absl::FormatDuration(reclaimed_in).c_str());
  for (int i = 0; i < 20; ++i) {
    auto r = (*other)->Start("echo", absl::StrCat("other ", i))->Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->view(), absl::StrCat("other ", i));
  }
  bool no_reply_ran = false;
  for (int i = 0; i < 500 && !no_reply_ran; ++i) {
    const v1::StatsReply stats = *(*agent)->Stats();
    for (const auto& t : stats.types()) {
      if (t.type() == "sleep-quiet" && t.outcomes().count("ok") > 0) no_reply_ran = true;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(no_reply_ran) << "the NoReply job runs on after its caller died";
}

TEST(FaultTest, CrashLoopingPoolAnswersJobsWithUnavailableAndDoesNotSpin) {
  char dir[] = "/tmp/jobd-crashloop.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  chmod(dir, 0750);
  const std::string log = std::string(dir) + "/jobd.log";
  const pid_t jobd = fork();
  if (jobd == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    execl((BinDir() + "/jobd").c_str(), "jobd", (std::string("--run-dir=") + dir).c_str(), "--workers=2",
          "--worker-cmd=/bin/false", "--metrics-address=", nullptr);
    _exit(127);
  }
  absl::SleepFor(absl::Milliseconds(1500));
  auto client = client::JobClient::Connect({.socket_path = std::string(dir) + "/jobd.sock"});
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = (*client)->Start("echo", "x")->Wait(absl::Seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("keeps failing"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("exited with status 1"));
  client->reset();
  kill(jobd, SIGTERM);
  int status = 0;
  waitpid(jobd, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Backoff 100ms, 200ms, 400ms, 800ms...: a handful of starts in 1.5 s per slot, not hundreds.
  std::ifstream in(log);
  std::string line;
  int starts = 0;
  while (std::getline(in, line)) starts += line.find("started: pid") != std::string::npos;
  std::printf("worker starts in 1.5s with a crashing binary: %d\n", starts);
  EXPECT_GE(starts, 4);
  EXPECT_LE(starts, 16);
  std::filesystem::remove_all(dir);
}

TEST(FaultTest, AgentKilledUnderLoadClientsGetUnavailableAndReconnectToTheNextAgent) {
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  std::vector<pid_t> old_workers;
  const v1::StatsReply before = *(*agent)->Stats();
  for (const auto& w : before.workers()) old_workers.push_back(w.pid());
  std::vector<client::JobFuture> pending;
  for (int i = 0; i < 6; ++i) pending.push_back(std::move(*(*client)->Start("sleep", "2000")));

  (*agent)->Kill();  // SIGKILL: no drain, socket and arena files left behind
  for (auto& f : pending) {
    auto r = f.Wait(absl::Seconds(30));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kDisconnected);
  }
  pending.clear();
  auto down = (*client)->Start("echo", "while down");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(client::CouldNotStart(down.status()));
  // The old agent's workers die with it.
  for (pid_t pid : old_workers) {
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      gone = kill(pid, 0) != 0;
      if (!gone) absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_TRUE(gone) << "orphaned worker " << pid << " still runs";
  }
  EXPECT_EQ(access(((*agent)->run_dir() + "/jobd.sock").c_str(), F_OK), 0) << "a stale socket is left";

  ASSERT_TRUE((*agent)->Restart().ok()) << "a stale socket or arena must not stop the new agent";
  bool back = false;
  for (int i = 0; i < 1000 && !back; ++i) {
    back = (*client)->enabled();
    if (!back) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(back) << "the SDK reconnects by itself";
  EXPECT_EQ((*client)->reconnects(), 1u);
  auto r = (*client)->Start("echo", "after restart")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "after restart");
}

TEST(FaultTest, AgentKilledUnderEightSubmittingThreadsLeavesNoJobUnanswered) {
  // Jobs started within microseconds of the kill race the session's end: each must still get an
  // answer (an error, here) well within its own timeout, whatever the interleaving.
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    auto client = (*agent)->Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0}, unanswered{0}, not_started{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        while (!stop.load()) {
          auto f = (*client)->Start("echo", "racing the kill", {.timeout = absl::Seconds(5)});
          if (!f.ok()) {
            ++not_started;
            continue;
          }
          auto r = f->Wait(absl::Seconds(30));
          if (!r.ok() && absl::StrContains(r.status().message(), "not finished after")) {
            ++unanswered;
          } else {
            ++answered;
          }
        }
      });
    }
    absl::SleepFor(absl::Milliseconds(200 + 50 * round));
    (*agent)->Kill();
    absl::SleepFor(absl::Milliseconds(200));
    stop.store(true);
    for (auto& t : threads) t.join();
    EXPECT_EQ(unanswered.load(), 0) << "jobs left waiting past their own timeout";
    EXPECT_GT(answered.load(), 0);
    client->reset();
    ASSERT_TRUE((*agent)->Restart().ok());
  }
}

TEST(FaultTest, LeakyWorkerIsRecycledPastTheMemoryLimitWithoutFailingAJob) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--worker_max_rss=64M"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 6; ++i) {
    auto r = (*client)->Start("leak", "30")->Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << "job " << i << ": " << r.status();
    EXPECT_EQ(r->view(), "leaked 30 MiB");
    absl::SleepFor(absl::Milliseconds(300));  // the agent samples memory every 200ms
  }
  const v1::StatsReply stats = *(*agent)->Stats();
  EXPECT_GE(stats.workers(0).restarts(), 1u);
  EXPECT_LT(stats.workers(0).rss_bytes(), 200u << 20) << "the leak never piles up past a few jobs";
  EXPECT_THAT((*agent)->Log(), HasSubstr("over --worker_max_rss"));
  EXPECT_THAT((*agent)->Log(), HasSubstr("[killed_rss]"));
}

TEST(FaultTest, FullQueueIsResourceExhaustedAndJobsFlowAgainWhenItDrains) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--max_queue=2"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto busy = (*client)->Start("sleep", "300");
  absl::SleepFor(absl::Milliseconds(100));
  std::vector<client::JobFuture> queued;
  for (int i = 0; i < 2; ++i) queued.push_back(std::move(*(*client)->Start("echo", "q")));
  auto full = (*client)->Start("echo", "over")->Wait();
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.status().message()), HasSubstr("queue full"));
  EXPECT_TRUE(busy->Wait().ok());
  for (auto& f : queued) EXPECT_TRUE(f.Wait().ok());
  auto again = (*client)->Start("echo", "flows")->Wait();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->view(), "flows");
}

}  // namespace
}  // namespace jobd::testing
