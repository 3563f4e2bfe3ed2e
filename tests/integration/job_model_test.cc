// The whole job model through the public SDK against a real jobd and real workers.
#include <sched.h>
#include <unistd.h>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/launcher.h"
#include "client/socket_path.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/eventually.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using client::JobOutcome;
using client::OutcomeOf;

// The calling thread on CPU 0 while this lives; processes it starts meanwhile stay there.
class OnCpu0 {
 public:
  OnCpu0() {
    sched_getaffinity(0, sizeof saved_, &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof one, &one);
  }
  ~OnCpu0() { sched_setaffinity(0, sizeof saved_, &saved_); }
  OnCpu0(const OnCpu0&) = delete;
  OnCpu0& operator=(const OnCpu0&) = delete;

 private:
  cpu_set_t saved_;
};

class JobModelTest : public ::testing::Test {
 protected:
  void StartAgent(AgentFlags flags = {}) {
    auto agent = AgentProcess::Start(std::move(flags));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    client_ = Connect();
  }
  std::unique_ptr<client::JobClient> Connect() {
    auto c = agent_->Connect();
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  void TearDown() override {
    if (agent_ == nullptr) return;
    client_.reset();
    EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
  }
  absl::StatusOr<std::string> Run(const std::string& type, const std::string& payload,
                                  client::StartOptions options = {}) {
    auto f = client_->Start(type, payload, options);
    if (!f.ok()) return f.status();
    auto r = f->Wait();
    if (!r.ok()) return r.status();
    return std::string(r->view());
  }
  const v1::WorkerStats& Worker0() {
    stats_ = *agent_->Stats();
    return stats_.workers(0);
  }
  const v1::TypeStats* TypeStats(const std::string& type) {
    stats_ = *agent_->Stats();
    for (const auto& t : stats_.types()) {
      if (t.type() == type) return &t;
    }
    return nullptr;
  }
  // Polls `check` for up to ten seconds.
  template <typename F>
  bool Eventually(F check) {
    return jobd::testing::Eventually(check, absl::Seconds(10));
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<client::JobClient> client_;
  v1::StatsReply stats_;
};

TEST_F(JobModelTest, ManualRespondWakesTheWaiterWhileTheWorkerKeepsWorking) {
  StartAgent({.workers = 1});
  auto f = client_->Start("manual", "1500", {.policy = client::Policy::kManualRespond});
  ASSERT_TRUE(f.ok()) << f.status();
  auto r = f->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "early answer");
  EXPECT_EQ(Worker0().state(), "busy") << "the handler is still running after its answer";
  EXPECT_EQ(Worker0().job_id(), f->id());
  EXPECT_TRUE(Eventually([&] { return Worker0().state() == "idle"; }));
}

TEST_F(JobModelTest, NoReplySaysOnlyWhetherItWasAcceptedAndRunsOnAfterTheCallerLeaves) {
  StartAgent({.workers = 1});
  EXPECT_TRUE(client_->StartNoReply("sleep-quiet", "300").ok());
  client_.reset();  // the caller goes away at once
  EXPECT_TRUE(Eventually([&] {
    const v1::TypeStats* t = TypeStats("sleep-quiet");
    return t != nullptr && t->outcomes().count("ok") > 0 && t->outcomes().at("ok") == 1;
  })) << "the NoReply job must finish after its session ended";
  client_ = Connect();
  absl::Status unknown = client_->StartNoReply("no-such-type", "");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(client::CouldNotStart(unknown));
}

TEST_F(JobModelTest, StartMultiStoresTheSharedPieceOnceForTheWholeBatch) {
  StartAgent({.workers = 2});
  // 3 MiB lands in the 4 MiB class, which has a single slab by default: one copy per job
  // could not even be allocated.
  std::string piece(3 << 20, '\0');
  size_t sum = 0;
  for (size_t i = 0; i < piece.size(); ++i) {
    piece[i] = static_cast<char>(i % 251);
    sum += static_cast<unsigned char>(piece[i]);
  }
  std::vector<std::string_view> requests = {"400", "400", "400", "400"};
  auto futures = client_->StartMulti("shared-size", piece, requests);
  ASSERT_EQ(futures.size(), 4u);
  for (auto& f : futures) ASSERT_TRUE(f.ok()) << f.status();
  uint32_t four_mib_in_use = 0;
  const v1::StatsReply during = *agent_->Stats();
  for (const auto& c : during.slabs()) {
    if (c.slab_size() == (4u << 20)) four_mib_in_use = c.in_use();
  }
  EXPECT_EQ(four_mib_in_use, 1u) << "one slab holds the piece for every job of the batch";
  for (auto& f : futures) {
    auto r = f->Wait();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->view(), absl::StrCat(piece.size(), ":", sum));
  }
  futures.clear();
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << "the piece is freed with the last job";
}

