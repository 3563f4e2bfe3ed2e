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
#include "absl/strings/string_view.h"
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
  // Worker leases: an idle worker serves one session's lane directly, without the agent.
  bool leases = false;                                      // off unless the agent turns it on
  absl::Duration lease_quiet = absl::Seconds(1);            // no lease while a job queued this recently
  absl::Duration lease_idle = absl::Seconds(2);             // a lease with no lane job for this long is revoked
  // Dispatch ahead (as Ray pipelines tasks to a leased worker): when no worker is idle, a job is
  // also given to a busy worker with fewer than dispatch_ahead_depth jobs behind its current
  // one, which starts it the moment those end, without the agent's wake-up in between. Only
  // where the current job's type recently ran for at most dispatch_ahead_max_run (an EWMA of
  // its run times; a type with no run yet does not qualify) and it has not yet run longer, and
  // the recent run times of the jobs behind, this one's included, add up to at most
  // dispatch_ahead_max_run: a job of a higher priority that comes later waits behind at most
  // that much short work per worker, besides the current job.
  bool dispatch_ahead = false;                              // off unless the agent turns it on
  absl::Duration dispatch_ahead_max_run = absl::Milliseconds(1);
  size_t dispatch_ahead_depth = 1;
};

enum class WorkerState { kIdle, kBusy, kDraining, kLeased };
const char* WorkerStateName(WorkerState state);  // "idle", "busy", "draining", "leased"

struct WorkerInfo {
  WorkerId id = 0;
  // kLeased while it holds a lease, even once retired: it still serves the lane until released.
  WorkerState state = WorkerState::kIdle;
  JobId job = 0;  // when busy
  uint64_t jobs_done = 0;  // jobs it ran: dispatched ones, and lane jobs once reported ended
  SessionId leased_to = 0;  // when leased
  bool revoking = false;    // when leased: a RevokeLease is out, LeaseReleased not yet in
  std::vector<JobId> ahead;  // when busy: the jobs dispatched ahead, waiting behind `job` in order, not started
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
  // freed), its jobs dispatched ahead are withdrawn (CancelRunning: the worker skips them),
  // its running ones are cancelled (CancelRunning, then a kill after the grace period if they
  // do not end); NoReply jobs run on, and so does a ManualRespond job that has
  // already answered. Its lease is revoked (the worker stays leased until LeaseReleased or
  // WorkerGone). Its own slabs are the agent's to reclaim.
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

  // Cancels a job of this session: queued, it never starts; dispatched ahead, the worker is told
  // to skip it (CancelRunning) and only that job is touched; running, the worker is told
  // and killed after the grace period if it does not end. NotFound for unknown or finished ids.
  absl::StatusOr<Effects> Cancel(SessionId session, JobId id);

  // Queued / running / done / failed; remembers the last finished_jobs_remembered ends.
  absl::StatusOr<JobStatus> Status(JobId id) const;

  // ---- workers
  // A worker connected and handles these types. It becomes idle (and may get a job at once).
  // `takes_leases`: the worker serves leases (its hello said so); only such a worker is leased.
  absl::StatusOr<Effects> AddWorker(WorkerId worker, std::vector<std::string> types, bool takes_leases = false);
  // The worker process is gone (exit, crash, kill). Its running job fails with kWorkerDied
  // ("worker died while running job N", or `why` when given: a worker the agent stopped for a
  // protocol violation) or is retried if its policy allows. A job dispatched ahead to it never
  // started: it goes back to its place in the queue, its attempt not spent (the agent handles
  // every answer the worker sent before this, so that a started job behind was promoted). A
  // lease it held is dropped and no job fails for it: lane jobs are the agent's to settle.
  Effects WorkerGone(WorkerId worker, absl::Status why = absl::OkStatus());
  // The worker's stream ended: it is given nothing more, while what it answered before (its
  // JobFinished) is still taken, up to WorkerGone.
  void WorkerLeaving(WorkerId worker);

  // Retire a worker (it grew too large, say): no more jobs for it; it is stopped
  // (KillWorker with `reason`) at once if idle, else as soon as its current job ends; a leased
  // worker's lease is revoked and it is stopped once LeaseReleased comes.
  Effects RetireWorker(WorkerId worker, KillReason reason);

  // A worker finished its job: `response` is OK with an optional slab (held by the worker),
  // or the handler's error. When nobody takes the response any more (answered early, past its
  // deadline, cancelled, session gone) the slab is freed. Errors for a job the worker does not
  // run or a response slab it does not own; then nothing changed.
  absl::StatusOr<Effects> JobFinished(WorkerId worker, JobId id, absl::StatusOr<SlabRef> response);

  // ManualRespond: the handler answered early and keeps working; the worker stays busy.
  absl::StatusOr<Effects> EarlyResponse(WorkerId worker, JobId id, SlabRef response);

  // ---- leases (after Ray's raylet worker leases)
  // With options.leases on, a worker whose Simple job ended is leased to that job's session
  // instead of going idle when the session is open, lease-eligible and holds no lease, the
  // worker has nothing queued to take and is not retiring, and no job has had to queue within
  // options.lease_quiet. A lease is revoked when a job queues that the pool's own workers of its
  // type will not take in one round (fewer of them are idle or about to be than jobs of that
  // type wait), after options.lease_idle without lane activity, when its session closes and
  // when its worker is retired. Leased workers never get dispatches; lane jobs never enter the job table.
  //
  // The worker acknowledged a revoke (or the agent takes the lease back itself): it becomes idle
  // and may get a queued job at once; a worker retired meanwhile is killed instead.
  // FailedPrecondition when the worker holds no lease.
  absl::StatusOr<Effects> LeaseReleased(WorkerId worker);
  // A lane job of this worker's lease was reported (started, or `job_ended`): the lease is in
  // use (resets its idle timer); an ended job counts toward options.worker_max_jobs, whose
  // recycling comes when the worker gives the lease back (GrantLease::jobs_left tells it when).
  // A no-op returning false for a worker that holds no lease (a report that raced the release)
  // or a `type` it does not handle (a report to ignore: nothing of it may reach the stats).
  bool LaneActivity(WorkerId worker, absl::string_view type, bool job_ended);
  // A lane job ended (reported by the worker after the fact): per-type stats (count, outcome,
  // run time) and Status(id) afterwards as for any finished job. Does not touch the job table.
  void RecordLaneJob(JobId id, const std::string& type, Outcome outcome, absl::Duration run_time);
  // Revokes every lease (drain, shutdown).
  Effects RevokeAllLeases();
  // Revokes this worker's lease (the agent needs the quota slot it holds); nothing when it
  // holds none or a revoke is already out.
  Effects RevokeLease(WorkerId worker);
  // The session that holds this worker's lease; 0 when none.
  SessionId LeasedTo(WorkerId worker) const;
  // Sessions allowed to hold a lease (the agent marks a session once its segment is attached).
  // Only an open session can be marked (a mark that races the session's end is dropped);
  // CloseSession forgets it. Turning it off does not revoke an existing lease.
  void SetLeaseEligible(SessionId session, bool eligible);

  // ---- time
  // Deadlines in the queue or behind a busy worker (the job never starts; the worker is told to
  // skip it) and while running (completion now, a kill after the grace period), retry backoffs that are due, leases idle for options.lease_idle.
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
