// How jobs end other than by a plain answer: sessions closing, workers dying, cancellation,
// handler errors; the three policies; and what Status says along the way.
#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_F(CoordinatorTest, SessionEndingCancelsItsJobsButNoReplyJobsRunOn) {
  AddWorker(kW1);
  Submit(Req(1));                        // running
  JobRequest queued = Req(2);            // queued
  const shm::Handle queued_request = queued.request.handle;
  Submit(std::move(queued));
  Submit(Req(3, Policy::kNoReply));      // queued, NoReply
  Submit(Req(4, "echo", kS2));           // another session's
  Effects fx = c_->CloseSession(kS);
  ASSERT_EQ(fx.completions.size(), 2u);
  for (const Completion& c : fx.completions) {
    EXPECT_EQ(c.outcome, Outcome::kCancelled);
    EXPECT_EQ(c.status.code(), absl::StatusCode::kCancelled);
    EXPECT_FALSE(c.deliver) << "nobody is left to deliver to";
  }
  ASSERT_EQ(fx.cancels.size(), 1u);
  EXPECT_EQ(fx.cancels[0].worker, kW1);
  EXPECT_EQ(fx.cancels[0].id, 1u);
  EXPECT_TRUE(fx.dispatches.empty());
  EXPECT_EQ(ledger_.OwnerOf(queued_request), shm::kNoOwner) << "a cancelled queued job's request is freed at once";
  EXPECT_EQ(c_->QueueDepth(), 2u) << "the NoReply job and the other session's job stay queued";
  EXPECT_EQ(c_->SessionCount(), 1u);
  // The running job's worker answers anyway: its response is freed, and it takes the next job.
  const shm::Handle late = ledger_.Allocate(kW1);
  auto done = c_->JobFinished(kW1, 1, SlabRef{late, 8});
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->completions.empty());
  EXPECT_EQ(ledger_.OwnerOf(late), shm::kNoOwner);
  EXPECT_THAT(DispatchedIds(*done), ElementsAre(3));
  const Completion fire = OnlyCompletion(Finish(kW1, 3));
  EXPECT_EQ(fire.outcome, Outcome::kOk);
  EXPECT_FALSE(fire.deliver);
  EXPECT_FALSE(fire.response.present());
  EXPECT_EQ(OnlyCompletion(Finish(kW1, 4)).outcome, Outcome::kOk);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_EQ(ledger_.CountOwnedBy(kW1), 0u) << "a response nobody waits for is freed";
  EXPECT_EQ(c_->Status(1)->outcome, Outcome::kCancelled);
}

TEST_F(CoordinatorTest, RunningJobOfAClosedSessionIsKilledExactlyAfterTheGraceIfItGoesOn) {
  AddWorker(kW1);
  Submit(Req(1));
  c_->CloseSession(kS);
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_TRUE(c_->Tick().kills.empty());
  clock_.Advance(absl::Milliseconds(1));
  Effects fx = c_->Tick();
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kCancelled);
  EXPECT_EQ(fx.kills[0].job, 1u);
  EXPECT_TRUE(c_->WorkerGone(kW1).empty());
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, ManualRespondJobThatHasAnsweredRunsOnAfterItsSessionEnds) {
  AddWorker(kW1);
  Submit(Req(1, Policy::kManualRespond));
  ASSERT_TRUE(c_->EarlyResponse(kW1, 1, SlabRef{ledger_.Allocate(kW1), 4}).ok());
  Effects fx = c_->CloseSession(kS);
  EXPECT_TRUE(fx.empty()) << "its caller has its answer: nothing to cancel";
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(c_->Tick().kills.empty());
  EXPECT_TRUE(Finish(kW1, 1).completions.empty());
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_EQ(ledger_.CountOwnedBy(kW1), 0u);
}

