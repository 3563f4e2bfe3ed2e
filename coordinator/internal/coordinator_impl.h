// The coordinator's state and the steps every event is made of. Internal to coordinator/.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/finished_jobs.h"
#include "coordinator/internal/idle_pool.h"
#include "coordinator/internal/ready_queue.h"
#include "coordinator/internal/records.h"

namespace jobd::coordinator {

using internal::Phase;

struct Coordinator::Impl {
  Impl(CoordinatorOptions o, const Clock& c, SlabLedger& l) : options(std::move(o)), clock(c), ledger(l) {}

  CoordinatorOptions options;
  const Clock& clock;
  SlabLedger& ledger;

  absl::flat_hash_map<JobId, internal::Job> jobs;
  absl::flat_hash_map<WorkerId, internal::Worker> workers;
  absl::flat_hash_map<SessionId, internal::Session> sessions;
  absl::flat_hash_map<uint64_t, internal::SharedPiece> shared;  // by handle bits
  std::set<std::string> known_types;

  // Between events no idle worker handles the type of a queued job: a job that becomes ready
  // is offered to the idle workers of its type, a worker that becomes idle takes the best
  // queued job it handles, and only what finds no match waits.
  internal::ReadyQueue ready;
  internal::IdlePool idle;
  uint64_t next_seq = 1;

  std::set<std::pair<absl::Time, JobId>> job_timers;
  std::set<std::pair<absl::Time, WorkerId>> kill_timers;

  absl::flat_hash_map<std::string, absl::Duration> recent_run;  // by type: LearnRunTime

  absl::flat_hash_set<SessionId> lease_eligible;
  absl::Time last_queued = absl::InfinitePast();  // a job last found no idle worker

  internal::FinishedJobs finished{options.finished_jobs_remembered};
  TypeStatsTable stats;
  size_t unfinished = 0;  // jobs whose final completion is not out yet

  // ---- helpers
  bool Waiting(const internal::Job& j) const {
    return j.req.policy != Policy::kNoReply && !j.session_gone;
  }

  void SetTimer(internal::Job& j, absl::Time at) {
    ClearTimer(j);
    j.timer = at;
    job_timers.insert({at, j.req.id});
  }
  void ClearTimer(internal::Job& j) {
    if (j.timer != absl::InfiniteFuture()) job_timers.erase({j.timer, j.req.id});
    j.timer = absl::InfiniteFuture();
  }
  void SetKill(internal::Worker& w, absl::Time at, KillReason reason) {
    if (w.kill_at != absl::InfiniteFuture()) kill_timers.erase({w.kill_at, w.id});
    w.kill_at = at;
    w.kill_reason = reason;
    kill_timers.insert({at, w.id});
  }
  void ClearKill(internal::Worker& w) {
    if (w.kill_at != absl::InfiniteFuture()) kill_timers.erase({w.kill_at, w.id});
    w.kill_at = absl::InfiniteFuture();
  }

  // The job (new, or an attempt after the first) waits for a worker from `now`, with a fresh
  // deadline; an idle worker that handles its type takes it at once.
  void Enqueue(internal::Job& j, absl::Time now, Effects& fx) {
    j.enqueue_seq = next_seq++;
    j.enqueued_at = now;
    j.dispatched_at = absl::InfinitePast();  // this attempt has not started
    j.deadline = now + j.req.timeout;
    SetTimer(j, j.deadline);
    PushReady(j);
    Place(j, now, fx);
  }
  // A job dispatched ahead to a worker that died before starting it: back to its place in the
  // queue, with its deadline and attempt as they were (it never ran).
  void Requeue(internal::Job& j, absl::Time now, Effects& fx) {
    j.running_on = 0;
    PushReady(j);
    Place(j, now, fx);
  }
  void PushReady(internal::Job& j) {
    j.phase = Phase::kQueued;
    ready.Push(j.req.type, j.req.priority, {j.req.id, j.enqueue_seq, j.enqueued_at});
    if (internal::Session* s = LiveSession(j)) ++s->queued;
  }
  // A queued job: to an idle worker of its type, else behind a busy one, else it waits.
  void Place(internal::Job& j, absl::Time now, Effects& fx) {
    if (const WorkerId w = idle.Pick(j.req.type); w != 0) {
      Dispatch(j, workers.at(w), now, fx);
      return;
    }
    // No worker was free for it: leases wait (lease_quiet) and give a worker back, whether or
    // not the job finds a place behind a busy one.
    last_queued = now;
    RevokeOneFor(j.req.type, now, fx);
    // Others of its type already wait: a worker with room behind took the best queued jobs when
    // it came to have room, so under a backlog the pool is not scanned for every job (at worst a
    // job stays queued that could have gone ahead).
    if (ready.CountOf(j.req.type) > 1) return;
    if (internal::Worker* w = AheadWorkerFor(j.req.type, now)) DispatchAhead(j, *w, fx);
  }

