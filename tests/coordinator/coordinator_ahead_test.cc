// Dispatch ahead: with no worker idle, a job of a short-running type waits in a busy worker's
// ring behind its current job. Who owns the job and its slabs at each step, and what cancel,
// deadlines, a session's end and a worker's death do to a job that has not started yet
// (docs/data-path.md, step 3).
#include <algorithm>

#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class CoordinatorAheadTest : public CoordinatorTest {
 protected:
  void SetUp() override { MakeAhead(); }
  void MakeAhead(uint32_t worker_max_jobs = 0, size_t depth = 1) {
    CoordinatorOptions o;
    o.dispatch_ahead = true;
    o.dispatch_ahead_max_run = absl::Milliseconds(1);
    o.dispatch_ahead_depth = depth;
    o.grace = absl::Seconds(1);
    o.worker_max_jobs = worker_max_jobs;
    Make(o);
  }
  // W1 runs one "echo" job (id 1) for 100 µs: the type has a short recent run time.
  void WarmUp() {
    AddWorker(kW1);
    EXPECT_THAT(DispatchedIds(Submit(Req(1))), ElementsAre(1));
    clock_.Advance(absl::Microseconds(100));
    EXPECT_THAT(DispatchedIds(Finish(kW1, 1)), IsEmpty());
  }
  // W1 runs job 2 and holds job 3 behind it.
  void TwoOnW1(JobRequest third) {
    WarmUp();
    EXPECT_THAT(DispatchedIds(Submit(Req(2))), ElementsAre(2));
    Effects fx = Submit(std::move(third));
    ASSERT_EQ(fx.dispatches.size(), 1u);
    EXPECT_EQ(fx.dispatches[0].worker, kW1);
    EXPECT_EQ(fx.dispatches[0].id, 3u);
  }
  // An answer from `w` for job `id`, which it does not run: refused, and nothing changes.
  void ExpectAnswerRefused(WorkerId w, JobId id) {
    const World before = Snapshot();
    const shm::Handle h = ledger_.Allocate(w);
    auto fx = c_->JobFinished(w, id, SlabRef{h, 8});
    EXPECT_EQ(fx.status().code(), absl::StatusCode::kFailedPrecondition) << "job " << id;
    EXPECT_TRUE(ledger_.Free(h, w).ok());
    EXPECT_EQ(Snapshot(), before) << "job " << id;
  }
  static std::vector<std::pair<WorkerId, JobId>> Cancels(const Effects& fx) {
    std::vector<std::pair<WorkerId, JobId>> out;
    for (const auto& c : fx.cancels) out.push_back({c.worker, c.id});
    return out;
  }
};

TEST_F(CoordinatorAheadTest, WithNoWorkerIdleAJobWaitsBehindABusyWorkerNotInTheQueue) {
  TwoOnW1(Req(3));
  EXPECT_EQ(c_->QueueDepth(), 0u);
  EXPECT_EQ(WorkerNamed(kW1).job, 2u);
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3));
  EXPECT_EQ(c_->Status(3)->state, JobState::kQueued) << "dispatched ahead is not started";
  EXPECT_EQ(c_->Status(2)->state, JobState::kRunning);
  EXPECT_THAT(DispatchedIds(Submit(Req(4))), IsEmpty()) << "one job behind a worker, no more";
  EXPECT_EQ(c_->QueueDepth(), 1u);

  // Job 2 ends: job 3 is W1's current job (no second dispatch of it), job 4 goes behind it.
  clock_.Advance(absl::Microseconds(50));
  Effects fx = Finish(kW1, 2);
  EXPECT_THAT(DispatchedIds(fx), ElementsAre(4));
  EXPECT_EQ(WorkerNamed(kW1).job, 3u);
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(4));
  EXPECT_EQ(c_->Status(3)->state, JobState::kRunning);
  EXPECT_EQ(c_->QueueDepth(), 0u);
}

