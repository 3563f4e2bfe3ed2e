// Time: deadlines in the queue and while running, the grace before a kill, retries and their
// backoff, and what NextWakeup says. The fake clock moves only when a test moves it.
#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(CoordinatorTest, DeadlinePassingInTheQueueFailsTheJobAndItNeverStarts) {
  JobRequest r = Req(1, "echo", kS, absl::Milliseconds(500));
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_TRUE(c_->Tick().empty());
  EXPECT_EQ(c_->NextWakeup(), clock_.Now() + absl::Milliseconds(1));
  clock_.Advance(absl::Milliseconds(1));
  const Completion c = OnlyCompletion(c_->Tick());
  EXPECT_EQ(c.outcome, Outcome::kDeadlineExceeded);
  EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(Message(c.status), HasSubstr("job 1 (type echo) waited 500ms in the queue past its timeout of 500ms"));
  EXPECT_TRUE(c.deliver);
  EXPECT_EQ(c.queue_wait, absl::Milliseconds(500));
  EXPECT_EQ(c.run_time, absl::ZeroDuration());
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  EXPECT_EQ(c_->QueueDepth(), 0u);
  EXPECT_EQ(c_->NextWakeup(), std::nullopt);
  EXPECT_TRUE(AddWorker(kW1).dispatches.empty()) << "a job past its deadline never starts";
  EXPECT_EQ(c_->Stats().at("echo").run_time.count(), 0u);
  EXPECT_EQ(c_->Status(1)->state, JobState::kFailed);
}

TEST_F(CoordinatorTest, DeadlinePassingWhileRunningCompletesAtOnceAndKillsTheWorkerAfterTheGrace) {
  AddWorker(kW1);
  JobRequest r = Req(1, "echo", kS, absl::Seconds(2));
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  clock_.Advance(absl::Seconds(2));
  Effects fx = c_->Tick();
  const Completion c = OnlyCompletion(fx);
  EXPECT_EQ(c.outcome, Outcome::kDeadlineExceeded);
  EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(Message(c.status), HasSubstr("job 1 (type echo) was still running when its timeout of"));
  // 20 is the worker's owner id, which operators never see (they see its slot).
  EXPECT_THAT(Message(c.status), Not(HasSubstr("worker 20")));
  EXPECT_TRUE(c.deliver);
  EXPECT_EQ(c.run_time, absl::Seconds(2));
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kBusy) << "it runs on until it ends or the grace runs out";
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner) << "the worker may still read it";
  EXPECT_EQ(c_->NextWakeup(), clock_.Now() + absl::Seconds(1));
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_TRUE(c_->Tick().kills.empty());
  clock_.Advance(absl::Milliseconds(1));
  fx = c_->Tick();
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].worker, kW1);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kDeadline);
  EXPECT_EQ(fx.kills[0].job, 1u);
  EXPECT_TRUE(fx.completions.empty());
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kDraining);
  EXPECT_TRUE(c_->Tick().kills.empty()) << "one kill";
  fx = c_->WorkerGone(kW1);
  EXPECT_TRUE(fx.completions.empty()) << "one completion per job";
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_EQ(c_->NextWakeup(), std::nullopt);
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
  EXPECT_EQ(c_->Status(1)->outcome, Outcome::kDeadlineExceeded);
}

TEST_F(CoordinatorTest, ZeroTimeoutMeansTheDefaultTimeout) {
  CoordinatorOptions o;
  o.default_timeout = absl::Seconds(3);
  Make(o);
  AddWorker(kW1);
  const absl::Time submitted = clock_.Now();
  Effects fx = Submit(Req(1, "echo", kS, absl::ZeroDuration()));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].deadline, submitted + absl::Seconds(3));
}

TEST_F(CoordinatorTest, TimeoutCoversTheQueueWaitAndTheRunTogether) {
  const absl::Time submitted = clock_.Now();
  Submit(Req(1, "echo", kS, absl::Seconds(10)));
  clock_.Advance(absl::Seconds(6));
  Effects fx = AddWorker(kW1);
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].deadline, submitted + absl::Seconds(10));
  clock_.Advance(absl::Seconds(4));
  const Completion c = OnlyCompletion(c_->Tick());
  EXPECT_EQ(c.outcome, Outcome::kDeadlineExceeded);
  EXPECT_EQ(c.queue_wait, absl::Seconds(6));
  EXPECT_EQ(c.run_time, absl::Seconds(4));
}

