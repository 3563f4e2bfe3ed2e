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

wire::AssignmentRecord AssignmentOf(const coordinator::Dispatch& d, int64_t dispatched_ns) {
  wire::AssignmentRecord a;
  a.job_id = d.id;
  a.segment = coordinator::SessionOf(d.id);
  a.attempt = d.attempt;
  a.request = {d.request.handle.bits(), d.request.size};
  if (d.shared.present()) a.shared = {d.shared.handle.bits(), d.shared.size};
  a.deadline_unix_us = absl::ToUnixMicros(d.deadline);
  a.stamps = wire::JobStamps{.client_sent_ns = d.trace.client_sent_ns,
                             .agent_received_ns = d.trace.agent_received_ns,
                             .agent_dispatched_ns = dispatched_ns};
  return a;
}

v1::AgentToWorker EncodeAssignment(const coordinator::Dispatch& d, int64_t dispatched_ns) {
  const wire::AssignmentRecord r = AssignmentOf(d, dispatched_ns);
  v1::AgentToWorker msg;
  v1::Assignment* a = msg.mutable_assignment();
  a->set_job_id(r.job_id);
  a->set_segment(r.segment);
  a->set_type(d.type);
  a->mutable_request()->set_handle(r.request.handle);
  a->mutable_request()->set_size(r.request.size);
  if (d.shared.present()) {
    a->mutable_shared()->set_handle(r.shared.handle);
    a->mutable_shared()->set_size(r.shared.size);
  }
  a->set_deadline_unix_us(r.deadline_unix_us);
  a->mutable_context()->insert(d.context.begin(), d.context.end());
  a->set_attempt(r.attempt);
  v1::Stamps* stamps = a->mutable_stamps();
  stamps->set_client_sent_ns(r.stamps.client_sent_ns);
  stamps->set_agent_received_ns(r.stamps.agent_received_ns);
  stamps->set_agent_dispatched_ns(r.stamps.agent_dispatched_ns);
  return msg;
}

wire::ResultRecord ResultOfMessage(const v1::JobResult& m) {
  const v1::Stamps& st = m.stamps();
  return wire::ResultRecord{.job_id = m.job_id(),
                            .code = m.code(),
                            .early = m.early(),
                            .response = {m.response().handle(), m.response().size()},
                            .stamps = {.client_sent_ns = st.client_sent_ns(),
                                       .agent_received_ns = st.agent_received_ns(),
                                       .agent_dispatched_ns = st.agent_dispatched_ns(),
                                       .worker_received_ns = st.worker_received_ns(),
                                       .worker_done_ns = st.worker_done_ns()},
                            .message = m.message()};
}

wire::CompletionRecord CompletionOf(const coordinator::Completion& c, const ResultStamps* result, int64_t sent_ns) {
  wire::CompletionRecord r = c.outcome == Outcome::kOk
                                 ? wire::CompletionRecord{.seq = static_cast<uint32_t>(c.id), .outcome = v1::OUTCOME_OK}
                                 : FailedCompletionOf(static_cast<uint32_t>(c.id), OutcomeToProto(c.outcome), c.status);
  if (c.response.present()) r.response = {c.response.handle.bits(), c.response.size};
  r.queue_wait_us = static_cast<uint64_t>(absl::ToInt64Microseconds(c.queue_wait));
  r.run_us = static_cast<uint64_t>(absl::ToInt64Microseconds(c.run_time));
  r.attempts = c.attempts;
  if (result != nullptr && result->job_id == c.id) {
    const wire::JobStamps& st = result->stamps;
    r.client_sent_ns = st.client_sent_ns;
    r.agent_received_ns = st.agent_received_ns;
    r.agent_dispatched_ns = st.agent_dispatched_ns;
    r.worker_received_ns = st.worker_received_ns;
    r.worker_done_ns = st.worker_done_ns;
    r.agent_result_ns = result->agent_result_ns;
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