TEST_F(CoordinatorAheadTest, RunTimeCountsFromTheStartNotFromTheDispatchAhead) {
  TwoOnW1(Req(3));
  clock_.Advance(absl::Microseconds(300));
  Finish(kW1, 2);
  clock_.Advance(absl::Microseconds(200));
  const Completion done = OnlyCompletion(Finish(kW1, 3));
  EXPECT_EQ(done.outcome, Outcome::kOk);
  EXPECT_EQ(done.run_time, absl::Microseconds(200));
  EXPECT_EQ(done.queue_wait, absl::Microseconds(300)) << "waiting behind job 2 is waiting";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
  EXPECT_EQ(WorkerNamed(kW1).jobs_done, 3u);
}

TEST_F(CoordinatorAheadTest, AnIdleWorkerIsAlwaysPreferred) {
  WarmUp();
  AddWorker(kW2);
  Submit(Req(2));
  Effects fx = Submit(Req(3));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(WorkerNamed(fx.dispatches[0].worker).job, 3u) << "to the idle worker, as its current job";
  EXPECT_THAT(WorkerNamed(kW1).ahead, IsEmpty());
  EXPECT_THAT(WorkerNamed(kW2).ahead, IsEmpty());
}

TEST_F(CoordinatorAheadTest, OnlyShortRunningTypesBehindJobsThatHaveNotRunLong) {
  // Off: the job queues.
  Make({});
  AddWorker(kW1);
  Submit(Req(1));
  clock_.Advance(absl::Microseconds(100));
  Finish(kW1, 1);
  Submit(Req(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), IsEmpty());

  // A type with no run yet does not qualify; nor does a job behind one of a type that does not.
  MakeAhead();
  AddWorker(kW1);
  Submit(Req(1));
  EXPECT_THAT(DispatchedIds(Submit(Req(2))), IsEmpty()) << "echo has never run";
  clock_.Advance(absl::Microseconds(100));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 1)), ElementsAre(2));
  EXPECT_THAT(WorkerNamed(kW1).ahead, IsEmpty()) << "nothing queued to put behind job 2";
  EXPECT_THAT(DispatchedIds(Submit(Req(3, "sleep"))), IsEmpty()) << "sleep has never run";
  EXPECT_THAT(DispatchedIds(Submit(Req(4))), ElementsAre(4)) << "echo runs short";
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(4));

  // A type whose runs take 5 ms.
  MakeAhead();
  AddWorker(kW1);
  Submit(Req(1, "sleep"));
  clock_.Advance(absl::Milliseconds(5));
  Finish(kW1, 1);
  Submit(Req(2, "sleep"));
  EXPECT_THAT(DispatchedIds(Submit(Req(3, "sleep"))), IsEmpty());

  // A short type whose current job has already run past the bound.
  MakeAhead();
  WarmUp();
  Submit(Req(2));
  clock_.Advance(absl::Milliseconds(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), IsEmpty());
  EXPECT_EQ(c_->QueueDepth(), 1u);
}

TEST_F(CoordinatorAheadTest, TheRecentRunTimeFollowsTheType) {
  WarmUp();
  // One 20 ms run lifts the average past 1 ms: no more jobs ahead until short runs bring it down.
  Submit(Req(2));
  clock_.Advance(absl::Milliseconds(20));
  Finish(kW1, 2);
  Submit(Req(3));
  EXPECT_THAT(DispatchedIds(Submit(Req(4))), IsEmpty());
  JobId id = 4;
  int short_runs = 0;
  while (WorkerNamed(kW1).ahead.empty() && short_runs < 40) {
    clock_.Advance(absl::Microseconds(10));
    Finish(kW1, WorkerNamed(kW1).job);
    ++short_runs;
    if (WorkerNamed(kW1).state == WorkerState::kIdle) Submit(Req(++id));
    if (c_->QueueDepth() == 0) Submit(Req(++id));
  }
  EXPECT_GT(short_runs, 5);
  EXPECT_LT(short_runs, 40) << "short runs bring the type back";
}

