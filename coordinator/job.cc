#include "coordinator/job.h"

namespace jobd::coordinator {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk: return "ok";
    case Outcome::kRejected: return "rejected";
    case Outcome::kDeadlineExceeded: return "deadline_exceeded";
    case Outcome::kWorkerDied: return "worker_died";
    case Outcome::kHandlerError: return "handler_error";
    case Outcome::kCancelled: return "cancelled";
  }
  return "unknown";
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kFailed: return "failed";
  }
  return "unknown";
}

}  // namespace jobd::coordinator
