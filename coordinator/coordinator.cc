#include "coordinator/coordinator.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/internal/coordinator_impl.h"

namespace jobd::coordinator {
namespace {

absl::Status Prefixed(absl::string_view prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

const char* WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kIdle: return "idle";
    case WorkerState::kBusy: return "busy";
    case WorkerState::kDraining: return "draining";
    case WorkerState::kLeased: return "leased";
  }
  return "unknown";
}

Coordinator::Coordinator(CoordinatorOptions options, const Clock& clock, SlabLedger& ledger)
    : impl_(std::make_unique<Impl>(std::move(options), clock, ledger)) {}
Coordinator::~Coordinator() = default;

void Coordinator::OpenSession(SessionId session) { impl_->sessions.try_emplace(session); }

Effects Coordinator::CloseSession(SessionId session) {
  Impl& m = *impl_;
  Effects fx;
  auto s = m.sessions.find(session);
  if (s == m.sessions.end()) return fx;
  const absl::Time now = m.clock.Now();
  std::vector<JobId> ids(s->second.jobs.begin(), s->second.jobs.end());
  std::sort(ids.begin(), ids.end());  // in submission order, not the set's (per-process) hash order
  if (auto w = m.workers.find(s->second.lease); w != m.workers.end()) m.Revoke(w->second, fx);
  m.sessions.erase(s);
  m.lease_eligible.erase(session);
  for (JobId id : ids) {
    auto it = m.jobs.find(id);
    if (it == m.jobs.end()) continue;
    internal::Job& j = it->second;
    j.session_gone = true;
    // NoReply jobs run on after their caller, and so does the rest of a ManualRespond job that
    // has answered: nobody waits for either any more.
    if (j.req.policy == Policy::kNoReply || j.final_emitted) continue;
    const absl::Status cancelled = absl::CancelledError(absl::StrCat("job ", id, ": its session ended"));
    switch (j.phase) {
      case Phase::kQueued:
        m.Unqueue(j);
        [[fallthrough]];
      case Phase::kBackoff:
        j.phase = Phase::kDetached;
        m.ClearTimer(j);
        m.EmitFinal(j, Outcome::kCancelled, cancelled, {}, /*deliver=*/false, now, fx);
        m.MaybeRelease(id);
        break;
      case Phase::kAhead:
      case Phase::kRunning:
        if (j.phase == Phase::kAhead) {
          m.Withdraw(j, KillReason::kCancelled, fx);
        } else {
          m.Detach(j, KillReason::kCancelled, now, fx);
        }
        j.phase = Phase::kDetached;
        m.ClearTimer(j);
        m.EmitFinal(j, Outcome::kCancelled, cancelled, {}, /*deliver=*/false, now, fx);
        m.MaybeRelease(id);
        break;
      case Phase::kDetached:
        break;
    }
  }
  return fx;
}

absl::StatusOr<Effects> Coordinator::Submit(JobRequest r) {
  Impl& m = *impl_;
  const CoordinatorOptions& o = m.options;
  auto session = m.sessions.find(r.session);
  if (session == m.sessions.end()) {
    return absl::FailedPreconditionError(absl::StrCat("session ", r.session, " is not open"));
  }
  if (r.type.empty()) return absl::InvalidArgumentError("job type is empty");
  if (r.type.size() > o.max_type_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("job type of ", r.type.size(), " bytes is longer than the ", o.max_type_length, " allowed"));
  }
  for (unsigned char ch : r.type) {
    if (!std::isgraph(ch)) {
      return absl::InvalidArgumentError("job type must be printable ASCII without spaces");
    }
  }
  if (r.timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("timeout ", absl::FormatDuration(r.timeout), " is negative"));
  }
  if (r.timeout == absl::ZeroDuration()) r.timeout = o.default_timeout;
  if (r.timeout > o.max_timeout) {
    return absl::InvalidArgumentError(absl::StrCat("timeout ", absl::FormatDuration(r.timeout),
                                                   " exceeds the maximum of ", absl::FormatDuration(o.max_timeout)));
  }
  size_t context_bytes = 0;
  for (const auto& [k, v] : r.context) context_bytes += k.size() + v.size();
  if (context_bytes > o.max_context_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("context of ", context_bytes, " bytes exceeds the ",
                                                   o.max_context_bytes, " allowed"));
  }
  if (r.retry.max_attempts < 1 || r.retry.max_attempts > o.max_attempts_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts ", r.retry.max_attempts, " is out of range 1..", o.max_attempts_limit));
  }
  if (r.retry.backoff < absl::ZeroDuration()) return absl::InvalidArgumentError("retry backoff is negative");
  if (static_cast<int>(r.priority) < 0 || static_cast<int>(r.priority) >= kPriorityLevels) {
    return absl::InvalidArgumentError(absl::StrCat("priority ", static_cast<int>(r.priority), " is unknown"));
  }
  if (r.policy != Policy::kSimple && r.policy != Policy::kManualRespond && r.policy != Policy::kNoReply) {
    return absl::InvalidArgumentError(absl::StrCat("policy ", static_cast<int>(r.policy), " is unknown"));
  }
  if (r.policy == Policy::kNoReply && r.shared.present()) {
    return absl::InvalidArgumentError("NoReply jobs cannot share a piece: it could outlive its owner");
  }
  if (m.jobs.contains(r.id)) return absl::AlreadyExistsError(absl::StrCat("job id ", r.id, " is already live"));
  if (!m.known_types.empty() && !m.known_types.contains(r.type)) {
    return absl::NotFoundError(absl::StrCat("no worker handles job type '", r.type, "' (known: ",
                                            absl::StrJoin(m.known_types, ", "), ")"));
  }
  // The limits are named by the agent's flags: that is the knob an operator turns.
  if (m.ready.size() >= o.max_queue) {
    return absl::ResourceExhaustedError(
        absl::StrCat("queue full: ", m.ready.size(), " jobs queued (--max_queue=", o.max_queue, ")"));
  }
  if (o.max_queued_per_session > 0 && session->second.queued >= o.max_queued_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat("session quota: ", session->second.queued,
                                                     " jobs queued by this session (--max_queued_per_session=",
                                                     o.max_queued_per_session, ")"));
  }
  if (r.request.present()) {
    if (absl::Status s = m.ledger.Check(r.session, r.request.handle, r.request.size, r.session); !s.ok()) {
      return Prefixed("request slab: ", s);
    }
  } else if (r.request.size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("request of ", r.request.size, " bytes has no slab"));
  }
  bool new_piece = false;
  if (r.shared.present()) {
    auto piece = m.shared.find(r.shared.handle.bits());
    if (piece != m.shared.end()) {
      if (piece->second.session != r.session) {
        return absl::PermissionDeniedError("the shared piece belongs to another session");
      }
      if (r.shared.size > piece->second.size) {
        return absl::OutOfRangeError(absl::StrCat("shared size ", r.shared.size, " exceeds the piece's ",
                                                  piece->second.size, " bytes"));
      }
    } else {
      if (absl::Status s = m.ledger.Check(r.session, r.shared.handle, r.shared.size, r.session); !s.ok()) {
        return Prefixed("shared piece: ", s);
      }
      new_piece = true;
    }
  } else if (r.shared.size != 0) {
    return absl::InvalidArgumentError("shared size without a shared slab");
  }
  if (r.request.present()) {
    if (absl::Status s = m.ledger.Transfer(r.session, r.request.handle, r.session, shm::kAgentOwner); !s.ok()) {
      return Prefixed("request slab: ", s);
    }
  }
  if (new_piece) {
    if (absl::Status s = m.ledger.Transfer(r.session, r.shared.handle, r.session, shm::kAgentOwner); !s.ok()) {
      // Undo the request's move so that nothing changed; it cannot fail, we just made it.
      if (r.request.present()) (void)m.ledger.Transfer(r.session, r.request.handle, shm::kAgentOwner, r.session);
      return Prefixed("shared piece: ", s);
    }
    m.shared[r.shared.handle.bits()] = {r.session, r.shared.size, 0};
  }
  if (r.shared.present()) ++m.shared[r.shared.handle.bits()].refs;

  const absl::Time now = m.clock.Now();
  const JobId id = r.id;
  internal::Job& j = m.jobs[id];
  j.req = std::move(r);
  j.submitted_at = now;
  ++m.unfinished;
  j.stats = &m.stats[j.req.type];
  ++j.stats->submitted;
  session->second.jobs.insert(id);
  Effects fx;
  m.Enqueue(j, now, fx);
  return fx;
}

