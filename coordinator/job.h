// The value types of the job model, shared by the coordinator and the agent.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/job_id.h"
#include "shm/handle.h"

namespace jobd::coordinator {

// The agent builds job ids as (session << 32 | the client's sequence number), so a client
// knows its job ids without a round trip. Unique among live jobs.
using JobId = uint64_t;
// Sessions and workers are named by their arena owner ids (see shm::OwnerId).
using SessionId = shm::OwnerId;
using WorkerId = shm::OwnerId;

using ::jobd::MakeJobId;
constexpr SessionId SessionOf(JobId id) { return ::jobd::SessionOfJob(id); }

// KPHP's three policies.
enum class Policy { kSimple, kManualRespond, kNoReply };
// Lower runs first: interactive jobs pass batch jobs in the queue.
enum class Priority { kInteractive = 0, kBatch = 1 };
inline constexpr int kPriorityLevels = 2;

using Context = std::map<std::string, std::string>;

struct SlabRef {
  shm::Handle handle;  // null when absent
  uint64_t size = 0;
  bool present() const { return !handle.is_null(); }
};

struct RetryPolicy {
  uint32_t max_attempts = 1;               // 1: no retry
  absl::Duration backoff = absl::ZeroDuration();  // before attempt 2; doubles each attempt
  bool retry_handler_errors = false;       // worker deaths and timeouts retry regardless
};

// Monotonic stamps (ns) carried through for the latency breakdown; scheduling never reads them.
struct Trace {
  int64_t client_sent_ns = 0;
  int64_t agent_received_ns = 0;
};

struct JobRequest {
  JobId id = 0;
  SessionId session = 0;
  std::string type;
  SlabRef request;  // owned by `session` until Submit succeeds, then by the job
  SlabRef shared;   // optional read-only piece shared by a batch (start-multi)
  // Covers queue wait plus run time of one attempt, as in KPHP. Zero: the default.
  absl::Duration timeout = absl::ZeroDuration();
  Policy policy = Policy::kSimple;
  Priority priority = Priority::kInteractive;
  Context context;
  RetryPolicy retry;
  Trace trace;
};

// How a job ended. kRejected means "could not start"; the others "started but ..." apart
// from kOk.
enum class Outcome { kOk, kRejected, kDeadlineExceeded, kWorkerDied, kHandlerError, kCancelled };
const char* OutcomeName(Outcome outcome);  // "ok", "rejected", "deadline_exceeded", ...

enum class JobState { kQueued, kRunning, kDone, kFailed };
const char* JobStateName(JobState state);  // "queued", "running", "done", "failed"

}  // namespace jobd::coordinator