  // A job queues: a worker of its type that serves a lane goes back to the pool (none while
  // one of that type is already on its way back), unless the pool's own workers of that type
  // will take the queue in one round: there are at least as many of them as jobs of the type
  // waiting, each idle or about to be (FreesSoon). Revoking for every job that queued took every
  // lease back, one by one, under a steady load with one session more than workers: each revoke
  // sent one more session's jobs to the agent, where they queued behind the others' and revoked
  // the next.
  void RevokeOneFor(const std::string& type, absl::Time now, Effects& fx) {
    if (!options.leases) return;
    internal::Worker* pick = nullptr;
    size_t soon = 0;
    for (auto& [id, w] : workers) {
      if (!w.types.contains(type)) continue;
      if (w.leased_to == 0) {
        soon += FreesSoon(w, now);
        continue;
      }
      if (w.revoking) return;
      if (pick == nullptr || w.id < pick->id) pick = &w;
    }
    if (pick != nullptr && ready.CountOf(type) > soon) Revoke(*pick, fx);
  }
  // Whether a worker of the pool will take a queued job soon: it is idle, or its current job is
  // of a type that runs short and has not run longer than that yet (what dispatch ahead would
  // wait behind). A job behind a long one must not wait for it while a lease holds a worker.
  bool FreesSoon(const internal::Worker& w, absl::Time now) const {
    if (w.draining || w.retire_after_job.has_value() || w.kill_at != absl::InfiniteFuture()) return false;
    return !w.busy || CurrentRunsShort(w, now);
  }
  void Revoke(internal::Worker& w, Effects& fx) {
    if (w.leased_to == 0 || w.revoking) return;
    w.revoking = true;
    fx.revokes.push_back({w.id, w.leased_to});
  }
  // The lease ends (released, or its worker gone): the session may get another.
  void DropLease(internal::Worker& w) {
    if (auto s = sessions.find(w.leased_to); s != sessions.end() && s->second.lease == w.id) s->second.lease = 0;
    w.leased_to = 0;
    w.revoking = false;
  }
  // Whether the worker, whose Simple job of `session` just ended, should serve that session's
  // lane instead of going idle.
  bool ShouldLease(const internal::Worker& w, SessionId session, absl::Time now) const {
    if (!options.leases || !w.takes_leases || w.draining || w.retire_after_job.has_value() || w.leased_to != 0) return false;
    if (options.worker_max_jobs > 0 && w.jobs_done >= options.worker_max_jobs) return false;
    if (!lease_eligible.contains(session)) return false;
    auto s = sessions.find(session);
    if (s == sessions.end() || s->second.lease != 0) return false;
    if (now - last_queued < options.lease_quiet) return false;
    return !ready.Best(w.types).has_value();
  }
  void Unqueue(internal::Job& j) {
    ready.Remove(j.req.type, j.req.priority, j.enqueue_seq);
    if (internal::Session* s = LiveSession(j); s != nullptr && s->queued > 0) --s->queued;
  }
  // The job's session, unless it ended (its id may have been opened again since).
  internal::Session* LiveSession(const internal::Job& j) {
    if (j.session_gone) return nullptr;
    auto s = sessions.find(j.req.session);
    return s == sessions.end() ? nullptr : &s->second;
  }

  // The worker has nothing to run: it takes the best queued job it handles, or waits idle.
  void Feed(internal::Worker& w, absl::Time now, Effects& fx) {
    if (auto best = ready.Best(w.types)) {
      Dispatch(jobs.at(best->entry.id), w, now, fx);
      FeedAhead(w, now, fx);
    } else {
      w.idle_ticket = idle.Add(w.id, w.types);
    }
  }
  // The busy worker also takes the next queued jobs behind its current one, when allowed.
  void FeedAhead(internal::Worker& w, absl::Time now, Effects& fx) {
    if (!options.dispatch_ahead) return;
    while (auto next = ready.Best(w.types)) {
      if (!CanTakeAhead(w, next->type, now)) return;
      DispatchAhead(jobs.at(next->entry.id), w, fx);
    }
  }