// Jobs that end before the agent has read the rest of their batch (found by the benchmark:
// fast handlers, the piece given back early) must not cost later jobs of the batch their piece.
TEST_F(JobModelTest, BatchesWhoseFirstJobsEndEarlyStillAllSeeThePiece) {
  // Everything on one CPU: the client is preempted between the submits of a batch, so the
  // first jobs end before the rest are read (without the fix this fails at batch 0).
  {
    OnCpu0 cpu;
    StartAgent({.workers = 2});
  }
  const std::string piece(256 * 1024, 'p');
  for (int batch = 0; batch < 200; ++batch) {
    std::vector<std::string_view> requests(8, "0");
    auto futures = client_->StartMulti("shared-size", piece, requests);
    ASSERT_EQ(futures.size(), 8u);
    for (auto& f : futures) {
      ASSERT_TRUE(f.ok()) << "batch " << batch << ": " << f.status();
      auto r = f->Wait();
      ASSERT_TRUE(r.ok()) << "batch " << batch << ": " << r.status();
      EXPECT_EQ(r->view().substr(0, r->view().find(':')), std::to_string(piece.size()));
    }
  }
  EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << "every piece is freed once its batch has answered";
}

// Where the agent has one CPU it rings the peers of a pass at the pass's end (agent/deferred_rings.h):
// many sessions at once, every one sleeping between its jobs, each still gets its own answers.
TEST_F(JobModelTest, ManySessionsOnOneCpuEachGetTheirOwnAnswers) {
  constexpr int kSessions = 8;
  constexpr int kJobs = 300;
  std::vector<std::string> wrong(kSessions);
  {
    OnCpu0 cpu;  // the agent and its workers start here, and so stay on CPU 0
    StartAgent({.workers = 2});
    std::vector<std::unique_ptr<client::JobClient>> sessions;
    for (int s = 0; s < kSessions; ++s) sessions.push_back(Connect());
    std::vector<std::thread> threads;
    for (int s = 0; s < kSessions; ++s) {
      threads.emplace_back([&, s] {
        OnCpu0 thread_cpu;
        for (int i = 0; i < kJobs && wrong[s].empty(); ++i) {
          const std::string payload = absl::StrCat("session ", s, " job ", i);
          auto f = sessions[s]->Start("echo", payload);
          if (!f.ok()) {
            wrong[s] = absl::StrCat(payload, ": ", f.status().ToString());
            continue;
          }
          auto r = f->Wait(absl::Seconds(30));
          if (!r.ok()) {
            wrong[s] = absl::StrCat(payload, ": ", r.status().ToString());
          } else if (r->view() != payload) {
            wrong[s] = absl::StrCat(payload, " answered \"", absl::string_view(r->view().data(), r->view().size()), "\"");
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  for (int s = 0; s < kSessions; ++s) EXPECT_EQ(wrong[s], "") << "session " << s;
  EXPECT_TRUE(Eventually([&] {
    const v1::TypeStats* t = TypeStats("echo");
    return t != nullptr && t->outcomes().contains("ok") && t->outcomes().at("ok") == kSessions * kJobs;
  })) << "every job ended ok, counted once";
}

TEST_F(JobModelTest, LocalFallbackRunsTheSameHandlersHereWhenNoAgentRuns) {
  client::Worker handlers;
  handlers.Handle("shout", [](client::JobContext& job) {
    std::string s(job.request_view());
    for (char& c : s) c = static_cast<char>(std::toupper(c));
    return job.Respond(s);
  });
  handlers.Handle("fail", [](client::JobContext&) -> absl::Status { return absl::InternalError("local boom"); });
  auto launcher = client::Launcher::Create({.socket_path = "/tmp/jobd-absent/jobd.sock"}, &handlers);
  EXPECT_FALSE(launcher->enabled());
  EXPECT_EQ(launcher->workers(), 1u);
  auto f = launcher->Start("shout", "quiet please");
  ASSERT_TRUE(f.ok()) << f.status();
  auto r = f->Wait();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->view(), "QUIET PLEASE");
  auto bad = launcher->Start("fail", "");
  ASSERT_TRUE(bad.ok());
  auto err = bad->Wait();
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(OutcomeOf(err.status()), JobOutcome::kHandlerError) << "the same error kinds as remotely";
  auto unknown = launcher->Start("nope", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(client::CouldNotStart(unknown.status()));
}

TEST_F(JobModelTest, LauncherUsesTheAgentWhenOneRuns) {
  StartAgent({.workers = 2});
  client::Worker handlers;
  handlers.Handle("echo", [](client::JobContext& job) { return job.Respond("local"); });
  auto launcher = client::Launcher::Create({.socket_path = agent_->socket_path()}, &handlers);
  ASSERT_TRUE(launcher->enabled());
  EXPECT_EQ(launcher->workers(), 2u);
  auto f = launcher->Start("echo", "remote");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Wait()->view(), "remote");
}

TEST_F(JobModelTest, ContextIsRestoredInTheWorkerAndNeverLeaksIntoTheNextJob) {
  StartAgent({.workers = 1});
  auto with = Run("user", "", {.context = {{"user", "alice"}}});
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(*with, "alice");
  auto without = Run("user", "");
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(*without, "") << "the previous job's context leaked";
  client_->SetBeforeStart([](std::string_view, client::Context& ctx) { ctx["user"] = "bob"; });
  auto hooked = Run("context", "");
  ASSERT_TRUE(hooked.ok());
  EXPECT_EQ(*hooked, "user=bob\n");
}

TEST_F(JobModelTest, WorkerKnowsItIsInsideAWorkerAndTheCallerKnowsTheWorkerCount) {
  StartAgent({.workers = 2});
  EXPECT_FALSE(client::IsInsideWorker());
  EXPECT_EQ(client_->workers(), 2u);
  auto r = Run("inside", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "inside a worker");
}

TEST_F(JobModelTest, StatusOfAJobGoesFromQueuedToRunningToDoneOrFailed) {
  StartAgent({.workers = 1});
  auto running = client_->Start("sleep", "600");
  auto queued = client_->Start("fail", "no");
  ASSERT_TRUE(running.ok() && queued.ok());
  EXPECT_TRUE(Eventually([&] { return client_->Status(running->id())->state == "running"; }));
  EXPECT_EQ(client_->Status(queued->id())->state, "queued");
  ASSERT_TRUE(running->Wait().ok());
  (void)queued->Wait();
  auto done = client_->Status(running->id());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, "done");
  EXPECT_EQ(done->outcome, "ok");
  EXPECT_EQ(client_->Status(queued->id())->state, "failed");
  EXPECT_EQ(client_->Status(queued->id())->outcome, "handler_error");
  EXPECT_EQ(client_->Status(12345).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobModelTest, CancelledQueuedJobNeverStarts) {
  StartAgent({.workers = 1});
  auto busy = client_->Start("sleep", "500");
  auto queued = client_->Start("counter", "");
  ASSERT_TRUE(busy.ok() && queued.ok());
  ASSERT_TRUE(client_->Cancel(*queued).ok());
  auto r = queued->Wait();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kCancelled);
  ASSERT_TRUE(busy->Wait().ok());
  auto next = Run("counter", "");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, "1") << "the cancelled counter job must never have run";
}

TEST_F(JobModelTest, CancelledRunningJobIsToldAndAHandlerThatIgnoresItIsKilledAfterTheGrace) {
  StartAgent({.workers = 1, .extra = {"--grace=300ms"}});
  auto spin = client_->Start("spin", "");
  ASSERT_TRUE(spin.ok());
  ASSERT_TRUE(Eventually([&] { return Worker0().state() == "busy" && Worker0().job_id() == spin->id(); }));
  ASSERT_TRUE(client_->Cancel(*spin).ok());
  EXPECT_EQ(OutcomeOf(spin->Wait().status()), JobOutcome::kCancelled);
  // The caller hears of the cancel at once; the handler stops when it next looks, which on a
  // loaded machine may be after the grace's timer was due (a worker that answered is not killed).
  ASSERT_TRUE(Eventually([&] { return Worker0().state() == "idle"; }));
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_EQ(Worker0().restarts(), 0u) << "a handler that stops on cancel is not killed";

  // Its handler has started, not only been dispatched: a job cancelled before the worker took it
  // from its ring is skipped and needs no kill (the agent counts it running from its dispatch).
  const std::string started = agent_->run_dir() + "/hang-started";
  auto hang = client_->Start("hang", started);
  ASSERT_TRUE(hang.ok());
  ASSERT_TRUE(Eventually([&] { return access(started.c_str(), F_OK) == 0; })) << "the hang handler never started";
  ASSERT_EQ(Worker0().job_id(), hang->id());
  ASSERT_TRUE(client_->Cancel(*hang).ok());
  EXPECT_EQ(OutcomeOf(hang->Wait().status()), JobOutcome::kCancelled);
  EXPECT_TRUE(Eventually([&] { return Worker0().restarts() == 1; })) << "ignored cancel: killed after the grace";
  EXPECT_TRUE(agent_->WaitForReadyWorkers(1));
}

TEST_F(JobModelTest, WorkerDeathIsRetriedAndTheAttemptNumberReachesTheHandler) {
  StartAgent({.workers = 1});
  client::StartOptions retry;
  retry.retry.max_attempts = 2;
  auto r = Run("attempt", "crash-first", retry);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "2");
  auto once = Run("attempt", "crash-first");
  EXPECT_EQ(OutcomeOf(once.status()), JobOutcome::kWorkerDied) << "no retry unless asked";
}

TEST_F(JobModelTest, HandlerErrorsAreRetriedOnlyWhenTheJobSaysSo) {
  StartAgent({.workers = 1});
  client::StartOptions deaths_only;
  deaths_only.retry.max_attempts = 3;
  auto not_retried = Run("fail-first", "", deaths_only);
  EXPECT_EQ(OutcomeOf(not_retried.status()), JobOutcome::kHandlerError);
  client::StartOptions errors_too = deaths_only;
  errors_too.retry.retry_handler_errors = true;
  errors_too.retry.backoff = absl::Milliseconds(20);
  auto retried = Run("fail-first", "", errors_too);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, "2");
}

TEST_F(JobModelTest, PerWorkerEnvironmentPersistsBetweenJobsUntilItsTtl) {
  StartAgent({.workers = 1});
  EXPECT_EQ(*Run("counter", ""), "1");
  EXPECT_EQ(*Run("counter", ""), "2");
  EXPECT_EQ(*Run("counter", ""), "3");
  EXPECT_EQ(*Run("counter-ttl", ""), "1");
  EXPECT_EQ(*Run("counter-ttl", ""), "2");
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(*Run("counter-ttl", ""), "1") << "expired after its 200ms TTL";
}

TEST_F(JobModelTest, StatsPerTypeCountOutcomesAndLatencies) {
  StartAgent({.workers = 2});
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Run("echo", "x").ok());
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(Run("fail", "x").ok());
  // Jobs a leased worker ran reach the agent's stats when it reads the worker's reports, which
  // can be just after the answer.
  EXPECT_TRUE(Eventually([&] {
    // Each TypeStats call reads the stats anew: look at one before asking for the other.
    const v1::TypeStats* e = TypeStats("echo");
    if (e == nullptr || e->run_time().count() != 20) return false;
    const v1::TypeStats* f = TypeStats("fail");
    return f != nullptr && f->outcomes().contains("handler_error") && f->outcomes().at("handler_error") == 3;
  }));
  const v1::TypeStats* echo = TypeStats("echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->submitted(), 20u);
  EXPECT_EQ(echo->outcomes().at("ok"), 20u);
  EXPECT_EQ(echo->run_time().count(), 20u);
  EXPECT_GT(echo->run_time().p50_us(), 0);
  EXPECT_GE(echo->queue_wait().p99_us(), echo->queue_wait().p50_us());
  const v1::TypeStats* fail = TypeStats("fail");
  ASSERT_NE(fail, nullptr);
  EXPECT_EQ(fail->outcomes().at("handler_error"), 3u);
  ProgramResult table = RunProgram({BinDir() + "/jobctl", "stats"}, {"JOBD_SOCKET=" + agent_->socket_path()});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("echo"));
  EXPECT_THAT(table.out, HasSubstr("SUBMITTED"));
}

