// The coordinator's bookkeeping records. Internal: only coordinator.cc uses them.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"
#include "coordinator/effects.h"
#include "coordinator/job.h"
#include "coordinator/stats.h"

namespace jobd::coordinator::internal {

// kAhead: dispatched ahead to a busy worker, in its ring behind the job it runs; not started.
enum class Phase { kQueued, kBackoff, kAhead, kRunning, kDetached };

// One job, across its attempts. It lives until its final completion is out and no worker still
// runs an attempt of it: until then its request (and shared piece) may still be read, so the
// slabs stay held.
struct Job {
  JobRequest req;
  // The job type's entry in the coordinator's stats table, looked up once at Submit rather than
  // by name at every step (a std::map node: it stays put, and no entry is ever erased).
  TypeStats* stats = nullptr;
  Phase phase = Phase::kQueued;
  uint32_t attempt = 1;
  uint64_t enqueue_seq = 0;          // matches the queue entry that is current
  absl::Time submitted_at;
  absl::Time enqueued_at;            // this attempt's
  absl::Time dispatched_at = absl::InfinitePast();
  absl::Time deadline;               // this attempt's: enqueued_at + timeout
  absl::Time timer = absl::InfiniteFuture();  // the key in the job timer set, if any
  WorkerId running_on = 0;           // the worker of the current attempt (kAhead: the one it waits on)
  uint32_t lingering = 0;            // workers still running abandoned attempts
  bool final_emitted = false;        // the one completion counted for this job is out
  Outcome final_outcome = Outcome::kOk;
  bool session_gone = false;
};

struct Worker {
  WorkerId id = 0;
  absl::flat_hash_set<std::string> types;
  bool busy = false;
  bool draining = false;  // to be stopped: never dispatched to again
  JobId job = 0;          // while busy
  uint32_t attempt = 0;   // of `job`
  absl::Time started_at = absl::InfiniteFuture();  // `job`'s start; InfiniteFuture: not a run to learn from
  // Dispatched ahead: in the worker's ring behind `job`, in order, each started only once the
  // one before it ends. At most CoordinatorOptions::dispatch_ahead_depth.
  struct Ahead {
    JobId id = 0;
    uint32_t attempt = 0;
    // Withdrawn (cancel, deadline, session end) and the worker told to skip it: if it starts
    // it anyway (the skip raced its start), it is stopped after the grace.
    std::optional<KillReason> withdrawn;
    absl::Duration expected;  // its type's recent run time when it was given
  };
  absl::InlinedVector<Ahead, 4> ahead;
  absl::Duration ahead_expected;  // the sum of `ahead`'s `expected`
  uint64_t idle_ticket = 0;  // in the IdlePool while non-zero
  uint64_t jobs_done = 0;
  absl::Time kill_at = absl::InfiniteFuture();
  KillReason kill_reason = KillReason::kDeadline;
  std::optional<KillReason> retire_after_job;  // stop it once its current job (or lease) ends
  bool takes_leases = false;                   // its hello said it serves leases
  SessionId leased_to = 0;                     // serving this session's lane; not busy, not idle
  bool revoking = false;                       // a RevokeLease is out, LeaseReleased not yet in
  absl::Time lease_active;                     // the lease's grant or latest lane activity
};

struct Session {
  size_t queued = 0;
  WorkerId lease = 0;  // the worker leased to it, 0 when none
  absl::flat_hash_set<JobId> jobs;  // live jobs, all policies
};

struct SharedPiece {
  SessionId session = 0;
  uint64_t size = 0;
  uint32_t refs = 0;  // live jobs that reference it
};

}  // namespace jobd::coordinator::internal
