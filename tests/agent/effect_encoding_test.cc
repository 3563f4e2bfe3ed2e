#include "agent/effect_encoding.h"

#include <signal.h>

#include "gtest/gtest.h"
#include "proto/job_id.h"

namespace jobd::agent {
namespace {

using coordinator::Outcome;

TEST(EffectEncodingTest, EveryOutcomeHasItsOwnWireValue) {
  const Outcome all[] = {Outcome::kOk, Outcome::kRejected, Outcome::kDeadlineExceeded, Outcome::kWorkerDied,
                         Outcome::kHandlerError, Outcome::kCancelled};
  const v1::Outcome wire[] = {v1::OUTCOME_OK, v1::OUTCOME_REJECTED, v1::OUTCOME_DEADLINE_EXCEEDED,
                              v1::OUTCOME_WORKER_DIED, v1::OUTCOME_HANDLER_ERROR, v1::OUTCOME_CANCELLED};
  for (size_t i = 0; i < std::size(all); ++i) EXPECT_EQ(OutcomeToProto(all[i]), wire[i]) << i;
  EXPECT_EQ(OutcomeOfLaneReport(v1::OUTCOME_OK), Outcome::kOk);
  EXPECT_EQ(OutcomeOfLaneReport(v1::OUTCOME_REJECTED), Outcome::kHandlerError);
  EXPECT_EQ(OutcomeOfLaneReport(static_cast<v1::Outcome>(77)), Outcome::kHandlerError);
}

TEST(EffectEncodingTest, AnAssignmentCarriesEveryFieldOfTheDispatch) {
  coordinator::Dispatch d;
  d.worker = 9;
  d.id = MakeJobId(5, 42);
  d.type = "resize";
  d.request = {shm::Handle::FromBits(0x1234), 100};
  d.shared = {shm::Handle::FromBits(0x5678), 7};
  d.deadline = absl::FromUnixMicros(1'700'000'000'123'456);
  d.context = {{"trace", "abc"}};
  d.attempt = 3;
  d.trace = {.client_sent_ns = 11, .agent_received_ns = 22};
  const v1::AgentToWorker msg = EncodeAssignment(d, 33);
  ASSERT_TRUE(msg.has_assignment());
  const v1::Assignment& a = msg.assignment();
  EXPECT_EQ(a.job_id(), d.id);
  EXPECT_EQ(a.segment(), 5u);  // the session's segment, from the job id
  EXPECT_EQ(a.type(), "resize");
  EXPECT_EQ(a.request().handle(), 0x1234u);
  EXPECT_EQ(a.request().size(), 100u);
  EXPECT_EQ(a.shared().handle(), 0x5678u);
  EXPECT_EQ(a.shared().size(), 7u);
  EXPECT_EQ(a.deadline_unix_us(), 1'700'000'000'123'456);
  EXPECT_EQ(a.context().at("trace"), "abc");
  EXPECT_EQ(a.attempt(), 3u);
  EXPECT_EQ(a.stamps().client_sent_ns(), 11);
  EXPECT_EQ(a.stamps().agent_received_ns(), 22);
  EXPECT_EQ(a.stamps().agent_dispatched_ns(), 33);
  // The record says the same, but for the type and context, which it encodes from the dispatch's.
  const wire::AssignmentRecord r = AssignmentOf(d, 33);
  EXPECT_EQ(r.job_id, d.id);
  EXPECT_EQ(r.segment, 5u);
  EXPECT_EQ(r.request.handle, 0x1234u);
  EXPECT_EQ(r.request.size, 100u);
  EXPECT_EQ(r.shared.handle, 0x5678u);
  EXPECT_EQ(r.shared.size, 7u);
  EXPECT_EQ(r.deadline_unix_us, 1'700'000'000'123'456);
  EXPECT_EQ(r.attempt, 3u);
  EXPECT_EQ(r.stamps.client_sent_ns, 11);
  EXPECT_EQ(r.stamps.agent_received_ns, 22);
  EXPECT_EQ(r.stamps.agent_dispatched_ns, 33);
  EXPECT_EQ(r.stamps.worker_received_ns, 0);
}

TEST(EffectEncodingTest, AResultMessageReadsAsTheRecordWithTheSameFields) {
  v1::JobResult m;
  m.set_job_id(77);
  m.set_code(9);
  m.set_message("no luck");
  m.set_early(true);
  m.mutable_response()->set_handle(0x42);
  m.mutable_response()->set_size(8);
  v1::Stamps* st = m.mutable_stamps();
  st->set_client_sent_ns(1);
  st->set_agent_received_ns(2);
  st->set_agent_dispatched_ns(3);
  st->set_worker_received_ns(4);
  st->set_worker_done_ns(5);
  const wire::ResultRecord r = ResultOfMessage(m);
  EXPECT_EQ(r.job_id, 77u);
  EXPECT_EQ(r.code, 9);
  EXPECT_EQ(r.message, "no luck");
  EXPECT_TRUE(r.early);
  EXPECT_EQ(r.response.handle, 0x42u);
  EXPECT_EQ(r.response.size, 8u);
  EXPECT_EQ(r.stamps.client_sent_ns, 1);
  EXPECT_EQ(r.stamps.agent_received_ns, 2);
  EXPECT_EQ(r.stamps.agent_dispatched_ns, 3);
  EXPECT_EQ(r.stamps.worker_received_ns, 4);
  EXPECT_EQ(r.stamps.worker_done_ns, 5);
}

TEST(EffectEncodingTest, AnAssignmentWithoutASharedPieceHasNone) {
  coordinator::Dispatch d;
  d.id = MakeJobId(5, 1);
  d.request = {shm::Handle::FromBits(0x1234), 1};
  EXPECT_FALSE(EncodeAssignment(d, 0).assignment().has_shared());
  EXPECT_EQ(AssignmentOf(d, 0).shared.handle, 0u);
  EXPECT_EQ(AssignmentOf(d, 0).shared.size, 0u);
}

TEST(EffectEncodingTest, ASuccessCarriesItsResponseAndTheStampsOfItsOwnResult) {
  coordinator::Completion c;
  c.session = 5;
  c.id = MakeJobId(5, 42);
  c.outcome = Outcome::kOk;
  c.response = {shm::Handle::FromBits(0x99), 64};
  c.queue_wait = absl::Microseconds(10);
  c.run_time = absl::Microseconds(20);
  c.attempts = 2;
  ResultStamps result{.job_id = c.id, .stamps = {.worker_done_ns = 44}, .agent_result_ns = 50};
  const wire::CompletionRecord r = CompletionOf(c, &result, 55);
  EXPECT_EQ(r.seq, 42u);
  EXPECT_EQ(r.outcome, v1::OUTCOME_OK);
  EXPECT_EQ(r.response.handle, 0x99u);
  EXPECT_EQ(r.worker_done_ns, 44);
  EXPECT_EQ(r.agent_result_ns, 50);
  EXPECT_EQ(r.agent_sent_ns, 55);
  // The message for a session that reads no records says the same.
  const v1::Completion pc = CompletionMessage(r).completion();
  EXPECT_EQ(pc.seq(), 42u);
  EXPECT_EQ(pc.outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(pc.code(), 0);
  EXPECT_EQ(pc.response().handle(), 0x99u);
  EXPECT_EQ(pc.response().size(), 64u);
  EXPECT_EQ(pc.queue_wait_us(), 10u);
  EXPECT_EQ(pc.run_us(), 20u);
  EXPECT_EQ(pc.attempts(), 2u);
  EXPECT_EQ(pc.stamps().worker_done_ns(), 44);
  EXPECT_EQ(pc.stamps().agent_sent_ns(), 55);
  // Another job's result lends nothing.
  result.job_id = c.id + 1;
  EXPECT_EQ(CompletionOf(c, &result, 55).agent_sent_ns, 0);
  EXPECT_FALSE(CompletionMessage(CompletionOf(c, &result, 55)).completion().has_stamps());
}

TEST(EffectEncodingTest, AFailureCarriesItsOutcomeCodeAndMessage) {
  coordinator::Completion c;
  c.id = MakeJobId(5, 7);
  c.outcome = Outcome::kDeadlineExceeded;
  c.status = absl::DeadlineExceededError("too slow");
  const wire::CompletionRecord r = CompletionOf(c, nullptr, 0);
  EXPECT_EQ(r.code, static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(r.message, "too slow");
  const v1::Completion pc = CompletionMessage(r).completion();
  EXPECT_EQ(pc.seq(), 7u);
  EXPECT_EQ(pc.outcome(), v1::OUTCOME_DEADLINE_EXCEEDED);
  EXPECT_EQ(pc.code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(pc.message(), "too slow");
  EXPECT_FALSE(pc.has_response());
}

TEST(EffectEncodingTest, AFailedCompletionNamesTheJobBySequence) {
  const v1::Completion pc =
      CompletionMessage(FailedCompletionOf(9, v1::OUTCOME_WORKER_DIED, absl::UnavailableError("gone"))).completion();
  EXPECT_EQ(pc.seq(), 9u);
  EXPECT_EQ(pc.outcome(), v1::OUTCOME_WORKER_DIED);
  EXPECT_EQ(pc.code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(pc.message(), "gone");
}

TEST(EffectEncodingTest, IdleWorkersMayExitCleanlyTheRestAreKilled) {
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kRecycle).signal, SIGTERM);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kRecycle).reason, ExitReason::kRecycled);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kMemory).signal, SIGTERM);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kMemory).reason, ExitReason::kKilledRss);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kDeadline).signal, SIGKILL);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kDeadline).reason, ExitReason::kKilledDeadline);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kCancelled).signal, SIGKILL);
  EXPECT_EQ(StopOrderFor(coordinator::KillReason::kCancelled).reason, ExitReason::kKilledOther);
}

}  // namespace
}  // namespace jobd::agent