TEST_F(CoordinatorAheadTest, AWorkerKilledAMomentAfterItStartedDoesNotMakeItsTypeLookShort) {
  // "sleep" answered once after 5 ms: a long type.
  AddWorker(kW1);
  Submit(Req(1, "sleep"));
  clock_.Advance(absl::Milliseconds(5));
  Finish(kW1, 1);
  // Forty of its jobs die 10 µs after they start (a worker killed at once, again and again).
  JobId id = 1;
  for (int i = 0; i < 40; ++i) {
    ++id;
    EXPECT_THAT(DispatchedIds(Submit(Req(id, "sleep"))), ElementsAre(id));
    clock_.Advance(absl::Microseconds(10));
    EXPECT_EQ(OnlyCompletion(c_->WorkerGone(kW1)).outcome, Outcome::kWorkerDied);
    AddWorker(kW1);
  }
  Submit(Req(++id, "sleep"));
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kBusy);
  EXPECT_THAT(DispatchedIds(Submit(Req(++id, "sleep"))), IsEmpty()) << "sleep still runs long: it queues";
  EXPECT_EQ(c_->QueueDepth(), 1u);

  // Deaths teach nothing of a type that never answered ("echo" here)...
  MakeAhead();
  AddWorker(kW1);
  Submit(Req(1));
  clock_.Advance(absl::Microseconds(10));
  c_->WorkerGone(kW1);
  AddWorker(kW1);
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
  Submit(Req(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), IsEmpty()) << "echo has not answered yet";

  // ...and a long death does make a short type look long.
  MakeAhead();
  WarmUp();  // echo answered after 100 µs
  Submit(Req(2));
  clock_.Advance(absl::Milliseconds(20));
  c_->WorkerGone(kW1);
  AddWorker(kW1);
  Submit(Req(3));
  EXPECT_THAT(DispatchedIds(Submit(Req(4))), IsEmpty()) << "20 ms before its death: echo may run long";
}

TEST_F(CoordinatorAheadTest, CancelBehindTellsTheWorkerToSkipItAndKeepsItsSlabsUntilAnswered) {
  JobRequest third = Req(3);
  const shm::Handle request = third.request.handle;
  TwoOnW1(std::move(third));
  auto fx = c_->Cancel(kS, 3);
  ASSERT_TRUE(fx.ok()) << fx.status();
  const Completion done = OnlyCompletion(*fx);
  EXPECT_EQ(done.outcome, Outcome::kCancelled);
  EXPECT_TRUE(done.deliver);
  EXPECT_EQ(done.run_time, absl::ZeroDuration());
  EXPECT_THAT(Cancels(*fx), ElementsAre(std::pair{kW1, JobId{3}}));
  EXPECT_THAT(fx->kills, IsEmpty()) << "job 2 runs on untouched";
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner) << "the worker may be reading it";
  EXPECT_EQ(c_->Status(3)->outcome, Outcome::kCancelled);
  EXPECT_EQ(c_->NextWakeup(), clock_.Now() + absl::Seconds(10)) << "only job 2's deadline";

  // Job 2 ends; W1 gets to job 3 and skips it: only then is its request freed.
  EXPECT_THAT(Finish(kW1, 2).completions.size(), 1u);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner);
  Effects skipped = Fail(kW1, 3, absl::CancelledError("skipped"));
  EXPECT_THAT(skipped.completions, IsEmpty()) << "job 3 has had its one completion";
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
  EXPECT_EQ(c_->LiveJobs(), 0u);
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(c_->Tick().kills, IsEmpty()) << "it answered within the grace";
}

