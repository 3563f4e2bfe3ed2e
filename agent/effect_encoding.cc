#include "agent/effect_encoding.h"

#include <signal.h>

#include "proto/wire_status.h"

namespace jobd::agent {

using coordinator::Outcome;

v1::Outcome OutcomeToProto(Outcome o) {
  switch (o) {
    case Outcome::kOk: return v1::OUTCOME_OK;
    case Outcome::kRejected: return v1::OUTCOME_REJECTED;
    case Outcome::kDeadlineExceeded: return v1::OUTCOME_DEADLINE_EXCEEDED;
    case Outcome::kWorkerDied: return v1::OUTCOME_WORKER_DIED;
    case Outcome::kHandlerError: return v1::OUTCOME_HANDLER_ERROR;
    case Outcome::kCancelled: return v1::OUTCOME_CANCELLED;
  }
  return v1::OUTCOME_REJECTED;
}

Outcome OutcomeOfLaneReport(v1::Outcome reported) {
  return reported == v1::OUTCOME_OK ? Outcome::kOk : Outcome::kHandlerError;
}

v1::AgentToWorker EncodeAssignment(const coordinator::Dispatch& d, int64_t dispatched_ns) {
  v1::AgentToWorker msg;
  v1::Assignment* a = msg.mutable_assignment();
  a->set_job_id(d.id);
  a->set_segment(coordinator::SessionOf(d.id));
  a->set_type(d.type);
  a->mutable_request()->set_handle(d.request.handle.bits());
  a->mutable_request()->set_size(d.request.size);
  if (d.shared.present()) {
    a->mutable_shared()->set_handle(d.shared.handle.bits());
    a->mutable_shared()->set_size(d.shared.size);
  }
  a->set_deadline_unix_us(absl::ToUnixMicros(d.deadline));
  a->mutable_context()->insert(d.context.begin(), d.context.end());
  a->set_attempt(d.attempt);
  v1::Stamps* stamps = a->mutable_stamps();
  stamps->set_client_sent_ns(d.trace.client_sent_ns);
  stamps->set_agent_received_ns(d.trace.agent_received_ns);
  stamps->set_agent_dispatched_ns(dispatched_ns);
  return msg;
}

v1::AgentMessage EncodeCompletion(const coordinator::Completion& c, const v1::JobResult* result, int64_t sent_ns) {
  v1::AgentMessage msg;
  v1::Completion* pc = msg.mutable_completion();
  if (c.outcome == Outcome::kOk) {
    pc->set_seq(static_cast<uint32_t>(c.id));
    pc->set_outcome(v1::OUTCOME_OK);
  } else {
    *pc = wire::FailedCompletion(static_cast<uint32_t>(c.id), OutcomeToProto(c.outcome), c.status);
  }
  if (c.response.present()) {
    pc->mutable_response()->set_handle(c.response.handle.bits());
    pc->mutable_response()->set_size(c.response.size);
  }
  pc->set_queue_wait_us(absl::ToInt64Microseconds(c.queue_wait));
  pc->set_run_us(absl::ToInt64Microseconds(c.run_time));
  pc->set_attempts(c.attempts);
  if (result != nullptr && result->job_id() == c.id) {
    *pc->mutable_stamps() = result->stamps();
    pc->mutable_stamps()->set_agent_sent_ns(sent_ns);
  }
  return msg;
}

v1::AgentMessage EncodeLaneJobEnd(uint64_t job_id, v1::Outcome outcome, const absl::Status& status) {
  v1::AgentMessage msg;
  *msg.mutable_completion() = wire::FailedCompletion(static_cast<uint32_t>(job_id), outcome, status);
  return msg;
}

StopOrder StopOrderFor(coordinator::KillReason reason) {
  switch (reason) {
    case coordinator::KillReason::kDeadline: return {ExitReason::kKilledDeadline, SIGKILL};
    case coordinator::KillReason::kRecycle: return {ExitReason::kRecycled, SIGTERM};
    case coordinator::KillReason::kCancelled: return {ExitReason::kKilledOther, SIGKILL};
    case coordinator::KillReason::kMemory: return {ExitReason::kKilledRss, SIGTERM};
  }
  return {ExitReason::kKilledOther, SIGKILL};
}

}  // namespace jobd::agent