TEST_F(JobModelTest, StartWaitsForAFreeSlabUpToTheBoundTheCallerGives) {
  StartAgent({.workers = 1, .extra = {"--size_classes=4K:1"}});
  auto holder = client_->Start("sleep-quiet", "400");  // holds the only slab while it runs
  ASSERT_TRUE(holder.ok()) << holder.status();
  auto at_once = client_->Start("sleep-quiet", "1");
  ASSERT_FALSE(at_once.ok());
  EXPECT_EQ(at_once.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(client::CouldNotStart(at_once.status()));
  auto waited = client_->Start("sleep-quiet", "1", {.slab_wait = absl::Seconds(20)});
  ASSERT_TRUE(waited.ok()) << waited.status();
  // The slab came free only when the first job ended (its completion may still be in flight).
  EXPECT_EQ(client_->Status(holder->id())->state, "done");
  EXPECT_TRUE(holder->Wait().ok());
  EXPECT_TRUE(waited->Wait().ok());
}

TEST_F(JobModelTest, SessionQuotaStopsOneCallerFromStarvingTheRest) {
  StartAgent({.workers = 1, .extra = {"--max_queued_per_session=2"}});
  auto busy = client_->Start("sleep-quiet", "300");
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE(Eventually([&] { return Worker0().state() == "busy"; }));
  std::vector<client::JobFuture> mine;
  for (int i = 0; i < 2; ++i) mine.push_back(std::move(*client_->Start("echo", "q")));
  auto over = client_->Start("echo", "q");
  ASSERT_TRUE(over.ok());
  auto rejected = over->Wait();
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(rejected.status().message()), HasSubstr("max_queued_per_session=2"));
  EXPECT_TRUE(client::CouldNotStart(rejected.status()));
  auto other = Connect();
  auto theirs = other->Start("echo", "mine");
  ASSERT_TRUE(theirs.ok());
  auto r = theirs->Wait();
  ASSERT_TRUE(r.ok()) << "another session is not starved: " << r.status();
  for (auto& f : mine) EXPECT_TRUE(f.Wait().ok());
}