TEST_F(CoordinatorAheadTest, AWithdrawnJobBehindThatStartsAnywayIsStoppedAfterTheGrace) {
  TwoOnW1(Req(3));
  ASSERT_TRUE(c_->Cancel(kS, 3).ok());
  Finish(kW1, 2);
  // W1 had already started job 3 when the skip came, and its handler ignores the cancel.
  EXPECT_THAT(c_->Tick().kills, IsEmpty());
  clock_.Advance(absl::Seconds(1));
  Effects fx = c_->Tick();
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].worker, kW1);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kCancelled);
  EXPECT_EQ(fx.kills[0].job, 3u);
  EXPECT_THAT(c_->WorkerGone(kW1).completions, IsEmpty());
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_EQ(c_->LiveJobs(), 0u);
}

TEST_F(CoordinatorAheadTest, ADeadlineBehindFailsTheJobAsNeverStartedWithoutTouchingTheCurrentOne) {
  TwoOnW1(Req(3, "echo", kS, absl::Milliseconds(50)));
  clock_.Advance(absl::Milliseconds(60));
  Effects fx = c_->Tick();
  const Completion done = OnlyCompletion(fx);
  EXPECT_EQ(done.id, 3u);
  EXPECT_EQ(done.outcome, Outcome::kDeadlineExceeded);
  EXPECT_THAT(Message(done.status), HasSubstr("waited 60ms behind another job on its worker past its timeout of 50ms; it never started"));
  EXPECT_EQ(done.attempts, 1u);
  EXPECT_THAT(Cancels(fx), ElementsAre(std::pair{kW1, JobId{3}}));
  EXPECT_THAT(fx.kills, IsEmpty());
  EXPECT_EQ(WorkerNamed(kW1).job, 2u);
  EXPECT_EQ(c_->Status(2)->state, JobState::kRunning);
  // W1 ends job 2 and skips job 3: nothing more is sent to the client, nothing is killed.
  EXPECT_EQ(OnlyCompletion(Finish(kW1, 2)).id, 2u);
  EXPECT_THAT(Fail(kW1, 3, absl::DeadlineExceededError("skipped")).completions, IsEmpty());
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(c_->Tick().kills, IsEmpty());
}

TEST_F(CoordinatorAheadTest, ASessionsEndWithdrawsItsJobBehindButNotANoReplyOne) {
  TwoOnW1(Req(3));
  Effects fx = c_->CloseSession(kS);
  EXPECT_THAT(Cancels(fx), UnorderedElementsAre(std::pair{kW1, JobId{2}}, std::pair{kW1, JobId{3}}));
  for (const Completion& c : fx.completions) EXPECT_FALSE(c.deliver);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 2u) << "W1 may read both requests still";
  EXPECT_THAT(Fail(kW1, 2, absl::CancelledError("stopped")).completions, IsEmpty());
  EXPECT_THAT(Fail(kW1, 3, absl::CancelledError("skipped")).completions, IsEmpty());
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);

  // A NoReply job behind runs on after its caller.
  c_->OpenSession(kS);
  EXPECT_THAT(DispatchedIds(Submit(Req(4))), ElementsAre(4));
  EXPECT_THAT(DispatchedIds(Submit(Req(5, Policy::kNoReply))), ElementsAre(5));
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(5));
  Effects closed = c_->CloseSession(kS);
  EXPECT_THAT(Cancels(closed), ElementsAre(std::pair{kW1, JobId{4}}));
  Fail(kW1, 4, absl::CancelledError("stopped"));
  EXPECT_EQ(c_->Status(5)->state, JobState::kRunning);
  EXPECT_FALSE(OnlyCompletion(Finish(kW1, 5)).deliver);
}

