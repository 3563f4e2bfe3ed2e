#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_F(CoordinatorTest, QueuedJobsGoToIdleWorkersInFifoOrder) {
  EXPECT_TRUE(Submit(Req(1)).dispatches.empty()) << "no worker yet";
  Submit(Req(2));
  Submit(Req(3));
  EXPECT_EQ(c_->QueueDepth(), 3u);
  EXPECT_THAT(DispatchedIds(AddWorker(kW1)), ElementsAre(1));
  EXPECT_THAT(DispatchedIds(AddWorker(kW2)), ElementsAre(2));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 1)), ElementsAre(3));
  EXPECT_EQ(c_->QueueDepth(), 0u);
}

TEST_F(CoordinatorTest, ResponseMovesToTheSessionAndTheRequestIsFreed) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  const shm::Handle request = r.request.handle;
  Effects d = Submit(std::move(r));
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner);
  EXPECT_EQ(d.dispatches[0].request.handle, request);
  const shm::Handle response = ledger_.Allocate(kW1);
  auto fx = c_->JobFinished(kW1, 1, SlabRef{response, 8});
  ASSERT_TRUE(fx.ok());
  ASSERT_EQ(fx->completions.size(), 1u);
  const Completion& done = fx->completions[0];
  EXPECT_EQ(done.outcome, Outcome::kOk);
  EXPECT_TRUE(done.deliver);
  EXPECT_EQ(done.response.handle, response);
  EXPECT_EQ(ledger_.OwnerOf(response), kS);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner) << "the request slab is freed";
  EXPECT_EQ(c_->LiveJobs(), 0u);
}

TEST_F(CoordinatorTest, InteractiveJobsPassBatchJobsInTheQueue) {
  JobRequest batch = Req(1);
  batch.priority = Priority::kBatch;
  Submit(std::move(batch));
  Submit(Req(2));
  EXPECT_THAT(DispatchedIds(AddWorker(kW1)), ElementsAre(2));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), ElementsAre(1));
}

TEST_F(CoordinatorTest, JobsGoOnlyToWorkersThatHandleTheirType) {
  AddWorker(kW1, {"echo"});
  AddWorker(kW2, {"resize"});  // idle most recently: first choice for a job it handles
  Effects echo = Submit(Req(1, "echo"));
  ASSERT_EQ(echo.dispatches.size(), 1u);
  EXPECT_EQ(echo.dispatches[0].worker, kW1);
  Effects resize = Submit(Req(2, "resize"));
  ASSERT_EQ(resize.dispatches.size(), 1u);
  EXPECT_EQ(resize.dispatches[0].worker, kW2);
  Submit(Req(3, "resize"));
  EXPECT_TRUE(Finish(kW1, 1).dispatches.empty()) << "the echo worker must not take a resize job";
  EXPECT_THAT(DispatchedIds(Finish(kW2, 2)), ElementsAre(3));
}

TEST_F(CoordinatorTest, DeadlinePassingInTheQueueFailsTheJobAndItNeverStarts) {
  JobRequest r = Req(1, "echo", kS, absl::Milliseconds(500));
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_TRUE(c_->Tick().completions.empty());
  EXPECT_EQ(c_->NextWakeup(), clock_.Now() + absl::Milliseconds(1));
  clock_.Advance(absl::Milliseconds(1));
  Effects fx = c_->Tick();
  ASSERT_EQ(fx.completions.size(), 1u);
  EXPECT_EQ(fx.completions[0].outcome, Outcome::kDeadlineExceeded);
  EXPECT_EQ(fx.completions[0].status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(fx.completions[0].status.message()), HasSubstr("in the queue"));
  EXPECT_TRUE(fx.completions[0].deliver);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  EXPECT_TRUE(AddWorker(kW1).dispatches.empty()) << "a job past its deadline never starts";
  EXPECT_EQ(c_->Stats().at("echo").run_time.count(), 0u);
}