TEST_F(JobModelTest, UidQuotaCountsLiveJobsAcrossAllSessionsOfThatUid) {
  StartAgent({.workers = 1, .extra = {"--max-jobs-per-uid=2"}});
  auto other = Connect();  // the same uid, another session
  auto first = client_->Start("sleep", "300");
  auto second = other->Start("sleep", "300");
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(Eventually([&] { return Worker0().state() == "busy"; }));
  auto over = other->Start("echo", "third")->Wait();
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr(absl::StrCat("uid ", getuid(), " has 2 live jobs")));
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("--max-jobs-per-uid=2"));
  ASSERT_TRUE(first->Wait().ok());
  ASSERT_TRUE(second->Wait().ok());
  auto again = other->Start("echo", "after")->Wait();
  ASSERT_TRUE(again.ok()) << "the quota counts live jobs only: " << again.status();
  EXPECT_EQ(again->view(), "after");
}

TEST_F(JobModelTest, SessionMemoryBoundsWhatOneSessionCanHoldAtAllocation) {
  StartAgent({.workers = 1, .extra = {"--session-memory=1M"}});
  EXPECT_LE(client_->max_payload(), 1u << 20);
  auto too_big = client_->Start("size", std::string(2 << 20, 'x'));
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.status().message()), HasSubstr("exceeds the largest slab"));
  // Holding responses, the session runs out of its own memory, not anyone else's.
  std::vector<client::Response> kept;
  absl::Status last;
  for (int i = 0; i < 2000 && last.ok(); ++i) {
    auto r = client_->Start("echo", std::string(60000, 'k'));
    if (!r.ok()) {
      last = r.status();
      break;
    }
    auto got = r->Wait();
    if (!got.ok()) {
      last = got.status();
      break;
    }
    kept.push_back(std::move(*got));
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kResourceExhausted) << last;
  auto other = Connect();
  auto theirs = other->Start("echo", std::string(60000, 'o'))->Wait();
  ASSERT_TRUE(theirs.ok()) << "another session has memory of its own: " << theirs.status();
  auto stats = agent_->Stats();
  ASSERT_TRUE(stats.ok());
  for (const auto& s : stats->session_list()) EXPECT_LE(s.bytes_in_use(), 1u << 20);
}