TEST_F(CoordinatorAheadTest, AWorkerThatDiesWithAJobBehindGivesItBackUnstartedWithItsAttemptAndDeadline) {
  JobRequest third = Req(3);
  third.retry.max_attempts = 1;
  TwoOnW1(std::move(third));
  const absl::Time deadline = clock_.Now() + absl::Seconds(10);
  clock_.Advance(absl::Milliseconds(5));
  Effects fx = c_->WorkerGone(kW1);
  const Completion died = OnlyCompletion(fx);
  EXPECT_EQ(died.id, 2u) << "only the job it ran";
  EXPECT_EQ(died.outcome, Outcome::kWorkerDied);
  EXPECT_EQ(c_->QueueDepth(), 1u);
  EXPECT_EQ(c_->Status(3)->state, JobState::kQueued);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 1u);
  Effects next = AddWorker(kW2);
  ASSERT_EQ(next.dispatches.size(), 1u);
  EXPECT_EQ(next.dispatches[0].id, 3u);
  EXPECT_EQ(next.dispatches[0].attempt, 1u) << "it never started: no attempt spent";
  EXPECT_EQ(next.dispatches[0].deadline, deadline) << "its deadline is the one it had";
  EXPECT_EQ(OnlyCompletion(Finish(kW2, 3)).outcome, Outcome::kOk);
}

TEST_F(CoordinatorAheadTest, AJobBehindGivenBackKeepsItsPlaceInTheQueue) {
  TwoOnW1(Req(3));
  Submit(Req(4));
  Submit(Req(5));
  c_->WorkerGone(kW1);
  EXPECT_THAT(DispatchedIds(AddWorker(kW2)), ElementsAre(3, 4)) << "job 3 first, then job 4 behind it";
  EXPECT_THAT(WorkerNamed(kW2).ahead, ElementsAre(4));
  EXPECT_EQ(c_->QueueDepth(), 1u);
}

TEST_F(CoordinatorAheadTest, OnceTheCurrentJobHasAnsweredTheJobBehindMayHaveStartedAndItsDeathSpendsTheAttempt) {
  JobRequest third = Req(3);
  third.retry.max_attempts = 1;
  TwoOnW1(std::move(third));
  Finish(kW1, 2);
  const Completion died = OnlyCompletion(c_->WorkerGone(kW1));
  EXPECT_EQ(died.id, 3u);
  EXPECT_EQ(died.outcome, Outcome::kWorkerDied) << "a job that crashes its worker is not run forever";
  EXPECT_EQ(c_->QueueDepth(), 0u);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorAheadTest, RetiringRecyclingOrDoomedWorkersTakeNothingBehind) {
  // Retired while busy: it finishes its job and stops; the next job queues.
  WarmUp();
  Submit(Req(2));
  c_->RetireWorker(kW1, KillReason::kMemory);
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), IsEmpty());
  EXPECT_THAT(KilledWorkers(Finish(kW1, 2)), ElementsAre(kW1));

  // Its current job is its last before recycling (--worker_max_jobs=3: jobs 1, 2, then 3).
  MakeAhead(/*worker_max_jobs=*/3);
  WarmUp();
  Submit(Req(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), ElementsAre(3)) << "job 3 is its third";
  Submit(Req(4));
  clock_.Advance(absl::Microseconds(10));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), IsEmpty()) << "job 3 is its last: nothing behind it";
  EXPECT_THAT(KilledWorkers(Finish(kW1, 3)), ElementsAre(kW1));
  EXPECT_EQ(c_->QueueDepth(), 1u);

  // Its current job was cancelled and it is to be killed after the grace.
  MakeAhead();
  WarmUp();
  Submit(Req(2));
  ASSERT_TRUE(c_->Cancel(kS, 2).ok());
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), IsEmpty());
}

TEST_F(CoordinatorAheadTest, ALaterHigherPriorityJobWaitsBehindAtMostOneJobPerWorker) {
  WarmUp();
  Submit(Req(2));
  JobRequest batch = Req(3);
  batch.priority = Priority::kBatch;
  EXPECT_THAT(DispatchedIds(Submit(std::move(batch))), ElementsAre(3));
  Submit(Req(4));  // interactive: queued, W1 holds batch job 3 already
  EXPECT_EQ(c_->QueueDepth(), 1u);
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), ElementsAre(4)) << "job 4 goes behind job 3";
  EXPECT_EQ(WorkerNamed(kW1).job, 3u);
}