  // ---- dispatch ahead
  // A type's recent run time: an EWMA over its ended runs (a quarter weight for the newest).
  void LearnRunTime(const std::string& type, absl::Duration run) {
    auto [it, added] = recent_run.try_emplace(type, run);
    if (!added) it->second += (run - it->second) / 4;
  }
  // The worker's current run ends now. An answer tells how long the job ran; a death only that
  // it ran at least that long (a worker killed a moment after it started says nothing of how long
  // its job takes), so a death can make a type look longer, never shorter, and teaches nothing
  // of a type that has not answered yet.
  void LearnRunTimeOf(const internal::Worker& w, absl::Time now, bool answered) {
    if (w.started_at == absl::InfiniteFuture()) return;
    auto it = jobs.find(w.job);
    if (it == jobs.end()) return;
    const std::string& type = it->second.req.type;
    const absl::Duration run = now - w.started_at;
    if (!answered) {
      auto known = recent_run.find(type);
      if (known == recent_run.end() || run <= known->second) return;
    }
    LearnRunTime(type, run);
  }
  bool RunsShort(const std::string& type) const {
    auto it = recent_run.find(type);
    return it != recent_run.end() && it->second <= options.dispatch_ahead_max_run;
  }
  absl::Duration RecentRun(const std::string& type) const {
    auto it = recent_run.find(type);
    return it != recent_run.end() ? it->second : absl::InfiniteDuration();
  }
  // Whether the busy worker `w` may hold one more job of `type` behind its current one: fewer
  // than dispatch_ahead_depth wait behind it, and their types' recent run times with this one's
  // add up to at most dispatch_ahead_max_run (what a later job of a higher priority may have to
  // wait for, besides the current job).
  bool CanTakeAhead(const internal::Worker& w, const std::string& type, absl::Time now) const {
    if (!options.dispatch_ahead || !w.busy || w.ahead.size() >= options.dispatch_ahead_depth || w.draining ||
        w.leased_to != 0 || w.kill_at != absl::InfiniteFuture() || w.retire_after_job.has_value() ||
        !w.types.contains(type)) {
      return false;
    }
    // Its recycling comes after its last job: nothing may wait behind that one.
    if (options.worker_max_jobs > 0 && w.jobs_done + 2 + w.ahead.size() > options.worker_max_jobs) return false;
    return CurrentRunsShort(w, now) && w.ahead_expected + RecentRun(type) <= options.dispatch_ahead_max_run;
  }
  // The busy worker's current job is of a type that runs short and has not run longer than that.
  bool CurrentRunsShort(const internal::Worker& w, absl::Time now) const {
    if (w.started_at == absl::InfiniteFuture() || now - w.started_at > options.dispatch_ahead_max_run) return false;
    auto current = jobs.find(w.job);
    return current != jobs.end() && RunsShort(current->second.req.type);
  }
  // The busy worker to put a job of `type` behind: the one with the fewest jobs behind its
  // current one, of those the one whose current job started first, then the lowest id (never
  // the map's order, which changes with the process's hash seed).
  internal::Worker* AheadWorkerFor(const std::string& type, absl::Time now) {
    if (!options.dispatch_ahead || !RunsShort(type)) return nullptr;
    internal::Worker* pick = nullptr;
    for (auto& [id, w] : workers) {
      if (!CanTakeAhead(w, type, now)) continue;
      if (pick == nullptr ||
          std::tuple(w.ahead.size(), w.started_at, w.id) < std::tuple(pick->ahead.size(), pick->started_at, pick->id)) {
        pick = &w;
      }
    }
    return pick;
  }
  void DispatchAhead(internal::Job& j, internal::Worker& w, Effects& fx) {
    Unqueue(j);
    j.phase = Phase::kAhead;
    j.running_on = w.id;
    const absl::Duration expected = RecentRun(j.req.type);
    w.ahead.push_back({.id = j.req.id, .attempt = j.attempt, .expected = expected});
    w.ahead_expected += expected;
    fx.dispatches.push_back(DispatchOf(j, w));
  }
  // The job behind is failed by the agent before it started (cancel, deadline, session end):
  // the worker is told to skip it, and the job keeps its slabs until the worker has answered it
  // or died (it may be reading them already).
  void Withdraw(internal::Job& j, KillReason reason, Effects& fx) {
    auto w = workers.find(j.running_on);
    j.running_on = 0;
    if (w == workers.end()) return;
    ++j.lingering;
    for (internal::Worker::Ahead& a : w->second.ahead) {
      if (a.id == j.req.id && a.attempt == j.attempt) a.withdrawn = reason;
    }
    fx.cancels.push_back({w->first, j.req.id});
  }
  // The worker's current job ended: the first job behind it is its current job from now.
  void Promote(internal::Worker& w, absl::Time now) {
    const internal::Worker::Ahead next = w.ahead.front();
    w.ahead.erase(w.ahead.begin());
    w.ahead_expected -= next.expected;  // exact: Durations add and subtract without rounding
    w.job = next.id;
    w.attempt = next.attempt;
    w.started_at = now;
    ClearKill(w);
    if (next.withdrawn.has_value()) {
      // Skipped at once unless it had started before the skip came; then it gets the grace.
      SetKill(w, now + options.grace, *next.withdrawn);
      w.started_at = absl::InfiniteFuture();
      return;
    }
    auto it = jobs.find(w.job);
    if (it == jobs.end()) return;
    internal::Job& j = it->second;
    j.phase = Phase::kRunning;
    j.dispatched_at = now;
    j.stats->queue_wait.Record(now - j.enqueued_at);
  }