absl::StatusOr<Effects> Coordinator::Cancel(SessionId session, JobId id) {
  Impl& m = *impl_;
  auto it = m.jobs.find(id);
  if (it == m.jobs.end() || it->second.req.session != session || it->second.final_emitted) {
    return absl::NotFoundError(absl::StrCat("no live job ", id, " in this session"));
  }
  internal::Job& j = it->second;
  const absl::Time now = m.clock.Now();
  const absl::Status cancelled = absl::CancelledError(absl::StrCat("job ", id, " cancelled by the caller"));
  Effects fx;
  if (j.phase == Phase::kQueued) m.Unqueue(j);
  if (j.phase == Phase::kRunning) m.Detach(j, KillReason::kCancelled, now, fx);
  if (j.phase == Phase::kAhead) m.Withdraw(j, KillReason::kCancelled, fx);
  j.phase = Phase::kDetached;
  m.ClearTimer(j);
  m.EmitFinal(j, Outcome::kCancelled, cancelled, {}, m.Waiting(j), now, fx);
  m.MaybeRelease(id);
  return fx;
}

absl::StatusOr<JobStatus> Coordinator::Status(JobId id) const {
  const Impl& m = *impl_;
  if (auto it = m.jobs.find(id); it != m.jobs.end()) {
    const internal::Job& j = it->second;
    JobStatus st;
    st.id = id;
    st.type = j.req.type;
    st.attempt = j.attempt;
    if (j.final_emitted) {
      st.state = j.final_outcome == Outcome::kOk ? JobState::kDone : JobState::kFailed;
      st.outcome = j.final_outcome;
    } else {
      st.state = j.phase == Phase::kRunning ? JobState::kRunning : JobState::kQueued;
    }
    return st;
  }
  if (std::optional<JobStatus> st = m.finished.Find(id)) return *std::move(st);
  return absl::NotFoundError(absl::StrCat("no job ", id, " (unknown, or ended too long ago to remember)"));
}