TEST_F(CoordinatorTest, DeadlinePassingWhileRunningCompletesAtOnceAndKillsTheWorkerAfterTheGrace) {
  AddWorker(kW1);
  JobRequest r = Req(1, "echo", kS, absl::Seconds(2));
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  clock_.Advance(absl::Seconds(2));
  Effects fx = c_->Tick();
  ASSERT_EQ(fx.completions.size(), 1u);
  EXPECT_EQ(fx.completions[0].outcome, Outcome::kDeadlineExceeded);
  EXPECT_THAT(std::string(fx.completions[0].status.message()), HasSubstr("still running"));
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner) << "the worker may still read it";
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_TRUE(c_->Tick().kills.empty());
  clock_.Advance(absl::Milliseconds(1));
  fx = c_->Tick();
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].worker, kW1);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kDeadline);
  EXPECT_EQ(fx.kills[0].job, 1u);
  fx = c_->WorkerGone(kW1);
  EXPECT_TRUE(fx.completions.empty()) << "one completion per job";
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, ALateResultAfterTheDeadlineIsFreedAndTheWorkerServesAgain) {
  AddWorker(kW1);
  Submit(Req(1, "echo", kS, absl::Seconds(1)));
  Submit(Req(2));
  clock_.Advance(absl::Seconds(1));
  c_->Tick();
  const shm::Handle late = ledger_.Allocate(kW1);
  auto fx = c_->JobFinished(kW1, 1, SlabRef{late, 8});
  ASSERT_TRUE(fx.ok());
  EXPECT_TRUE(fx->completions.empty());
  EXPECT_EQ(ledger_.OwnerOf(late), shm::kNoOwner);
  EXPECT_THAT(DispatchedIds(*fx), ElementsAre(2));
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(c_->Tick().kills.empty()) << "the kill was called off when the worker finished";
}

TEST_F(CoordinatorTest, SessionEndingCancelsItsJobsButNoReplyJobsRunOn) {
  AddWorker(kW1);
  Submit(Req(1));             // running
  Submit(Req(2));             // queued
  JobRequest fire = Req(3);   // queued, NoReply
  fire.policy = Policy::kNoReply;
  Submit(std::move(fire));
  Effects fx = c_->CloseSession(kS);
  ASSERT_EQ(fx.completions.size(), 2u);
  for (const Completion& c : fx.completions) {
    EXPECT_EQ(c.outcome, Outcome::kCancelled);
    EXPECT_FALSE(c.deliver);
  }
  ASSERT_EQ(fx.cancels.size(), 1u);
  EXPECT_EQ(fx.cancels[0].id, 1u);
  EXPECT_EQ(c_->QueueDepth(), 1u) << "the NoReply job stays queued";
  // The running job's worker answers anyway: its response is freed, and it takes the NoReply job.
  const shm::Handle late = ledger_.Allocate(kW1);
  auto done = c_->JobFinished(kW1, 1, SlabRef{late, 8});
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(ledger_.OwnerOf(late), shm::kNoOwner);
  EXPECT_THAT(DispatchedIds(*done), ElementsAre(3));
  Effects last = Finish(kW1, 3);
  ASSERT_EQ(last.completions.size(), 1u);
  EXPECT_EQ(last.completions[0].outcome, Outcome::kOk);
  EXPECT_FALSE(last.completions[0].deliver);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_EQ(ledger_.CountOwnedBy(kW1), 0u) << "a response nobody waits for is freed";
}

TEST_F(CoordinatorTest, RunningJobOfAClosedSessionIsKilledAfterTheGraceIfItGoesOn) {
  AddWorker(kW1);
  Submit(Req(1));
  c_->CloseSession(kS);
  clock_.Advance(absl::Seconds(1));
  Effects fx = c_->Tick();
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kCancelled);
}

TEST_F(CoordinatorTest, WorkerDyingFailsItsJobWithWorkerDied) {
  AddWorker(kW1);
  Submit(Req(1));
  Effects fx = c_->WorkerGone(kW1);
  ASSERT_EQ(fx.completions.size(), 1u);
  EXPECT_EQ(fx.completions[0].outcome, Outcome::kWorkerDied);
  EXPECT_EQ(fx.completions[0].status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(fx.completions[0].status.message()), HasSubstr("worker died while running job 1"));
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_TRUE(c_->Workers().empty());
}

TEST_F(CoordinatorTest, WorkerDeathIsRetriedWhenAskedAndTheAttemptNumberGrows) {
  AddWorker(kW1);
  AddWorker(kW2);
  JobRequest r = Req(1);
  r.retry.max_attempts = 3;
  Effects fx = Submit(std::move(r));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 1u);
  const WorkerId first = fx.dispatches[0].worker;
  fx = c_->WorkerGone(first);
  EXPECT_TRUE(fx.completions.empty());
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 2u);
  fx = c_->WorkerGone(fx.dispatches[0].worker);
  EXPECT_TRUE(fx.completions.empty()) << "attempt 3 is still allowed";
  AddWorker(kW3);
  auto st = c_->Status(1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->attempt, 3u);
  EXPECT_EQ(st->state, JobState::kRunning);
  fx = c_->WorkerGone(kW3);
  ASSERT_EQ(fx.completions.size(), 1u);
  EXPECT_EQ(fx.completions[0].outcome, Outcome::kWorkerDied);
  EXPECT_EQ(fx.completions[0].attempts, 3u);
}