TEST_F(JobModelTest, SessionHoldingTooManySlabsCannotStartMore) {
  StartAgent({.workers = 1, .extra = {"--max_slabs_per_session=2"}});
  std::vector<client::Response> kept;  // responses still held keep their slabs
  for (int i = 0; i < 2; ++i) {
    auto r = client_->Start("echo", "keep")->Wait();
    ASSERT_TRUE(r.ok()) << r.status();
    kept.push_back(std::move(*r));
  }
  auto over = client_->Start("echo", "third")->Wait();
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("max_slabs_per_session=2"));
  kept.clear();
  auto after = client_->Start("echo", "fine")->Wait();
  ASSERT_TRUE(after.ok()) << "once the session lets go it may start again: " << after.status();
}

TEST_F(JobModelTest, WaitAnyAndWaitMultiReturnResultsOfTheirOwnJobs) {
  StartAgent({.workers = 2});
  std::vector<client::JobFuture> futures;
  futures.push_back(std::move(*client_->Start("sleep", "400")));
  futures.push_back(std::move(*client_->Start("echo", "fast")));
  auto first = client::WaitAny(futures, absl::Seconds(20));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1u) << "the echo job ends first";
  auto all = client::WaitMulti(futures, absl::Seconds(20));
  ASSERT_EQ(all.size(), 2u);
  ASSERT_TRUE(all[0].ok() && all[1].ok());
  EXPECT_EQ(all[0]->view(), "slept 400ms");
  EXPECT_EQ(all[1]->view(), "fast");
}

