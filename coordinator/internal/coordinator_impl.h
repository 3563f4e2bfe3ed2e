// The coordinator's state and the steps every event is made of. Internal to coordinator/.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
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
  std::vector<WorkerId> idle;  // most recently idle last: it is the one most likely awake
  absl::flat_hash_map<SessionId, internal::Session> sessions;
  absl::flat_hash_map<uint64_t, internal::SharedPiece> shared;  // by handle bits
  std::set<std::string> known_types;

  struct QueueEntry {
    JobId id;
    uint64_t seq;
  };
  std::deque<QueueEntry> queues[kPriorityLevels];
  uint64_t next_seq = 1;
  size_t queued = 0;
  std::map<std::string, size_t> queued_by_type;

  std::set<std::pair<absl::Time, JobId>> job_timers;
  std::set<std::pair<absl::Time, WorkerId>> kill_timers;

  std::deque<JobId> finished_order;
  absl::flat_hash_map<JobId, JobStatus> finished;
  TypeStatsTable stats;
  size_t unfinished = 0;  // jobs whose final completion is not out yet

  // ---- helpers
  bool Waiting(const internal::Job& j) const {
    return j.req.policy != Policy::kNoReply && !j.session_gone;
  }
  bool IsQueued(const QueueEntry& e) const {
    auto it = jobs.find(e.id);
    return it != jobs.end() && it->second.phase == Phase::kQueued && it->second.enqueue_seq == e.seq;
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

  void Enqueue(internal::Job& j, absl::Time now) {
    j.phase = Phase::kQueued;
    j.enqueue_seq = next_seq++;
    j.enqueued_at = now;
    j.deadline = now + j.req.timeout;
    queues[static_cast<int>(j.req.priority)].push_back({j.req.id, j.enqueue_seq});
    ++queued;
    ++queued_by_type[j.req.type];
    if (auto s = sessions.find(j.req.session); s != sessions.end()) ++s->second.queued;
    SetTimer(j, j.deadline);
  }
  // Bookkeeping for a job leaving the queue; its entry is dropped lazily.
  void Unqueue(internal::Job& j) {
    --queued;
    if (--queued_by_type[j.req.type] == 0) queued_by_type.erase(j.req.type);
    if (auto s = sessions.find(j.req.session); s != sessions.end() && s->second.queued > 0) --s->second.queued;
  }

  void MarkIdle(internal::Worker& w) {
    w.busy = false;
    w.job = 0;
    w.attempt = 0;
    ClearKill(w);
    if (!w.draining) idle.push_back(w.id);
  }
  void RemoveIdle(WorkerId id) { idle.erase(std::remove(idle.begin(), idle.end(), id), idle.end()); }

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
    const bool ran = j.dispatched_at >= j.enqueued_at;
    c.queue_wait = (ran ? j.dispatched_at : now) - j.enqueued_at;
    c.run_time = ran ? now - j.dispatched_at : absl::ZeroDuration();
    c.attempts = j.attempt;
    TypeStats& ts = stats[j.req.type];
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
    if (j.req.request.present()) (void)ledger.Free(j.req.request.handle, shm::kAgentOwner);
    if (j.req.shared.present()) {
      auto s = shared.find(j.req.shared.handle.bits());
      if (s != shared.end() && --s->second.refs == 0) {
        (void)ledger.Free(j.req.shared.handle, shm::kAgentOwner);
        shared.erase(s);
      }
    }
    if (auto s = sessions.find(j.req.session); s != sessions.end()) s->second.jobs.erase(id);
    JobStatus st;
    st.id = id;
    st.type = j.req.type;
    st.state = j.final_outcome == Outcome::kOk ? JobState::kDone : JobState::kFailed;
    st.outcome = j.final_outcome;
    st.attempt = j.attempt;
    Remember(st);
    jobs.erase(it);
  }

  void Remember(const JobStatus& st) {
    if (options.finished_jobs_remembered == 0) return;
    if (finished.insert({st.id, st}).second) finished_order.push_back(st.id);
    while (finished_order.size() > options.finished_jobs_remembered) {
      finished.erase(finished_order.front());
      finished_order.pop_front();
    }
  }

  // The current attempt ended without an answer: retry while attempts remain, else fail.
  void RetryOrFail(internal::Job& j, Outcome outcome, absl::Status status, bool retryable, absl::Time now,
                   Effects& fx) {
    if (!j.final_emitted && retryable && j.attempt < j.req.retry.max_attempts) {
      ++j.attempt;
      absl::Duration backoff = j.req.retry.backoff;
      for (uint32_t i = 2; i < j.attempt; ++i) backoff *= 2;
      if (backoff <= absl::ZeroDuration()) {
        Enqueue(j, now);
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
    RemoveIdle(w.id);
    j.phase = Phase::kRunning;
    j.running_on = w.id;
    j.dispatched_at = now;
    w.busy = true;
    w.job = j.req.id;
    w.attempt = j.attempt;
    stats[j.req.type].queue_wait.Record(now - j.enqueued_at);
    SetTimer(j, j.deadline);
    coordinator::Dispatch d;
    d.worker = w.id;
    d.id = j.req.id;
    d.type = j.req.type;
    d.request = j.req.request;
    d.shared = j.req.shared;
    d.deadline = j.deadline;
    d.context = j.req.context;
    d.attempt = j.attempt;
    fx.dispatches.push_back(std::move(d));
  }

  WorkerId IdleWorkerFor(const std::string& type) const {
    for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
      auto w = workers.find(*it);
      if (w != workers.end() && w->second.types.contains(type)) return *it;
    }
    return 0;
  }

  void TryDispatch(absl::Time now, Effects& fx) {
    while (!idle.empty() && queued > 0) {
      bool progressed = false;
      for (auto& q : queues) {
        while (!q.empty() && !IsQueued(q.front())) q.pop_front();
        for (auto it = q.begin(); it != q.end(); ++it) {
          if (!IsQueued(*it)) continue;
          internal::Job& j = jobs.at(it->id);
          const WorkerId w = IdleWorkerFor(j.req.type);
          if (w == 0) continue;
          q.erase(it);
          Dispatch(j, workers.at(w), now, fx);
          progressed = true;
          break;
        }
        if (progressed) break;
      }
      if (!progressed) break;
    }
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

  void AfterJob(internal::Worker& w, Effects& fx) {
    ++w.jobs_done;
    if (w.retire_after_job.has_value()) {
      fx.kills.push_back({w.id, *w.retire_after_job, 0});
      w.retire_after_job.reset();
    }
    if (options.worker_max_jobs > 0 && w.jobs_done >= options.worker_max_jobs && !w.draining) {
      w.draining = true;
      fx.kills.push_back({w.id, KillReason::kRecycle, 0});
    }
    MarkIdle(w);
  }
};

}  // namespace jobd::coordinator