TEST_F(CoordinatorTest, RetryWaitsForItsBackoffWhichDoublesAndGetsAFreshDeadline) {
  AddWorker(kW1);
  JobRequest r = Req(1, "echo", kS, absl::Seconds(1));
  r.retry = {3, absl::Milliseconds(100), true};
  Submit(std::move(r));
  Effects fx = Fail(kW1, 1);
  EXPECT_TRUE(fx.empty()) << "no completion, no dispatch: it waits for its backoff";
  EXPECT_EQ(c_->QueueDepth(), 0u);
  EXPECT_EQ(c_->Status(1)->state, JobState::kQueued);
  EXPECT_EQ(c_->NextWakeup(), clock_.Now() + absl::Milliseconds(100));
  clock_.Advance(absl::Milliseconds(99));
  EXPECT_TRUE(c_->Tick().dispatches.empty());
  clock_.Advance(absl::Milliseconds(1));
  fx = c_->Tick();
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 2u);
  EXPECT_EQ(fx.dispatches[0].deadline, clock_.Now() + absl::Seconds(1)) << "each attempt has its own timeout";
  EXPECT_TRUE(Fail(kW1, 1).empty());
  EXPECT_EQ(c_->NextWakeup(), clock_.Now() + absl::Milliseconds(200)) << "the backoff doubles";
  clock_.Advance(absl::Milliseconds(199));
  EXPECT_TRUE(c_->Tick().dispatches.empty());
  clock_.Advance(absl::Milliseconds(1));
  fx = c_->Tick();
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 3u);
  const Completion last = OnlyCompletion(Fail(kW1, 1));
  EXPECT_EQ(last.outcome, Outcome::kHandlerError);
  EXPECT_EQ(last.attempts, 3u);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, RetryWithoutBackoffIsQueuedAgainAtOnceBehindOlderJobs) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  r.retry = {2, absl::ZeroDuration(), true};
  Submit(std::move(r));
  Submit(Req(2));
  EXPECT_THAT(DispatchedIds(Fail(kW1, 1)), ElementsAre(2));
  EXPECT_EQ(c_->QueueDepth(), 1u);
  Effects fx = Finish(kW1, 2);
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].id, 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 2u);
}

TEST_F(CoordinatorTest, RunningJobPastItsDeadlineIsRetriedWhenItHasAttemptsLeft) {
  AddWorker(kW1);
  AddWorker(kW2);
  JobRequest r = Req(1, "echo", kS, absl::Seconds(2));
  r.retry.max_attempts = 2;
  const shm::Handle request = r.request.handle;
  Effects first = Submit(std::move(r));
  ASSERT_EQ(first.dispatches.size(), 1u);
  const WorkerId stuck = first.dispatches[0].worker;
  clock_.Advance(absl::Seconds(2));
  Effects fx = c_->Tick();
  EXPECT_TRUE(fx.completions.empty()) << "timeouts retry regardless of retry_handler_errors";
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_NE(fx.dispatches[0].worker, stuck);
  EXPECT_EQ(fx.dispatches[0].attempt, 2u);
  const WorkerId second = fx.dispatches[0].worker;
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(KilledWorkers(c_->Tick()), ElementsAre(stuck));
  EXPECT_TRUE(c_->WorkerGone(stuck).empty()) << "the abandoned attempt's end changes nothing";
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner) << "attempt 2 still reads it";
  const Completion c = OnlyCompletion(Finish(second, 1));
  EXPECT_EQ(c.outcome, Outcome::kOk);
  EXPECT_EQ(c.attempts, 2u);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
}

TEST_F(CoordinatorTest, NextWakeupIsTheEarliestDeadlineKillOrBackoff) {
  EXPECT_EQ(c_->NextWakeup(), std::nullopt);
  const absl::Time t0 = clock_.Now();
  AddWorker(kW1);
  Submit(Req(1, "echo", kS, absl::Seconds(5)));   // running, deadline t0+5s
  Submit(Req(2, "echo", kS, absl::Seconds(3)));   // queued, deadline t0+3s
  EXPECT_EQ(c_->NextWakeup(), t0 + absl::Seconds(3));
  ASSERT_TRUE(c_->Cancel(kS, 2).ok());
  EXPECT_EQ(c_->NextWakeup(), t0 + absl::Seconds(5)) << "a cancelled job's deadline is forgotten";
  ASSERT_TRUE(c_->Cancel(kS, 1).ok());
  EXPECT_EQ(c_->NextWakeup(), t0 + absl::Seconds(1)) << "the kill after the grace";
  Fail(kW1, 1);
  EXPECT_EQ(c_->NextWakeup(), std::nullopt);
  JobRequest r = Req(3, "echo", kS, absl::Seconds(5));
  r.retry = {2, absl::Milliseconds(300), true};
  Submit(std::move(r));
  Fail(kW1, 3);
  EXPECT_EQ(c_->NextWakeup(), t0 + absl::Milliseconds(300));
}

}  // namespace
}  // namespace jobd::coordinator