TEST_F(JobModelTest, WorkerIsRecycledAfterItsMaximumNumberOfJobs) {
  StartAgent({.workers = 1, .extra = {"--worker_max_jobs=3"}});
  for (int i = 0; i < 7; ++i) {
    auto r = Run("counter", "");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, std::to_string(i % 3 + 1)) << "a fresh process starts with a fresh environment";
  }
  EXPECT_TRUE(Eventually([&] { return Worker0().restarts() == 2; }));
  EXPECT_THAT(agent_->Log(), HasSubstr("[recycled]"));
}

TEST_F(JobModelTest, ALaneAnswerOutlivesTheRecycledWorkerThatGaveIt) {
  // Job 1 goes through the agent and leases the worker to this session with one job left
  // before its recycling; job 2 takes the lane. The client reads job 2's answer only after the
  // worker has exited and been reaped (the agent then reclaims whatever it still held).
  StartAgent({.workers = 1, .extra = {"--worker_max_jobs=2"}});
  ASSERT_EQ(*Run("counter", ""), "1");
  auto f = client_->Start("counter", "");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(Eventually([&] { return Worker0().restarts() == 1; }));
  auto r = f->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "2");
}

TEST_F(JobModelTest, InteractiveJobsPassBatchJobsInTheQueue) {
  StartAgent({.workers = 1});
  auto busy = client_->Start("sleep-quiet", "300");
  ASSERT_TRUE(Eventually([&] { return Worker0().state() == "busy"; }));
  std::vector<client::JobFuture> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(std::move(*client_->Start("counter", "", {.priority = client::Priority::kBatch})));
  auto interactive = client_->Start("counter", "");
  ASSERT_TRUE(interactive.ok());
  EXPECT_EQ(interactive->Wait()->view(), "1") << "the interactive job ran first";
  for (auto& f : batch) EXPECT_NE(f.Wait()->view(), "1");
}

}  // namespace
}  // namespace jobd::testing