TEST_F(CoordinatorTest, ClosingASessionCancelsAJobWaitingForItsRetry) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  r.retry = {3, absl::Seconds(1), true};
  Submit(std::move(r));
  Fail(kW1, 1);
  const Completion c = OnlyCompletion(c_->CloseSession(kS));
  EXPECT_EQ(c.outcome, Outcome::kCancelled);
  EXPECT_FALSE(c.deliver);
  EXPECT_EQ(c_->NextWakeup(), std::nullopt);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, WorkerDyingFailsItsJobWithWorkerDied) {
  AddWorker(kW1);
  Submit(Req(1));
  const Completion c = OnlyCompletion(c_->WorkerGone(kW1));
  EXPECT_EQ(c.outcome, Outcome::kWorkerDied);
  EXPECT_EQ(c.status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(Message(c.status), HasSubstr("worker died while running job 1 (type echo"));
  EXPECT_TRUE(c.deliver);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
  EXPECT_TRUE(c_->Workers().empty());
  EXPECT_EQ(c_->Status(1)->outcome, Outcome::kWorkerDied);
}

TEST_F(CoordinatorTest, IdleWorkerDyingTouchesNoJobAndGetsNoMore) {
  AddWorker(kW1);
  AddWorker(kW2);
  Submit(Req(1));  // on kW2
  EXPECT_TRUE(c_->WorkerGone(kW1).empty());
  EXPECT_TRUE(c_->WorkerGone(kW1).empty()) << "a second report is harmless";
  EXPECT_TRUE(Submit(Req(2)).dispatches.empty()) << "no dispatch to a gone worker";
  EXPECT_THAT(DispatchedIds(Finish(kW2, 1)), ElementsAre(2));
}

TEST_F(CoordinatorTest, WorkerDeathIsRetriedWhenAskedAndTheAttemptNumberGrows) {
  AddWorker(kW1);
  AddWorker(kW2);
  JobRequest r = Req(1);
  r.retry.max_attempts = 3;  // worker deaths retry without retry_handler_errors
  Effects fx = Submit(std::move(r));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 1u);
  fx = c_->WorkerGone(fx.dispatches[0].worker);
  EXPECT_TRUE(fx.completions.empty());
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].attempt, 2u);
  fx = c_->WorkerGone(fx.dispatches[0].worker);
  EXPECT_TRUE(fx.completions.empty()) << "attempt 3 is still allowed";
  EXPECT_EQ(c_->Status(1)->state, JobState::kQueued);
  EXPECT_EQ(AddWorker(kW3).dispatches.at(0).attempt, 3u);
  auto st = c_->Status(1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->attempt, 3u);
  EXPECT_EQ(st->state, JobState::kRunning);
  const Completion c = OnlyCompletion(c_->WorkerGone(kW3));
  EXPECT_EQ(c.outcome, Outcome::kWorkerDied);
  EXPECT_EQ(c.attempts, 3u);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, HandlerErrorIsFinalUnlessTheJobAsksForRetries) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  r.retry.max_attempts = 3;  // retries worker deaths, not handler errors
  Submit(std::move(r));
  const Completion c = OnlyCompletion(Fail(kW1, 1, absl::FailedPreconditionError("disk full")));
  EXPECT_EQ(c.outcome, Outcome::kHandlerError);
  EXPECT_EQ(c.status.code(), absl::StatusCode::kFailedPrecondition) << "the handler's own code is kept";
  EXPECT_EQ(Message(c.status), "handler error: disk full");
  EXPECT_TRUE(c.deliver);
  EXPECT_FALSE(c.response.present());
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, CancelOfAQueuedJobMeansItNeverStarts) {
  JobRequest r = Req(1);
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  auto fx = c_->Cancel(kS, 1);
  ASSERT_TRUE(fx.ok());
  const Completion c = OnlyCompletion(*fx);
  EXPECT_EQ(c.outcome, Outcome::kCancelled);
  EXPECT_EQ(c.status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(c.deliver);
  EXPECT_TRUE(fx->cancels.empty());
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  EXPECT_EQ(c_->QueueDepth(), 0u);
  EXPECT_TRUE(AddWorker(kW1).dispatches.empty());
  auto again = c_->Cancel(kS, 1);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(again.status()), HasSubstr("no live job 1"));
}