TEST_F(CoordinatorTest, RetryWaitsForItsBackoffWhichDoubles) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  r.retry = {3, absl::Milliseconds(100), true};
  Submit(std::move(r));
  auto fx = c_->JobFinished(kW1, 1, absl::InternalError("boom"));
  ASSERT_TRUE(fx.ok());
  EXPECT_TRUE(fx->dispatches.empty());
  EXPECT_TRUE(fx->completions.empty());
  clock_.Advance(absl::Milliseconds(99));
  EXPECT_TRUE(c_->Tick().dispatches.empty());
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(DispatchedIds(c_->Tick()), ElementsAre(1));
  fx = c_->JobFinished(kW1, 1, absl::InternalError("boom"));
  clock_.Advance(absl::Milliseconds(199));
  EXPECT_TRUE(c_->Tick().dispatches.empty());
  clock_.Advance(absl::Milliseconds(1));
  Effects third = c_->Tick();
  ASSERT_EQ(third.dispatches.size(), 1u);
  EXPECT_EQ(third.dispatches[0].attempt, 3u);
}

TEST_F(CoordinatorTest, HandlerErrorIsFinalUnlessTheJobAsksForRetries) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  r.retry.max_attempts = 3;  // retries worker deaths, not handler errors
  Submit(std::move(r));
  auto fx = c_->JobFinished(kW1, 1, absl::FailedPreconditionError("disk full"));
  ASSERT_TRUE(fx.ok());
  ASSERT_EQ(fx->completions.size(), 1u);
  EXPECT_EQ(fx->completions[0].outcome, Outcome::kHandlerError);
  EXPECT_EQ(fx->completions[0].status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fx->completions[0].status.message()), HasSubstr("disk full"));
}

struct BadSubmit {
  std::string name;
  std::function<void(JobRequest&)> mutate;
  absl::StatusCode code;
  std::string words;
};

TEST_F(CoordinatorTest, EveryBadSubmitGetsAClearErrorAndChangesNothing) {
  AddWorker(kW1, {"echo"});
  Submit(Req(100));  // occupies the worker
  const std::vector<BadSubmit> cases = {
      {"empty type", [](JobRequest& r) { r.type = ""; }, absl::StatusCode::kInvalidArgument, "empty"},
      {"long type", [](JobRequest& r) { r.type = std::string(200, 'x'); }, absl::StatusCode::kInvalidArgument,
       "longer than"},
      {"space in type", [](JobRequest& r) { r.type = "a b"; }, absl::StatusCode::kInvalidArgument, "printable"},
      {"negative timeout", [](JobRequest& r) { r.timeout = absl::Seconds(-1); }, absl::StatusCode::kInvalidArgument,
       "negative"},
      {"absurd timeout", [](JobRequest& r) { r.timeout = absl::Hours(1000); }, absl::StatusCode::kInvalidArgument,
       "maximum"},
      {"big context", [](JobRequest& r) { r.context["k"] = std::string(5000, 'v'); },
       absl::StatusCode::kInvalidArgument, "context"},
      {"zero attempts", [](JobRequest& r) { r.retry.max_attempts = 0; }, absl::StatusCode::kInvalidArgument,
       "max_attempts"},
      {"unknown type", [](JobRequest& r) { r.type = "resize"; }, absl::StatusCode::kNotFound, "known: echo"},
      {"duplicate id", [](JobRequest& r) { r.id = 100; }, absl::StatusCode::kAlreadyExists, "already live"},
      {"unknown session", [](JobRequest& r) { r.session = 99; }, absl::StatusCode::kFailedPrecondition, "not open"},
      {"foreign slab", [this](JobRequest& r) { r.request.handle = ledger_.Allocate(kS2); },
       absl::StatusCode::kPermissionDenied, "held by owner 11"},
      {"stale slab", [](JobRequest& r) { r.request.handle = shm::Handle::Make(0, 9999, 1); },
       absl::StatusCode::kFailedPrecondition, "stale"},
      {"size beyond slab", [](JobRequest& r) { r.request.size = 1 << 20; }, absl::StatusCode::kOutOfRange, "exceeds"},
      {"size without slab", [](JobRequest& r) { r.request = {shm::Handle(), 10}; },
       absl::StatusCode::kInvalidArgument, "no slab"},
      {"NoReply with shared", [this](JobRequest& r) {
         r.policy = Policy::kNoReply;
         r.shared = {ledger_.Allocate(kS), 10};
       }, absl::StatusCode::kInvalidArgument, "cannot share"},
  };
  for (const BadSubmit& b : cases) {
    JobRequest r = Req(1);
    b.mutate(r);
    const shm::Handle request = r.request.handle;
    const shm::OwnerId owner_before = ledger_.OwnerOf(request);
    const size_t live_before = ledger_.LiveSlabs();
    auto fx = c_->Submit(std::move(r));
    ASSERT_FALSE(fx.ok()) << b.name;
    EXPECT_EQ(fx.status().code(), b.code) << b.name << ": " << fx.status();
    EXPECT_THAT(std::string(fx.status().message()), HasSubstr(b.words)) << b.name;
    EXPECT_EQ(ledger_.OwnerOf(request), owner_before) << b.name;
    EXPECT_EQ(ledger_.LiveSlabs(), live_before) << b.name;
    EXPECT_EQ(c_->QueueDepth(), 0u) << b.name;
    EXPECT_EQ(c_->LiveJobs(), 1u) << b.name;
  }
}

