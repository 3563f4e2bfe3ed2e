// What the coordinator asks the agent to do after an event. The agent carries these out
// after releasing the coordinator's lock, in the order listed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/job.h"

namespace jobd::coordinator {

// Send a job to a worker.
struct Dispatch {
  WorkerId worker = 0;
  JobId id = 0;
  std::string type;
  SlabRef request;
  SlabRef shared;
  absl::Time deadline;
  Context context;
  uint32_t attempt = 1;  // 1 for the first try
  Trace trace;
};

// A job ended (or, for ManualRespond, answered). Slab ownership has already been settled in
// the ledger: `response` now belongs to the session.
struct Completion {
  SessionId session = 0;
  JobId id = 0;
  std::string type;
  Outcome outcome = Outcome::kOk;
  absl::Status status;  // OK for kOk, else a code and a message that says what happened
  SlabRef response;     // present only for kOk with a response
  bool deliver = true;  // false: nobody waits (NoReply, session gone): metrics only
  absl::Duration queue_wait = absl::ZeroDuration();
  absl::Duration run_time = absl::ZeroDuration();
  uint32_t attempts = 1;
};

enum class KillReason { kDeadline, kRecycle, kCancelled, kMemory };
const char* KillReasonName(KillReason reason);  // "deadline", "recycle", "cancelled", "memory"

// Stop a worker process. kRecycle and kMemory: the worker is idle and may exit gracefully; the
// others: kill it now (SIGKILL). Either way, the agent later reports WorkerGone.
struct KillWorker {
  WorkerId worker = 0;
  KillReason reason = KillReason::kDeadline;
  JobId job = 0;  // the job it overran or was cancelled in; 0 for recycle
};

// Tell a worker that the job it runs was cancelled (it may stop early).
struct CancelRunning {
  WorkerId worker = 0;
  JobId id = 0;
};

// Lease a worker to a session: the worker serves that session's lane until revoked.
struct GrantLease {
  WorkerId worker = 0;
  SessionId session = 0;
  uint64_t jobs_left = 0;  // lane jobs before the worker's recycling is due; 0: no limit
};

// Take a lease back: the worker finishes its current lane job and reports LeaseReleased.
struct RevokeLease {
  WorkerId worker = 0;
  SessionId session = 0;
};

struct Effects {
  std::vector<Dispatch> dispatches;
  std::vector<Completion> completions;
  std::vector<KillWorker> kills;
  std::vector<CancelRunning> cancels;
  std::vector<GrantLease> grants;
  std::vector<RevokeLease> revokes;

  bool empty() const {
    return dispatches.empty() && completions.empty() && kills.empty() && cancels.empty() && grants.empty() &&
           revokes.empty();
  }
  void Append(Effects&& other);
};

}  // namespace jobd::coordinator