TEST_F(CoordinatorAheadTest, AnAnswerForTheJobBehindBeforeTheCurrentOneIsRefusedAndChangesNothing) {
  TwoOnW1(Req(3));
  ExpectAnswerRefused(kW1, 3);
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3));
}

// --dispatch_ahead_depth past 1: a busy worker holds several jobs behind its current one, in
// order; each withdrawn, timed out or given back on its own.
class CoordinatorAheadDepthTest : public CoordinatorAheadTest {
 protected:
  void SetUp() override { MakeAhead(/*worker_max_jobs=*/0, /*depth=*/3); }
  // W1 runs job 2 and holds jobs 3, 4 and 5 behind it.
  void ThreeBehindW1(uint32_t max_attempts = 3) {
    WarmUp();
    EXPECT_THAT(DispatchedIds(Submit(Req(2))), ElementsAre(2));
    for (JobId id : {3, 4, 5}) {
      JobRequest r = Req(id);
      r.retry.max_attempts = max_attempts;
      Effects fx = Submit(std::move(r));
      ASSERT_EQ(fx.dispatches.size(), 1u) << "job " << id;
      EXPECT_EQ(fx.dispatches[0].worker, kW1);
      EXPECT_EQ(fx.dispatches[0].id, id);
    }
  }
};

TEST_F(CoordinatorAheadDepthTest, AWorkerHoldsUpToTheDepthBehindItsCurrentJobAndStartsThemInOrder) {
  ThreeBehindW1();
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3, 4, 5));
  EXPECT_EQ(c_->QueueDepth(), 0u);
  EXPECT_THAT(DispatchedIds(Submit(Req(6))), IsEmpty()) << "three behind, no more";
  EXPECT_EQ(c_->QueueDepth(), 1u);
  for (JobId id : {3, 4, 5}) EXPECT_EQ(c_->Status(id)->state, JobState::kQueued) << "not started: " << id;

  clock_.Advance(absl::Microseconds(20));
  Effects fx = Finish(kW1, 2);
  EXPECT_THAT(DispatchedIds(fx), ElementsAre(6)) << "job 3 starts where it is; job 6 goes to the back";
  EXPECT_EQ(WorkerNamed(kW1).job, 3u);
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(4, 5, 6));
  EXPECT_EQ(c_->Status(3)->state, JobState::kRunning);
  EXPECT_EQ(c_->Status(4)->state, JobState::kQueued);
  for (JobId id : {3, 4, 5, 6}) {
    clock_.Advance(absl::Microseconds(20));
    const Completion done = OnlyCompletion(Finish(kW1, id));
    EXPECT_EQ(done.id, id);
    EXPECT_EQ(done.outcome, Outcome::kOk);
    EXPECT_EQ(done.run_time, absl::Microseconds(20)) << "from the answer before it";
  }
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
  EXPECT_EQ(WorkerNamed(kW1).jobs_done, 6u);
  EXPECT_EQ(c_->LiveJobs(), 0u);
}

TEST_F(CoordinatorAheadDepthTest, AnAnswerOutOfOrderIsRefusedAndChangesNothing) {
  ThreeBehindW1();
  ExpectAnswerRefused(kW1, 4);
  ExpectAnswerRefused(kW1, 5);
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3, 4, 5));
}