absl::StatusOr<Effects> Coordinator::AddWorker(WorkerId worker, std::vector<std::string> types, bool takes_leases) {
  Impl& m = *impl_;
  if (worker == shm::kNoOwner || worker == shm::kAgentOwner) {
    return absl::InvalidArgumentError(absl::StrCat("worker id ", worker, " is reserved"));
  }
  if (m.workers.contains(worker)) {
    return absl::AlreadyExistsError(absl::StrCat("worker ", worker, " is already registered"));
  }
  if (types.empty()) return absl::InvalidArgumentError("a worker must handle at least one job type");
  internal::Worker& w = m.workers[worker];
  w.id = worker;
  w.takes_leases = takes_leases;
  for (std::string& t : types) {
    m.known_types.insert(t);
    w.types.insert(std::move(t));
  }
  Effects fx;
  m.Feed(w, m.clock.Now(), fx);
  return fx;
}

Effects Coordinator::WorkerGone(WorkerId worker, absl::Status why) {
  Impl& m = *impl_;
  Effects fx;
  auto it = m.workers.find(worker);
  if (it == m.workers.end()) return fx;
  m.RemoveIdle(it->second);
  m.ClearKill(it->second);
  m.DropLease(it->second);
  internal::Worker w = std::move(it->second);
  m.workers.erase(it);
  const absl::Time now = m.clock.Now();
  if (w.busy) {
    m.LearnRunTimeOf(w, now, /*answered=*/false);
    if (internal::Job* j = m.EndAttempt(w)) {
      absl::Status status = why.ok() ? absl::AbortedError(absl::StrCat("worker died while running job ", j->req.id,
                                                                       " (type ", j->req.type, ", attempt ",
                                                                       j->attempt, ")"))
                                     : why;
      m.RetryOrFail(*j, Outcome::kWorkerDied, status, /*retryable=*/true, now, fx);
    }
  }
  // The agent handles what the worker answered before its stream ended before this: had the
  // worker started a job behind, the answer to the one before it would have promoted it. The
  // rest never started: they queue again, in their order, without spending an attempt.
  for (const internal::Worker::Ahead& a : w.ahead) {
    if (auto it = m.jobs.find(a.id); it != m.jobs.end()) {
      internal::Job& j = it->second;
      if (j.running_on == w.id && j.attempt == a.attempt && j.phase == Phase::kAhead) {
        m.Requeue(j, now, fx);
      } else {
        if (j.lingering > 0) --j.lingering;
        m.MaybeRelease(j.req.id);
      }
    }
  }
  return fx;
}