TEST_F(CoordinatorTest, FullQueueAndSessionQuotaAreResourceExhaustedNamingTheLimit) {
  CoordinatorOptions o;
  o.max_queue = 3;
  o.max_queued_per_session = 2;
  Make(o);
  Submit(Req(1));
  Submit(Req(2));
  auto quota = c_->Submit(Req(3));
  ASSERT_FALSE(quota.ok());
  EXPECT_EQ(quota.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(quota.status().message()), HasSubstr("max_queued_per_session=2"));
  Submit(Req(4, "echo", kS2));
  auto full = c_->Submit(Req(5, "echo", kS2));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.status().message()), HasSubstr("max_queue=3"));
}

TEST_F(CoordinatorTest, ManualRespondDeliversEarlyWhileTheWorkerStaysBusy) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  r.policy = Policy::kManualRespond;
  Submit(std::move(r));
  Submit(Req(2));
  const shm::Handle early = ledger_.Allocate(kW1);
  auto fx = c_->EarlyResponse(kW1, 1, SlabRef{early, 4});
  ASSERT_TRUE(fx.ok()) << fx.status();
  ASSERT_EQ(fx->completions.size(), 1u);
  EXPECT_TRUE(fx->completions[0].deliver);
  EXPECT_EQ(ledger_.OwnerOf(early), kS);
  EXPECT_TRUE(fx->dispatches.empty()) << "the worker is still busy with job 1";
  EXPECT_EQ(c_->Workers()[0].state, WorkerState::kBusy);
  auto second = c_->EarlyResponse(kW1, 1, SlabRef{ledger_.Allocate(kW1), 4});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("second response"));
  auto done = c_->JobFinished(kW1, 1, SlabRef{});
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->completions.empty()) << "the early answer was the completion";
  EXPECT_THAT(DispatchedIds(*done), ElementsAre(2));
}

TEST_F(CoordinatorTest, EarlyResponseIsOnlyForManualRespondJobs) {
  AddWorker(kW1);
  Submit(Req(1));
  auto fx = c_->EarlyResponse(kW1, 1, SlabRef{ledger_.Allocate(kW1), 4});
  ASSERT_FALSE(fx.ok());
  EXPECT_THAT(std::string(fx.status().message()), HasSubstr("not ManualRespond"));
}

