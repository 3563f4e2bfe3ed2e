// The coordinator: pure scheduling logic. Job table, priority queues, deadlines, dispatch to
// idle workers, retries, ownership of jobs and their slabs, per-session quotas, per-type stats.
//
// No I/O, no threads, no clock reads of its own: every call is an event, and what the agent
// must do about it comes back as Effects. Not thread-safe: the agent serialises calls.
//
// Slab ownership (through SlabLedger): a request (and a shared piece) moves from its session to
// shm::kAgentOwner when Submit succeeds, and is freed when the job ends. A response moves from
// the worker that wrote it to the waiting session, or is freed when nobody waits.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"
#include "coordinator/effects.h"
#include "coordinator/job.h"
#include "coordinator/slab_ledger.h"
#include "coordinator/stats.h"

namespace jobd::coordinator {

struct CoordinatorOptions {
  size_t max_queue = 10000;                                 // queued jobs, all sessions
  size_t max_queued_per_session = 0;                        // 0: no per-session quota
  absl::Duration default_timeout = absl::Seconds(30);       // when a request gives zero
  absl::Duration max_timeout = absl::Hours(24);
  absl::Duration grace = absl::Seconds(1);                  // after a deadline, before a kill
  uint32_t worker_max_jobs = 0;                             // 0: never recycle
  size_t max_type_length = 128;
  size_t max_context_bytes = 4096;                          // keys + values
  uint32_t max_attempts_limit = 10;
  size_t finished_jobs_remembered = 10000;                  // for Status() after the end
};

enum class WorkerState { kIdle, kBusy, kDraining };
const char* WorkerStateName(WorkerState state);

struct WorkerInfo {
  WorkerId id = 0;
  WorkerState state = WorkerState::kIdle;
  JobId job = 0;  // when busy
  uint64_t jobs_done = 0;
};

struct JobStatus {
  JobId id = 0;
  std::string type;
  JobState state = JobState::kQueued;
  Outcome outcome = Outcome::kOk;  // meaningful for kDone / kFailed
  uint32_t attempt = 1;
};

class Coordinator {
 public:
  Coordinator(CoordinatorOptions options, const Clock& clock, SlabLedger& ledger);

  // ---- sessions
  void OpenSession(SessionId session);
  // The session's stream ended: its queued Simple/ManualRespond jobs are cancelled (slabs
  // freed), its running ones are cancelled (CancelRunning, then a kill after the grace
  // period if they do not end); NoReply jobs run on, and so does a ManualRespond job that has
  // already answered. Its own slabs are the agent's to reclaim.
  Effects CloseSession(SessionId session);

  // ---- jobs
  // Validates and queues. On error nothing changed (slabs stay with the session):
  // InvalidArgument (empty/too long type, bad timeout, context too large, bad retry policy,
  // shared piece with NoReply), AlreadyExists (the id of a live job), NotFound (a type no
  // registered worker handles, once at least one worker has registered), FailedPrecondition
  // (unknown session),
  // ResourceExhausted (queue full or the session's quota: the message names the limit and
  // its value), and the ledger's errors for the request and shared handles.
  absl::StatusOr<Effects> Submit(JobRequest request);

  // Cancels a job of this session: queued, it never starts; running, the worker is told and
  // killed after the grace period if it does not end. NotFound for unknown or finished ids.
  absl::StatusOr<Effects> Cancel(SessionId session, JobId id);

  // Queued / running / done / failed; remembers the last finished_jobs_remembered ends.
  absl::StatusOr<JobStatus> Status(JobId id) const;

  // ---- workers
  // A worker connected and handles these types. It becomes idle (and may get a job at once).
  absl::StatusOr<Effects> AddWorker(WorkerId worker, std::vector<std::string> types);
  // The worker process is gone (exit, crash, kill). Its running job fails with kWorkerDied
  // ("worker died while running job N", or `why` when given: a worker the agent stopped for a
  // protocol violation) or is retried if its policy allows.
  Effects WorkerGone(WorkerId worker, absl::Status why = absl::OkStatus());

  // Retire a worker (it grew too large, say): no more jobs for it; it is stopped
  // (KillWorker with `reason`) at once if idle, else as soon as its current job ends.
  Effects RetireWorker(WorkerId worker, KillReason reason);

  // A worker finished its job: `response` is OK with an optional slab (held by the worker),
  // or the handler's error. When nobody takes the response any more (answered early, past its
  // deadline, cancelled, session gone) the slab is freed. Errors for a job the worker does not
  // run or a response slab it does not own; then nothing changed.
  absl::StatusOr<Effects> JobFinished(WorkerId worker, JobId id, absl::StatusOr<SlabRef> response);

  // ManualRespond: the handler answered early and keeps working; the worker stays busy.
  absl::StatusOr<Effects> EarlyResponse(WorkerId worker, JobId id, SlabRef response);

  // ---- time
  // Deadlines in the queue (the job never starts) and while running (completion now, a kill
  // after the grace period), retry backoffs that are due.
  Effects Tick();
  // When Tick next has something to do; nullopt when nothing is pending.
  std::optional<absl::Time> NextWakeup() const;

  // ---- introspection (cheap; for metrics and admin RPCs)
  size_t QueueDepth() const;
  std::map<std::string, size_t> QueueDepthByType() const;
  std::optional<absl::Duration> OldestQueuedAge() const;
  std::vector<WorkerInfo> Workers() const;
  size_t SessionCount() const;
  const TypeStatsTable& Stats() const;
  std::vector<std::string> KnownTypes() const;
  size_t LiveJobs() const;
  // Jobs of this session still in the table (queued, running or lingering). O(jobs).
  size_t LiveJobsOf(SessionId session) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;

 public:
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;
};

}  // namespace jobd::coordinator