void Coordinator::WorkerLeaving(WorkerId worker) {
  auto it = impl_->workers.find(worker);
  if (it == impl_->workers.end()) return;
  it->second.draining = true;
  impl_->RemoveIdle(it->second);
}

Effects Coordinator::RetireWorker(WorkerId worker, KillReason reason) {
  Impl& m = *impl_;
  Effects fx;
  auto it = m.workers.find(worker);
  if (it == m.workers.end() || it->second.draining) return fx;
  internal::Worker& w = it->second;
  w.draining = true;
  m.RemoveIdle(w);
  if (w.leased_to != 0) {
    w.retire_after_job = reason;
    m.Revoke(w, fx);
  } else if (w.busy) {
    w.retire_after_job = reason;
  } else {
    fx.kills.push_back({worker, reason, 0});
  }
  return fx;
}

absl::StatusOr<Effects> Coordinator::JobFinished(WorkerId worker, JobId id, absl::StatusOr<SlabRef> response) {
  Impl& m = *impl_;
  auto wit = m.workers.find(worker);
  if (wit == m.workers.end() || !wit->second.busy || wit->second.job != id) {
    return absl::FailedPreconditionError(absl::StrCat("the worker is not running job ", id));
  }
  internal::Worker& w = wit->second;
  const bool has_slab = response.ok() && response->present();
  if (has_slab) {
    if (absl::Status s = m.ledger.Check(SessionOf(id), response->handle, response->size, worker); !s.ok()) return s;
  } else if (response.ok() && response->size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("response of ", response->size, " bytes has no slab"));
  }
  const absl::Time now = m.clock.Now();
  Effects fx;
  m.LearnRunTimeOf(w, now, /*answered=*/true);
  internal::Job* j = m.EndAttempt(w);
  SessionId lease_to = 0;
  if (j != nullptr && !j->final_emitted && j->req.policy == Policy::kSimple && m.LiveSession(*j) != nullptr) {
    lease_to = j->req.session;
  }
  if (j == nullptr || j->final_emitted) {
    // Abandoned (deadline, cancel, session gone) or already answered early: nobody takes this.
    if (has_slab) (void)m.ledger.Free(SessionOf(id), response->handle, worker);
    if (j != nullptr) {
      j->phase = Phase::kDetached;
      m.MaybeRelease(id);
    }
  } else if (!response.ok()) {
    const bool retry = j->req.retry.retry_handler_errors;
    m.RetryOrFail(*j, Outcome::kHandlerError,
                  absl::Status(response.status().code(), absl::StrCat("handler error: ", response.status().message())),
                  retry, now, fx);
  } else {
    SlabRef delivered;
    const bool deliver = m.Waiting(*j);
    if (has_slab) {
      if (deliver && m.ledger.Transfer(SessionOf(id), response->handle, worker, j->req.session).ok()) {
        delivered = *response;
      } else {
        (void)m.ledger.Free(SessionOf(id), response->handle, worker);
      }
    }
    j->phase = Phase::kDetached;
    m.ClearTimer(*j);
    m.EmitFinal(*j, Outcome::kOk, absl::OkStatus(), delivered, deliver, now, fx);
    m.MaybeRelease(id);
  }
  m.AfterJob(w, now, fx, lease_to);
  return fx;
}

