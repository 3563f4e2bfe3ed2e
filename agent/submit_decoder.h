// Turns a client's Submit message into a coordinator JobRequest, refusing what the wire allows
// but the job model does not (seq 0, unknown enum values, absurd timeouts). Pure: no I/O.
#pragma once

#include "absl/status/statusor.h"
#include "coordinator/job.h"
#include "proto/jobd.pb.h"
#include "proto/session_records.h"

namespace jobd::agent {

absl::StatusOr<coordinator::JobRequest> DecodeSubmit(coordinator::SessionId session, const v1::Submit& submit);

// The Submit a SubmitRecord says, into `out` (reused: its strings keep their capacity), for
// DecodeSubmit to check as any other.
void SubmitOfRecord(const wire::SubmitRecord& record, v1::Submit& out);

}  // namespace jobd::agent