  void MarkIdle(internal::Worker& w, absl::Time now, Effects& fx) {
    w.busy = false;
    w.job = 0;
    w.attempt = 0;
    w.started_at = absl::InfiniteFuture();
    ClearKill(w);
    if (!w.draining) Feed(w, now, fx);
  }
  void RemoveIdle(internal::Worker& w) {
    if (w.idle_ticket == 0) return;
    idle.Remove(w.id, w.types, w.idle_ticket);
    w.idle_ticket = 0;
  }

  // The one completion a job gets (ManualRespond's early answer is it, when there is one).
  void EmitFinal(internal::Job& j, Outcome outcome, absl::Status status, SlabRef response, bool deliver,
                 absl::Time now, Effects& fx) {
    j.final_emitted = true;
    j.final_outcome = outcome;
    --unfinished;
    Completion c;
    c.session = j.req.session;
    c.id = j.req.id;
    c.type = j.req.type;
    c.outcome = outcome;
    c.status = std::move(status);
    c.response = response;
    c.deliver = deliver;
    const bool ran = j.dispatched_at != absl::InfinitePast();
    c.queue_wait = (ran ? j.dispatched_at : now) - j.enqueued_at;
    c.run_time = ran ? now - j.dispatched_at : absl::ZeroDuration();
    c.attempts = j.attempt;
    TypeStats& ts = *j.stats;
    ++ts.outcomes[outcome];
    if (ran) ts.run_time.Record(c.run_time);
    fx.completions.push_back(std::move(c));
  }

  // Frees what the job holds once nothing can read it any more, and forgets the job.
  void MaybeRelease(JobId id) {
    auto it = jobs.find(id);
    if (it == jobs.end()) return;
    internal::Job& j = it->second;
    if (!j.final_emitted || j.running_on != 0 || j.lingering > 0 || j.phase == Phase::kQueued ||
        j.phase == Phase::kBackoff) {
      return;
    }
    ClearTimer(j);
    if (j.req.request.present()) (void)ledger.Free(j.req.session, j.req.request.handle, shm::kAgentOwner);
    if (j.req.shared.present()) {
      auto s = shared.find(j.req.shared.handle.bits());
      if (s != shared.end() && --s->second.refs == 0) {
        // The last job the agent knows of has ended, but more of the batch may still be on
        // their way (the client sends them one by one, and a fast job can end before the next
        // is read): the piece goes back to its session, which frees it once every job of the
        // batch has answered, or loses it when it closes. A closed session gets nothing back.
        if (LiveSession(j) != nullptr) {
          (void)ledger.Transfer(j.req.session, j.req.shared.handle, shm::kAgentOwner, j.req.session);
        } else {
          (void)ledger.Free(j.req.session, j.req.shared.handle, shm::kAgentOwner);
        }
        shared.erase(s);
      }
    }
    if (internal::Session* s = LiveSession(j)) s->jobs.erase(id);
    finished.Remember(id, j.req.type, j.final_outcome == Outcome::kOk ? JobState::kDone : JobState::kFailed,
                      j.final_outcome, j.attempt);
    jobs.erase(it);
  }