absl::StatusOr<Effects> Coordinator::EarlyResponse(WorkerId worker, JobId id, SlabRef response) {
  Impl& m = *impl_;
  auto wit = m.workers.find(worker);
  if (wit == m.workers.end() || !wit->second.busy || wit->second.job != id) {
    return absl::FailedPreconditionError(absl::StrCat("the worker is not running job ", id));
  }
  auto jit = m.jobs.find(id);
  if (jit == m.jobs.end() || jit->second.running_on != worker) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " no longer waits for an answer"));
  }
  internal::Job& j = jit->second;
  if (j.req.policy != Policy::kManualRespond) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " is not ManualRespond: it answers when it returns"));
  }
  if (j.final_emitted) return absl::FailedPreconditionError(absl::StrCat("second response for job ", id));
  if (response.present()) {
    if (absl::Status s = m.ledger.Check(SessionOf(id), response.handle, response.size, worker); !s.ok()) return s;
  } else if (response.size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("response of ", response.size, " bytes has no slab"));
  }
  const absl::Time now = m.clock.Now();
  Effects fx;
  SlabRef delivered;
  const bool deliver = m.Waiting(j);
  if (response.present()) {
    if (deliver && m.ledger.Transfer(SessionOf(id), response.handle, worker, j.req.session).ok()) {
      delivered = response;
    } else {
      (void)m.ledger.Free(SessionOf(id), response.handle, worker);
    }
  }
  m.EmitFinal(j, Outcome::kOk, absl::OkStatus(), delivered, deliver, now, fx);
  return fx;
}

Effects Coordinator::Tick() {
  Impl& m = *impl_;
  const absl::Time now = m.clock.Now();
  Effects fx;
  while (!m.job_timers.empty() && m.job_timers.begin()->first <= now) {
    const JobId id = m.job_timers.begin()->second;
    internal::Job& j = m.jobs.at(id);
    m.ClearTimer(j);
    switch (j.phase) {
      case Phase::kBackoff:
        m.Enqueue(j, now, fx);
        break;
      case Phase::kQueued:
      case Phase::kAhead:
        if (j.phase == Phase::kAhead) {
          m.Withdraw(j, KillReason::kDeadline, fx);
        } else {
          m.Unqueue(j);
        }
        if (!j.final_emitted) {
          m.EmitFinal(j, Outcome::kDeadlineExceeded,
                      absl::DeadlineExceededError(absl::StrCat(
                          "job ", id, " (type ", j.req.type, ") waited ", absl::FormatDuration(now - j.enqueued_at),
                          j.phase == Phase::kAhead ? " behind another job on its worker" : " in the queue",
                          " past its timeout of ", absl::FormatDuration(j.req.timeout), "; it never started")),
                      {}, m.Waiting(j), now, fx);
        }
        j.phase = Phase::kDetached;
        m.MaybeRelease(id);
        break;
      case Phase::kRunning: {
        // No worker number here: the coordinator knows workers by arena owner id, operators by
        // slot (jobctl workers); the agent names the slot when it stops the worker.
        m.Detach(j, KillReason::kDeadline, now, fx);
        j.phase = Phase::kDetached;
        m.RetryOrFail(j, Outcome::kDeadlineExceeded,
                      absl::DeadlineExceededError(absl::StrCat("job ", id, " (type ", j.req.type,
                                                               ") was still running when its timeout of ",
                                                               absl::FormatDuration(j.req.timeout), " passed")),
                      /*retryable=*/true, now, fx);
        break;
      }
      case Phase::kDetached:
        break;
    }
  }
  while (!m.kill_timers.empty() && m.kill_timers.begin()->first <= now) {
    const WorkerId id = m.kill_timers.begin()->second;
    m.kill_timers.erase(m.kill_timers.begin());
    auto w = m.workers.find(id);
    if (w == m.workers.end()) continue;
    w->second.kill_at = absl::InfiniteFuture();
    w->second.draining = true;
    w->second.retire_after_job.reset();  // this kill stops it already
    m.RemoveIdle(w->second);
    fx.kills.push_back({id, w->second.kill_reason, w->second.job});
  }
  if (m.options.leases) {
    for (auto& [id, w] : m.workers) {
      if (w.leased_to != 0 && !w.revoking && now >= w.lease_active + m.options.lease_idle) m.Revoke(w, fx);
    }
  }
  return fx;
}