TEST_F(CoordinatorTest, CancelOfARunningJobAnswersNowTellsTheWorkerThenKillsIt) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  const World before = Snapshot();
  EXPECT_EQ(c_->Cancel(kS2, 1).status().code(), absl::StatusCode::kNotFound) << "not another session's";
  EXPECT_EQ(c_->Cancel(kS, 77).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Snapshot(), before);
  auto fx = c_->Cancel(kS, 1);
  ASSERT_TRUE(fx.ok());
  const Completion c = OnlyCompletion(*fx);
  EXPECT_EQ(c.outcome, Outcome::kCancelled);
  EXPECT_TRUE(c.deliver);
  ASSERT_EQ(fx->cancels.size(), 1u);
  EXPECT_EQ(fx->cancels[0].worker, kW1);
  EXPECT_EQ(fx->cancels[0].id, 1u);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner) << "the worker may still read it";
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_TRUE(c_->Tick().kills.empty());
  clock_.Advance(absl::Milliseconds(1));
  Effects kill = c_->Tick();
  ASSERT_EQ(kill.kills.size(), 1u);
  EXPECT_EQ(kill.kills[0].reason, KillReason::kCancelled);
  EXPECT_TRUE(c_->WorkerGone(kW1).completions.empty());
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
}

TEST_F(CoordinatorTest, CancelledJobThatStopsInTimeIsNotKilledAndItsResultIsFreed) {
  AddWorker(kW1);
  Submit(Req(1));
  ASSERT_TRUE(c_->Cancel(kS, 1).ok());
  const shm::Handle late = ledger_.Allocate(kW1);
  auto fx = c_->JobFinished(kW1, 1, SlabRef{late, 8});
  ASSERT_TRUE(fx.ok());
  EXPECT_TRUE(fx->completions.empty());
  EXPECT_EQ(ledger_.OwnerOf(late), shm::kNoOwner);
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(c_->Tick().empty());
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
}

TEST_F(CoordinatorTest, StatusFollowsTheJobFromQueuedToRunningToDoneOrFailed) {
  Submit(Req(1));
  EXPECT_EQ(c_->Status(1)->state, JobState::kQueued);
  AddWorker(kW1);
  EXPECT_EQ(c_->Status(1)->state, JobState::kRunning);
  Finish(kW1, 1);
  auto st = c_->Status(1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->id, 1u);
  EXPECT_EQ(st->type, "echo");
  EXPECT_EQ(st->state, JobState::kDone);
  EXPECT_EQ(st->outcome, Outcome::kOk);
  Submit(Req(2));
  Fail(kW1, 2);
  EXPECT_EQ(c_->Status(2)->state, JobState::kFailed);
  EXPECT_EQ(c_->Status(2)->outcome, Outcome::kHandlerError);
  EXPECT_EQ(c_->Status(77).status().code(), absl::StatusCode::kNotFound);
  EXPECT_STREQ(JobStateName(JobState::kFailed), "failed");
  EXPECT_STREQ(OutcomeName(Outcome::kDeadlineExceeded), "deadline_exceeded");
}

