// What the coordinator's Effects look like on the wire and to the supervisor: an Assignment for
// a worker, a Completion for a session, a signal for a kill. Pure: no I/O, no locks, so the
// agent's applier only routes and sends, and each mapping has one place and a unit test.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "agent/supervisor.h"
#include "coordinator/effects.h"
#include "proto/jobd.pb.h"
#include "proto/session_records.h"
#include "proto/worker_records.h"

namespace jobd::agent {

v1::Outcome OutcomeToProto(coordinator::Outcome outcome);
// A lane report says only whether the handler succeeded.
coordinator::Outcome OutcomeOfLaneReport(v1::Outcome reported);

// The assignment a worker gets for a dispatch; `dispatched_ns` is the agent's stamp. As a record,
// all but the type and the context, which are encoded from the dispatch's own (proto/worker_records.h);
// as a message, for a worker that reads no records (its hello did not ask), whole.
wire::AssignmentRecord AssignmentOf(const coordinator::Dispatch& dispatch, int64_t dispatched_ns);
v1::AgentToWorker EncodeAssignment(const coordinator::Dispatch& dispatch, int64_t dispatched_ns);

// A worker's answer as a message (from a worker that writes no records), as the record says it.
wire::ResultRecord ResultOfMessage(const v1::JobResult& result);

// The stamps of the worker's answer that ended a job, and when the agent read it.
struct ResultStamps {
  uint64_t job_id = 0;
  wire::JobStamps stamps;
  int64_t agent_result_ns = 0;
};

// What the session learns of a completion. `result`, when it is the worker's answer that ended
// this job, lends its stamps (and `sent_ns` is the agent's).
wire::CompletionRecord CompletionOf(const coordinator::Completion& completion, const ResultStamps* result,
                                    int64_t sent_ns);

// A job of the session's that ends without a response: refused, or a lane job the agent ends on
// the worker's behalf (its worker died, or its deadline passed); `seq` is the job's number in
// its session.
wire::CompletionRecord FailedCompletionOf(uint32_t seq, v1::Outcome outcome, const absl::Status& status);

// The same as a message, for a session that reads no records (its hello did not ask); stamps
// only when the record has any, the response only when there is one.
v1::AgentMessage CompletionMessage(const wire::CompletionRecord& record);

// How a kill is carried out: the reason its exit is recorded under, and the signal. Recycling
// and memory let an idle worker exit cleanly (SIGTERM); the rest cannot wait (SIGKILL).
struct StopOrder {
  ExitReason reason;
  int signal;
};
StopOrder StopOrderFor(coordinator::KillReason reason);

}  // namespace jobd::agent
