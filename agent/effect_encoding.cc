#include "agent/effect_encoding.h"

#include <signal.h>

#include <algorithm>
#include <iterator>
#include <string>

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

wire::CompletionRecord CompletionOf(const coordinator::Completion& c, const v1::JobResult* result, int64_t sent_ns) {
  wire::CompletionRecord r = c.outcome == Outcome::kOk
                                 ? wire::CompletionRecord{.seq = static_cast<uint32_t>(c.id), .outcome = v1::OUTCOME_OK}
                                 : FailedCompletionOf(static_cast<uint32_t>(c.id), OutcomeToProto(c.outcome), c.status);
  if (c.response.present()) r.response = {c.response.handle.bits(), c.response.size};
  r.queue_wait_us = static_cast<uint64_t>(absl::ToInt64Microseconds(c.queue_wait));
  r.run_us = static_cast<uint64_t>(absl::ToInt64Microseconds(c.run_time));
  r.attempts = c.attempts;
  if (result != nullptr && result->job_id() == c.id) {
    const v1::Stamps& st = result->stamps();
    r.client_sent_ns = st.client_sent_ns();
    r.agent_received_ns = st.agent_received_ns();
    r.agent_dispatched_ns = st.agent_dispatched_ns();
    r.worker_received_ns = st.worker_received_ns();
    r.worker_done_ns = st.worker_done_ns();
    r.agent_result_ns = st.agent_result_ns();
    r.agent_sent_ns = sent_ns;
  }
  return r;
}

wire::CompletionRecord FailedCompletionOf(uint32_t seq, v1::Outcome outcome, const absl::Status& status) {
  return wire::CompletionRecord{
      .seq = seq, .outcome = outcome, .code = wire::CodeOnWire(status), .message = std::string(status.message())};
}

v1::AgentMessage CompletionMessage(const wire::CompletionRecord& r) {
  v1::AgentMessage msg;
  v1::Completion* pc = msg.mutable_completion();
  pc->set_seq(r.seq);
  pc->set_outcome(static_cast<v1::Outcome>(r.outcome));
  pc->set_code(r.code);
  pc->set_message(r.message);
  if (r.response.handle != 0 || r.response.size != 0) {
    pc->mutable_response()->set_handle(r.response.handle);
    pc->mutable_response()->set_size(r.response.size);
  }
  pc->set_queue_wait_us(r.queue_wait_us);
  pc->set_run_us(r.run_us);
  pc->set_attempts(r.attempts);
  pc->set_early(r.early);
  const int64_t stamps[] = {r.client_sent_ns,  r.agent_received_ns, r.agent_dispatched_ns, r.worker_received_ns,
                            r.worker_done_ns, r.agent_result_ns,   r.agent_sent_ns};
  if (std::any_of(std::begin(stamps), std::end(stamps), [](int64_t ns) { return ns != 0; })) {
    v1::Stamps* st = pc->mutable_stamps();
    st->set_client_sent_ns(r.client_sent_ns);
    st->set_agent_received_ns(r.agent_received_ns);
    st->set_agent_dispatched_ns(r.agent_dispatched_ns);
    st->set_worker_received_ns(r.worker_received_ns);
    st->set_worker_done_ns(r.worker_done_ns);
    st->set_agent_result_ns(r.agent_result_ns);
    st->set_agent_sent_ns(r.agent_sent_ns);
  }
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