  // The current attempt ended without an answer: retry while attempts remain, else fail.
  void RetryOrFail(internal::Job& j, Outcome outcome, absl::Status status, bool retryable, absl::Time now,
                   Effects& fx) {
    if (!j.final_emitted && retryable && j.attempt < j.req.retry.max_attempts) {
      ++j.attempt;
      j.enqueued_at = now;  // the next attempt waits from here, backoff included
      j.dispatched_at = absl::InfinitePast();
      absl::Duration backoff = j.req.retry.backoff;
      for (uint32_t i = 2; i < j.attempt; ++i) backoff *= 2;
      if (backoff <= absl::ZeroDuration()) {
        Enqueue(j, now, fx);
      } else {
        j.phase = Phase::kBackoff;
        SetTimer(j, now + backoff);
      }
      return;
    }
    j.phase = Phase::kDetached;
    ClearTimer(j);
    if (!j.final_emitted) EmitFinal(j, outcome, std::move(status), {}, Waiting(j), now, fx);
    MaybeRelease(j.req.id);
  }

  // Leaves the worker running an attempt nobody waits for; it is killed after the grace period.
  void Detach(internal::Job& j, KillReason reason, absl::Time now, Effects& fx) {
    auto w = workers.find(j.running_on);
    j.running_on = 0;
    if (w == workers.end()) return;
    ++j.lingering;
    SetKill(w->second, now + options.grace, reason);
    if (reason == KillReason::kCancelled) fx.cancels.push_back({w->first, j.req.id});
  }

  void Dispatch(internal::Job& j, internal::Worker& w, absl::Time now, Effects& fx) {
    Unqueue(j);
    RemoveIdle(w);
    j.phase = Phase::kRunning;
    j.running_on = w.id;
    j.dispatched_at = now;
    w.busy = true;
    w.job = j.req.id;
    w.attempt = j.attempt;
    w.started_at = now;
    j.stats->queue_wait.Record(now - j.enqueued_at);
    fx.dispatches.push_back(DispatchOf(j, w));
  }
  static coordinator::Dispatch DispatchOf(const internal::Job& j, const internal::Worker& w) {
    coordinator::Dispatch d;
    d.worker = w.id;
    d.id = j.req.id;
    d.type = j.req.type;
    d.request = j.req.request;
    d.shared = j.req.shared;
    d.deadline = j.deadline;
    d.context = j.req.context;
    d.attempt = j.attempt;
    d.trace = j.req.trace;
    return d;
  }

  // A worker's current attempt ended (result or death): common bookkeeping. Returns the job if
  // the attempt was still the job's current one; nullptr if it had been abandoned.
  internal::Job* EndAttempt(internal::Worker& w) {
    auto it = jobs.find(w.job);
    if (it == jobs.end()) return nullptr;
    internal::Job& j = it->second;
    if (j.running_on == w.id && j.attempt == w.attempt) {
      j.running_on = 0;
      return &j;
    }
    if (j.lingering > 0) --j.lingering;
    MaybeRelease(j.req.id);
    return nullptr;
  }

  // `lease_to`: the session whose Simple job just ended, a lease candidate (0: none).
  void AfterJob(internal::Worker& w, absl::Time now, Effects& fx, SessionId lease_to = 0) {
    ++w.jobs_done;
    if (!w.ahead.empty()) {
      Promote(w, now);
      FeedAhead(w, now, fx);
      return;
    }
    if (lease_to != 0 && ShouldLease(w, lease_to, now)) {
      w.busy = false;
      w.job = 0;
      w.attempt = 0;
      w.started_at = absl::InfiniteFuture();
      ClearKill(w);
      w.leased_to = lease_to;
      w.revoking = false;
      w.lease_active = now;
      sessions.at(lease_to).lease = w.id;
      const uint64_t left = options.worker_max_jobs > 0 ? options.worker_max_jobs - w.jobs_done : 0;
      fx.grants.push_back({w.id, lease_to, left});
      return;
    }
    if (w.retire_after_job.has_value()) {
      fx.kills.push_back({w.id, *w.retire_after_job, 0});
      w.retire_after_job.reset();
    }
    if (options.worker_max_jobs > 0 && w.jobs_done >= options.worker_max_jobs && !w.draining) {
      w.draining = true;
      fx.kills.push_back({w.id, KillReason::kRecycle, 0});
    }
    MarkIdle(w, now, fx);
  }
};

}  // namespace jobd::coordinator