TEST_F(CoordinatorTest, CancelOfAQueuedJobMeansItNeverStarts) {
  Submit(Req(1));
  auto fx = c_->Cancel(kS, 1);
  ASSERT_TRUE(fx.ok());
  ASSERT_EQ(fx->completions.size(), 1u);
  EXPECT_EQ(fx->completions[0].outcome, Outcome::kCancelled);
  EXPECT_TRUE(fx->completions[0].deliver);
  EXPECT_TRUE(AddWorker(kW1).dispatches.empty());
  EXPECT_EQ(c_->Cancel(kS, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, CancelOfARunningJobTellsTheWorkerThenKillsIt) {
  AddWorker(kW1);
  Submit(Req(1));
  EXPECT_EQ(c_->Cancel(kS2, 1).status().code(), absl::StatusCode::kNotFound) << "not another session's";
  auto fx = c_->Cancel(kS, 1);
  ASSERT_TRUE(fx.ok());
  ASSERT_EQ(fx->cancels.size(), 1u);
  EXPECT_EQ(fx->cancels[0].worker, kW1);
  clock_.Advance(absl::Seconds(1));
  Effects kill = c_->Tick();
  ASSERT_EQ(kill.kills.size(), 1u);
  EXPECT_EQ(kill.kills[0].reason, KillReason::kCancelled);
}

TEST_F(CoordinatorTest, StatusFollowsTheJobFromQueuedToDone) {
  Submit(Req(1));
  EXPECT_EQ(c_->Status(1)->state, JobState::kQueued);
  AddWorker(kW1);
  EXPECT_EQ(c_->Status(1)->state, JobState::kRunning);
  Finish(kW1, 1);
  auto st = c_->Status(1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, JobState::kDone);
  EXPECT_EQ(st->outcome, Outcome::kOk);
  Submit(Req(2));
  c_->JobFinished(kW1, 2, absl::InternalError("x")).IgnoreError();
  EXPECT_EQ(c_->Status(2)->state, JobState::kFailed);
  EXPECT_EQ(c_->Status(2)->outcome, Outcome::kHandlerError);
  EXPECT_EQ(c_->Status(77).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, WorkerIsRecycledAfterItsMaximumJobs) {
  CoordinatorOptions o;
  o.worker_max_jobs = 2;
  Make(o);
  AddWorker(kW1);
  Submit(Req(1));
  Submit(Req(2));
  Submit(Req(3));
  EXPECT_TRUE(Finish(kW1, 1).kills.empty());
  Effects fx = Finish(kW1, 2);
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kRecycle);
  EXPECT_TRUE(fx.dispatches.empty()) << "a draining worker gets no more jobs";
  EXPECT_THAT(DispatchedIds(AddWorker(kW2)), ElementsAre(3));
}

TEST_F(CoordinatorTest, SharedPieceIsHeldOnceAndFreedWithTheLastJobOfTheBatch) {
  AddWorker(kW1);
  const shm::Handle piece = ledger_.Allocate(kS, 1 << 20);
  for (JobId id = 1; id <= 3; ++id) {
    JobRequest r = Req(id);
    r.shared = {piece, 1000};
    Effects fx = Submit(std::move(r));
    if (!fx.dispatches.empty()) {
      EXPECT_EQ(fx.dispatches[0].shared.handle, piece);
    }
  }
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kAgentOwner);
  Finish(kW1, 1);
  Finish(kW1, 2);
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kAgentOwner) << "job 3 still reads it";
  Finish(kW1, 3);
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kNoOwner);
  JobRequest other = Req(4, "echo", kS2);
  other.shared = {piece, 10};
  EXPECT_FALSE(c_->Submit(std::move(other)).ok()) << "a freed piece cannot be reused";
}

TEST_F(CoordinatorTest, StatsCountOutcomesAndLatenciesPerType) {
  AddWorker(kW1);
  Submit(Req(1));
  clock_.Advance(absl::Milliseconds(30));
  Finish(kW1, 1);
  Submit(Req(2));
  c_->JobFinished(kW1, 2, absl::InternalError("x")).IgnoreError();
  const TypeStats& s = c_->Stats().at("echo");
  EXPECT_EQ(s.submitted, 2u);
  EXPECT_EQ(s.outcomes.at(Outcome::kOk), 1u);
  EXPECT_EQ(s.outcomes.at(Outcome::kHandlerError), 1u);
  EXPECT_EQ(s.run_time.count(), 2u);
  EXPECT_GE(s.run_time.Quantile(0.99), absl::Milliseconds(30));
  EXPECT_LE(s.run_time.Quantile(0.99), absl::Milliseconds(40));
}

TEST(LatencyHistogramTest, QuantilesLandWithinABucketOfTheTruth) {
  LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Record(absl::Microseconds(i * 10));
  EXPECT_EQ(h.count(), 1000u);
  const double p50 = absl::ToDoubleMicroseconds(h.Quantile(0.5));
  const double p99 = absl::ToDoubleMicroseconds(h.Quantile(0.99));
  EXPECT_GE(p50, 5000);
  EXPECT_LE(p50, 5000 * 1.26);
  EXPECT_GE(p99, 9900);
  EXPECT_LE(p99, 9900 * 1.26);
  EXPECT_NEAR(absl::ToDoubleMicroseconds(h.Mean()), 5005, 1);
}

}  // namespace
}  // namespace jobd::coordinator