TEST_F(CoordinatorTest, StatusRemembersOnlyTheLastEndedJobs) {
  CoordinatorOptions o;
  o.finished_jobs_remembered = 2;
  Make(o);
  AddWorker(kW1);
  for (JobId id = 1; id <= 3; ++id) {
    Submit(Req(id));
    Finish(kW1, id);
  }
  EXPECT_EQ(c_->Status(1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c_->Status(2)->state, JobState::kDone);
  EXPECT_EQ(c_->Status(3)->state, JobState::kDone);
}

TEST_F(CoordinatorTest, ManualRespondDeliversEarlyWhileTheWorkerStaysBusy) {
  AddWorker(kW1);
  Submit(Req(1, Policy::kManualRespond));
  Submit(Req(2));
  const shm::Handle early = ledger_.Allocate(kW1);
  auto fx = c_->EarlyResponse(kW1, 1, SlabRef{early, 4});
  ASSERT_TRUE(fx.ok()) << fx.status();
  const Completion c = OnlyCompletion(*fx);
  EXPECT_EQ(c.outcome, Outcome::kOk);
  EXPECT_TRUE(c.deliver);
  EXPECT_EQ(c.response.handle, early);
  EXPECT_EQ(ledger_.OwnerOf(early), kS);
  EXPECT_TRUE(fx->dispatches.empty()) << "the worker is still busy with job 1";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kBusy);
  EXPECT_EQ(c_->Status(1)->state, JobState::kDone) << "answered";
  const World before = Snapshot();
  const shm::Handle second_slab = ledger_.Allocate(kW1);
  auto second = c_->EarlyResponse(kW1, 1, SlabRef{second_slab, 4});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(second.status()), "second response for job 1");
  EXPECT_EQ(ledger_.OwnerOf(second_slab), kW1) << "the worker's slab stays the worker's";
  ledger_.Free(second_slab, kW1).IgnoreError();
  EXPECT_EQ(Snapshot(), before);
  auto done = c_->JobFinished(kW1, 1, SlabRef{});
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->completions.empty()) << "the early answer was the completion";
  EXPECT_THAT(DispatchedIds(*done), ElementsAre(2));
}

// The header's contract (coordinator.h, JobFinished): a response nobody takes, because the job
// answered early, is freed and the worker goes back to work.
TEST_F(CoordinatorTest, ResponseAtTheEndOfAnAnsweredManualRespondJobIsFreed) {
  AddWorker(kW1);
  Submit(Req(1, Policy::kManualRespond));
  ASSERT_TRUE(c_->EarlyResponse(kW1, 1, SlabRef{ledger_.Allocate(kW1), 4}).ok());
  const shm::Handle extra = ledger_.Allocate(kW1);
  auto fx = c_->JobFinished(kW1, 1, SlabRef{extra, 4});
  ASSERT_TRUE(fx.ok());
  EXPECT_TRUE(fx->completions.empty());
  EXPECT_EQ(ledger_.OwnerOf(extra), shm::kNoOwner);
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
}

TEST_F(CoordinatorTest, HandlerErrorAfterAnEarlyAnswerAddsNoSecondCompletion) {
  AddWorker(kW1);
  Submit(Req(1, Policy::kManualRespond));
  ASSERT_TRUE(c_->EarlyResponse(kW1, 1, SlabRef{ledger_.Allocate(kW1), 4}).ok());
  EXPECT_TRUE(Fail(kW1, 1).completions.empty());
  EXPECT_EQ(c_->Status(1)->state, JobState::kDone);
  EXPECT_EQ(c_->Stats().at("echo").outcomes.at(Outcome::kOk), 1u);
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

TEST_F(CoordinatorTest, EarlyResponseIsOnlyForTheRunningManualRespondJobOfThatWorker) {
  AddWorker(kW1);
  Submit(Req(1));
  const World before = Snapshot();
  auto simple = c_->EarlyResponse(kW1, 1, SlabRef{});
  EXPECT_EQ(simple.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(simple.status()), HasSubstr("not ManualRespond"));
  EXPECT_EQ(c_->EarlyResponse(kW2, 1, SlabRef{}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(CoordinatorTest, NoReplyJobNeverDeliversAndItsResponseIsFreed) {
  AddWorker(kW1);
  JobRequest r = Req(1, Policy::kNoReply);
  const shm::Handle request = r.request.handle;
  Submit(std::move(r));
  const shm::Handle response = ledger_.Allocate(kW1);
  auto fx = c_->JobFinished(kW1, 1, SlabRef{response, 8});
  ASSERT_TRUE(fx.ok());
  const Completion c = OnlyCompletion(*fx);
  EXPECT_EQ(c.outcome, Outcome::kOk);
  EXPECT_FALSE(c.deliver);
  EXPECT_FALSE(c.response.present());
  EXPECT_EQ(ledger_.OwnerOf(response), shm::kNoOwner);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner);
  Submit(Req(2, Policy::kNoReply));
  EXPECT_FALSE(OnlyCompletion(Fail(kW1, 2)).deliver) << "not even its failure";
}

}  // namespace
}  // namespace jobd::coordinator