TEST_F(CoordinatorAheadDepthTest, ACancelOfAMiddleJobBehindSkipsOnlyThatOne) {
  ThreeBehindW1();
  auto fx = c_->Cancel(kS, 4);
  ASSERT_TRUE(fx.ok()) << fx.status();
  EXPECT_EQ(OnlyCompletion(*fx).outcome, Outcome::kCancelled);
  EXPECT_THAT(Cancels(*fx), ElementsAre(std::pair{kW1, JobId{4}}));
  EXPECT_THAT(fx->kills, IsEmpty());
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3, 4, 5)) << "it stays in the worker's ring until skipped";

  Finish(kW1, 2);
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(c_->Tick().kills, IsEmpty()) << "job 3 was not withdrawn: it may run to its deadline";
  EXPECT_EQ(OnlyCompletion(Finish(kW1, 3)).outcome, Outcome::kOk);
  EXPECT_EQ(WorkerNamed(kW1).job, 4u);
  EXPECT_EQ(c_->Status(4)->outcome, Outcome::kCancelled);
  // W1 skips job 4 at once: nothing more for the client, and job 5 starts.
  EXPECT_THAT(Fail(kW1, 4, absl::CancelledError("skipped")).completions, IsEmpty());
  EXPECT_EQ(WorkerNamed(kW1).job, 5u);
  EXPECT_EQ(c_->Status(5)->state, JobState::kRunning);
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(c_->Tick().kills, IsEmpty()) << "job 5 is not the skipped one: no grace, no kill";
  EXPECT_EQ(OnlyCompletion(Finish(kW1, 5)).outcome, Outcome::kOk);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_EQ(c_->LiveJobs(), 0u);
}

TEST_F(CoordinatorAheadDepthTest, ADeadlineBehindFailsOnlyThatJobAndTheOnesAfterItRun) {
  WarmUp();
  Submit(Req(2));
  Submit(Req(3));
  Submit(Req(4, "echo", kS, absl::Milliseconds(50)));
  Submit(Req(5));
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3, 4, 5));
  clock_.Advance(absl::Milliseconds(60));
  Effects fx = c_->Tick();
  const Completion late = OnlyCompletion(fx);
  EXPECT_EQ(late.id, 4u);
  EXPECT_EQ(late.outcome, Outcome::kDeadlineExceeded);
  EXPECT_THAT(Message(late.status), HasSubstr("behind another job on its worker"));
  EXPECT_THAT(Cancels(fx), ElementsAre(std::pair{kW1, JobId{4}}));
  Finish(kW1, 2);
  Finish(kW1, 3);
  EXPECT_THAT(Fail(kW1, 4, absl::DeadlineExceededError("skipped")).completions, IsEmpty());
  EXPECT_EQ(OnlyCompletion(Finish(kW1, 5)).outcome, Outcome::kOk);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorAheadDepthTest, AWorkerThatDiesGivesBackEveryJobBehindInOrderWithoutSpendingAttempts) {
  ThreeBehindW1(/*max_attempts=*/1);
  const Completion died = OnlyCompletion(c_->WorkerGone(kW1));
  EXPECT_EQ(died.id, 2u) << "only the job it ran";
  EXPECT_EQ(c_->QueueDepth(), 3u);
  Effects next = AddWorker(kW2);
  ASSERT_EQ(next.dispatches.size(), 3u) << "job 3 to run, 4 and 5 behind it";
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(next.dispatches[i].id, 3 + i);
    EXPECT_EQ(next.dispatches[i].attempt, 1u) << "never started: no attempt spent";
  }
  for (JobId id : {3, 4, 5}) EXPECT_EQ(OnlyCompletion(Finish(kW2, id)).outcome, Outcome::kOk);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorAheadDepthTest, AfterAnAnswerOnlyTheNextJobMayHaveStarted) {
  ThreeBehindW1(/*max_attempts=*/1);
  Finish(kW1, 2);
  Effects fx = c_->WorkerGone(kW1);
  const Completion died = OnlyCompletion(fx);
  EXPECT_EQ(died.id, 3u);
  EXPECT_EQ(died.outcome, Outcome::kWorkerDied);
  EXPECT_EQ(c_->QueueDepth(), 2u) << "jobs 4 and 5 never started";
  EXPECT_EQ(c_->Status(4)->attempt, 1u);
  EXPECT_EQ(c_->Status(5)->attempt, 1u);
}