std::optional<absl::Time> Coordinator::NextWakeup() const {
  const Impl& m = *impl_;
  std::optional<absl::Time> next;
  if (!m.job_timers.empty()) next = m.job_timers.begin()->first;
  if (!m.kill_timers.empty() && (!next || m.kill_timers.begin()->first < *next)) next = m.kill_timers.begin()->first;
  for (const auto& [id, w] : m.workers) {
    if (w.leased_to == 0 || w.revoking) continue;
    const absl::Time at = w.lease_active + m.options.lease_idle;
    if (!next || at < *next) next = at;
  }
  return next;
}

size_t Coordinator::QueueDepth() const { return impl_->ready.size(); }

std::map<std::string, size_t> Coordinator::QueueDepthByType() const { return impl_->ready.DepthByType(); }

size_t Coordinator::LiveJobsOf(SessionId session) const {
  size_t n = 0;
  for (const auto& [id, job] : impl_->jobs) n += SessionOf(id) == session;
  return n;
}

std::optional<absl::Duration> Coordinator::OldestQueuedAge() const {
  const std::optional<absl::Time> oldest = impl_->ready.OldestEnqueuedAt();
  if (!oldest) return std::nullopt;
  return impl_->clock.Now() - *oldest;
}

std::vector<WorkerInfo> Coordinator::Workers() const {
  std::vector<WorkerInfo> out;
  for (const auto& [id, w] : impl_->workers) {
    WorkerInfo info;
    info.id = id;
    info.state = w.leased_to != 0 ? WorkerState::kLeased
                 : w.draining     ? WorkerState::kDraining
                 : w.busy         ? WorkerState::kBusy
                                  : WorkerState::kIdle;
    info.job = w.busy ? w.job : 0;
    info.jobs_done = w.jobs_done;
    info.leased_to = w.leased_to;
    info.revoking = w.revoking;
    if (w.busy) {
      for (const internal::Worker::Ahead& a : w.ahead) info.ahead.push_back(a.id);
    }
    out.push_back(info);
  }
  std::sort(out.begin(), out.end(), [](const WorkerInfo& a, const WorkerInfo& b) { return a.id < b.id; });
  return out;
}

size_t Coordinator::SessionCount() const { return impl_->sessions.size(); }
const TypeStatsTable& Coordinator::Stats() const { return impl_->stats; }
std::vector<std::string> Coordinator::KnownTypes() const {
  return {impl_->known_types.begin(), impl_->known_types.end()};
}
size_t Coordinator::LiveJobs() const { return impl_->unfinished; }

}  // namespace jobd::coordinator
