// Job errors are absl::Status values. Besides the code and message, each carries an outcome
// payload, so a caller can tell "could not start" (kRejected) from "started but failed".
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace jobd::client {

enum class JobOutcome {
  kOk,
  kRejected,          // could not start: bad input, unknown type, queue or arena full, no agent
  kDeadlineExceeded,  // started (or queued) and ran out of time
  kWorkerDied,        // the worker process died while running it
  kHandlerError,      // the handler returned an error or threw
  kCancelled,         // cancelled by the caller
  kDisconnected,      // the connection to the agent was lost while waiting
};

std::string_view JobOutcomeName(JobOutcome outcome);

// kOk for an OK status; the outcome recorded in the status, else kRejected.
JobOutcome OutcomeOf(const absl::Status& status);

// True when the job never started (the work was not done and may be retried elsewhere).
inline bool CouldNotStart(const absl::Status& status) {
  return OutcomeOf(status) == JobOutcome::kRejected;
}

absl::Status WithOutcome(absl::Status status, JobOutcome outcome);

}  // namespace jobd::client
