#include "client/job_error.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"

namespace jobd::client {
namespace {
constexpr absl::string_view kOutcomeUrl = "type.jobd.dev/outcome";
}  // namespace

std::string_view JobOutcomeName(JobOutcome outcome) {
  switch (outcome) {
    case JobOutcome::kOk: return "ok";
    case JobOutcome::kRejected: return "rejected";
    case JobOutcome::kDeadlineExceeded: return "deadline_exceeded";
    case JobOutcome::kWorkerDied: return "worker_died";
    case JobOutcome::kHandlerError: return "handler_error";
    case JobOutcome::kCancelled: return "cancelled";
    case JobOutcome::kDisconnected: return "disconnected";
  }
  return "unknown";
}

JobOutcome OutcomeOf(const absl::Status& status) {
  if (status.ok()) return JobOutcome::kOk;
  auto payload = status.GetPayload(kOutcomeUrl);
  if (!payload.has_value()) return JobOutcome::kRejected;
  const std::string name(*payload);
  for (JobOutcome o : {JobOutcome::kRejected, JobOutcome::kDeadlineExceeded,
                       JobOutcome::kWorkerDied, JobOutcome::kHandlerError,
                       JobOutcome::kCancelled, JobOutcome::kDisconnected}) {
    if (JobOutcomeName(o) == name) return o;
  }
  return JobOutcome::kRejected;
}

absl::Status WithOutcome(absl::Status status, JobOutcome outcome) {
  if (!status.ok()) status.SetPayload(kOutcomeUrl, absl::Cord(std::string(JobOutcomeName(outcome))));
  return status;
}

}  // namespace jobd::client