TEST_F(CoordinatorAheadDepthTest, JobsBehindGoToTheWorkerWithTheFewestBehind) {
  WarmUp();
  AddWorker(kW2);
  EXPECT_THAT(DispatchedIds(Submit(Req(2))), ElementsAre(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), ElementsAre(3));
  std::vector<WorkerId> to;
  for (JobId id : {4, 5, 6, 7}) {
    Effects fx = Submit(Req(id));
    ASSERT_EQ(fx.dispatches.size(), 1u);
    to.push_back(fx.dispatches[0].worker);
  }
  EXPECT_EQ(std::count(to.begin(), to.end(), kW1), 2);
  EXPECT_EQ(std::count(to.begin(), to.end(), kW2), 2);
  EXPECT_EQ(WorkerNamed(kW1).ahead.size(), 2u);
  EXPECT_EQ(WorkerNamed(kW2).ahead.size(), 2u);
}

TEST_F(CoordinatorAheadDepthTest, ARecyclingWorkerTakesNoMoreBehindThanItsLastJob) {
  MakeAhead(/*worker_max_jobs=*/4, /*depth=*/3);
  WarmUp();  // job 1
  Submit(Req(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3))), ElementsAre(3));
  EXPECT_THAT(DispatchedIds(Submit(Req(4))), ElementsAre(4)) << "its fourth and last";
  EXPECT_THAT(DispatchedIds(Submit(Req(5))), IsEmpty());
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3, 4));
  Finish(kW1, 2);
  Finish(kW1, 3);
  EXPECT_THAT(KilledWorkers(Finish(kW1, 4)), ElementsAre(kW1));
  EXPECT_EQ(c_->QueueDepth(), 1u);
}

TEST_F(CoordinatorAheadDepthTest, ALaterHigherPriorityJobWaitsBehindAtMostTheDepth) {
  WarmUp();
  Submit(Req(2));
  for (JobId id : {3, 4, 5}) {
    JobRequest batch = Req(id);
    batch.priority = Priority::kBatch;
    EXPECT_THAT(DispatchedIds(Submit(std::move(batch))), ElementsAre(id));
  }
  JobRequest batch = Req(6);
  batch.priority = Priority::kBatch;
  Submit(std::move(batch));
  Submit(Req(7));  // interactive: queued ahead of batch job 6
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), ElementsAre(7)) << "job 7 goes behind 3, 4, 5; job 6 waits";
  EXPECT_EQ(c_->Status(6)->state, JobState::kQueued);
  EXPECT_EQ(c_->QueueDepth(), 1u);
}

TEST_F(CoordinatorAheadDepthTest, TheJobsBehindAWorkerAddUpToAtMostTheMaxRun) {
  // "sleep" runs 400 µs: two fit behind W1 within 1 ms, a third would not.
  AddWorker(kW1);
  Submit(Req(1, "sleep"));
  clock_.Advance(absl::Microseconds(400));
  Finish(kW1, 1);
  EXPECT_THAT(DispatchedIds(Submit(Req(2, "sleep"))), ElementsAre(2));
  EXPECT_THAT(DispatchedIds(Submit(Req(3, "sleep"))), ElementsAre(3));
  EXPECT_THAT(DispatchedIds(Submit(Req(4, "sleep"))), ElementsAre(4));
  EXPECT_THAT(DispatchedIds(Submit(Req(5, "sleep"))), IsEmpty()) << "3 x 400 µs behind would pass 1 ms";
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(3, 4));
  // Once job 3 is current, job 5 fits behind job 4.
  clock_.Advance(absl::Microseconds(400));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), ElementsAre(5));
  EXPECT_THAT(WorkerNamed(kW1).ahead, ElementsAre(4, 5));
}

}  // namespace
}  // namespace jobd::coordinator
