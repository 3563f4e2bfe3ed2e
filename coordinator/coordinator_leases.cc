// The coordinator's side of worker leases (docs/data-path.md, step 2): a leased worker serves
// one session's lane, and the agent tells the coordinator what it learns from the worker's
// reports. Granting and revoking on the scheduling path live in the Impl (RevokeOneFor,
// ShouldLease); these are the operations the agent calls.
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
#include "coordinator/internal/coordinator_impl.h"

namespace jobd::coordinator {

absl::StatusOr<Effects> Coordinator::LeaseReleased(WorkerId worker) {
  Impl& m = *impl_;
  auto it = m.workers.find(worker);
  if (it == m.workers.end() || it->second.leased_to == 0) {
    return absl::FailedPreconditionError(absl::StrCat("worker ", worker, " holds no lease"));
  }
  internal::Worker& w = it->second;
  m.DropLease(w);
  Effects fx;
  if (w.retire_after_job.has_value()) {
    fx.kills.push_back({worker, *w.retire_after_job, 0});
    w.retire_after_job.reset();
  } else if (m.options.worker_max_jobs > 0 && w.jobs_done >= m.options.worker_max_jobs && !w.draining) {
    w.draining = true;
    fx.kills.push_back({worker, KillReason::kRecycle, 0});
  } else if (!w.draining) {
    m.Feed(w, m.clock.Now(), fx);
  }
  return fx;
}

bool Coordinator::LaneActivity(WorkerId worker, absl::string_view type, bool job_ended) {
  Impl& m = *impl_;
  auto it = m.workers.find(worker);
  if (it == m.workers.end() || it->second.leased_to == 0 || !it->second.types.contains(type)) return false;
  it->second.lease_active = m.clock.Now();
  if (job_ended) ++it->second.jobs_done;
  return true;
}

void Coordinator::RecordLaneJob(JobId id, const std::string& type, Outcome outcome, absl::Duration run_time) {
  Impl& m = *impl_;
  TypeStats& ts = m.stats[type];
  ++ts.submitted;
  ++ts.outcomes[outcome];
  if (outcome == Outcome::kOk || outcome == Outcome::kHandlerError) {  // it ran
    ts.run_time.Record(run_time);
    m.LearnRunTime(type, run_time);
  }
  m.finished.Remember(id, type, outcome == Outcome::kOk ? JobState::kDone : JobState::kFailed, outcome, 1);
}

Effects Coordinator::RevokeAllLeases() {
  Impl& m = *impl_;
  Effects fx;
  for (auto& [id, w] : m.workers) m.Revoke(w, fx);
  return fx;
}

Effects Coordinator::RevokeLease(WorkerId worker) {
  Effects fx;
  if (auto it = impl_->workers.find(worker); it != impl_->workers.end()) impl_->Revoke(it->second, fx);
  return fx;
}

SessionId Coordinator::LeasedTo(WorkerId worker) const {
  auto it = impl_->workers.find(worker);
  return it == impl_->workers.end() ? 0 : it->second.leased_to;
}

void Coordinator::SetLeaseEligible(SessionId session, bool eligible) {
  if (eligible) {
    if (impl_->sessions.contains(session)) impl_->lease_eligible.insert(session);
  } else {
    impl_->lease_eligible.erase(session);
  }
}

}  // namespace jobd::coordinator
