// Worker leases: the two-hop path. A worker leased to a session takes that session's simple
// jobs straight from its lane (a ring pair in the session's segment) and answers down it; the
// agent is off the job's path. It keeps its authority: it grants and revokes leases (the
// coordinator decides when), reads each lane job's start and end from the worker's reports
// when it next wakes, ends lane jobs that pass their deadline and kills their workers after the
// grace, and tells the session when a lease ends so that jobs the worker never took go to the
// agent instead. See docs/data-path.md, step 2.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/effect_encoding.h"
#include "agent/lane_watch.h"
#include "agent/log_text.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

void Agent::GrantLease(const coordinator::GrantLease& grant) {
  std::shared_ptr<WorkerConn> worker = peers_.FindWorker(grant.worker);
  std::shared_ptr<SessionConn> session = peers_.FindSession(grant.session);
  std::shared_ptr<shm::Segment> segment = ledger_.Get(grant.session);
  auto give_back = [&](const std::string& why) {
    spdlog::debug("lease of worker to session {} not granted: {}", grant.session, why);
    absl::StatusOr<coordinator::Effects> fx =
        coord_.With([&](coordinator::Coordinator& c) { return c.LeaseReleased(grant.worker); });
    if (fx.ok()) Apply(std::move(*fx));
  };
  if (worker == nullptr || session == nullptr || segment == nullptr || segment->lane().peer_bell == nullptr ||
      session->closed.load()) {
    return give_back("the worker or the session is gone");
  }
  // A lease counts as a live job of the session's uid; a uid at its quota gets none, since its
  // lane jobs would then run uncounted.
  if (config_.max_jobs_per_uid > 0) {
    if (absl::Status room = CheckUidQuota(session->cred.uid); !room.ok()) {
      return give_back(absl::StrCat("no room for a lease: ", room.message()));
    }
  }
  if (absl::Status s = GiveSegment(*worker, grant.session); !s.ok()) return give_back(s.ToString());
  pb::LaneOpen open;
  pb::AgentToWorker msg;
  pb::LeaseGrant* g = msg.mutable_lease_grant();
  for (const std::string& type : worker->types) {
    if (!CheckAllowed(*session, type).ok()) continue;  // --allow holds on the lane as well
    g->add_types(type);
    open.add_types(type);
  }
  if (g->types().empty()) return give_back("the session may submit none of the worker's types");
  const uint32_t lane = leases_.Open();
  // Nothing a previous lease left in the lane runs now: the session sent those to the agent
  // when it heard that lease end, and sends nothing up the lane until it hears this one open.
  segment->lane().up.DiscardAll();
  {
    absl::MutexLock lock(&worker->lane_mu);
    worker->lane = WorkerConn::Lane{};
    worker->lane.id = lane;
    worker->lane.segment = segment;
  }
  worker->leased_to.store(grant.session);
  worker->reports_only.store(true);
  g->set_session(grant.session);
  g->set_lane(lane);
  g->set_default_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(config_.default_timeout)));
  g->set_max_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(absl::Hours(24))));
  g->set_max_context_bytes(4096);
  g->set_jobs_left(grant.jobs_left);
  g->set_wake_if_due_within_ms(2 * kLeaseTickMs);  // two pump ticks
  // Neither the worker's (reclaimed when it exits) nor the session's (which holds its own live
  // slabs): taking an answer from this owner proves that it came down this lane.
  const shm::OwnerId answer_owner = NewOwnerId();
  g->set_answer_owner(answer_owner);
  open.set_max_slabs(config_.max_slabs_per_session);
  SendToWorker(*worker, msg);
  pb::AgentMessage to_session;
  open.set_lane(lane);
  open.set_answer_owner(answer_owner);
  *to_session.mutable_lane_open() = std::move(open);
  SendToSession(*session, to_session);
  WakePump();  // the pump now wakes on a timer to read lane reports and check deadlines
  spdlog::debug("worker {} leased to session {} (lane {})", worker->slot, grant.session, lane);
}

void Agent::RevokeLease(const coordinator::RevokeLease& revoke) {
  std::shared_ptr<WorkerConn> worker = peers_.FindWorker(revoke.worker);
  if (worker == nullptr) return;  // its stream's end releases the lease
  pb::AgentToWorker msg;
  msg.mutable_lease_revoke()->set_session(revoke.session);
  {
    absl::MutexLock lock(&worker->lane_mu);
    msg.mutable_lease_revoke()->set_lane(worker->lane.id);
  }
  worker->reports_only.store(false);  // its LeaseReleased is awaited now
  SendToWorker(*worker, msg);  // rings the lane's doorbell, where a leased worker sleeps
}

void Agent::HandleLaneReport(WorkerConn& worker, const wire::LaneReport& r) {
  if (worker.leased_to.load() == 0 || r.session != worker.leased_to.load() ||
      coordinator::SessionOf(r.job_id) != r.session) {
    return;  // a report of no lease of this worker's: nothing to learn from it
  }
  const coordinator::Outcome outcome = OutcomeOfLaneReport(static_cast<v1::Outcome>(r.outcome));
  const bool counts = coord_.With([&](coordinator::Coordinator& c) {
    if (!c.LaneActivity(worker.id, r.type, /*job_ended=*/!r.started)) return false;
    if (!r.started) c.RecordLaneJob(r.job_id, r.type, outcome, absl::Microseconds(r.run_us));
    return true;
  });
  if (!counts) {
    spdlog::warn("worker {}: ignored a report of lane job {} of type {}, which it does not handle", worker.id, r.job_id,
                 Quoted(r.type));
    return;
  }
  {
    absl::MutexLock lock(&worker.lane_mu);
    if (r.started) {
      worker.lane.job = r.job_id;
      worker.lane.type = r.type;
      worker.lane.deadline = absl::FromUnixMicros(r.deadline_unix_us);
      worker.lane.deadline_told = false;
      leases_.DueBy(worker.lane.deadline);  // the pump wakes for it
    } else if (worker.lane.job == r.job_id) {
      worker.lane.job = 0;
    }
  }
  if (!r.started) {
    const absl::Duration run = absl::Microseconds(static_cast<int64_t>(std::min<uint64_t>(r.run_us, 1ull << 40)));
    metrics_.JobEnded(r.type, outcome, absl::ZeroDuration(), run, true);
  }
}

void Agent::HandleLeaseReleased(WorkerConn& worker, const pb::LeaseReleased& released) {
  worker.reports_only.store(false);
  const coordinator::SessionId session = worker.leased_to.exchange(0);
  if (session == 0) return;
  uint32_t lane;
  {
    absl::MutexLock lock(&worker.lane_mu);
    lane = worker.lane.id;
    worker.lane = WorkerConn::Lane{};
  }
  (void)released;
  leases_.Closed();
  absl::StatusOr<coordinator::Effects> fx =
      coord_.With([&](coordinator::Coordinator& c) { return c.LeaseReleased(worker.id); });
  // The worker answered every lane job it took before saying so: what is left in the lane the
  // session sends to the agent.
  if (std::shared_ptr<SessionConn> s = peers_.FindSession(session)) {
    pb::AgentMessage msg;
    msg.mutable_lane_closed()->set_lane(lane);
    SendToSession(*s, msg);
  }
  spdlog::debug("worker {} released its lease of session {} (lane {})", worker.slot, session, lane);
  if (fx.ok()) Apply(std::move(*fx));
  ReleaseLingeringSegments();
}

void Agent::EndLeaseOfLostWorker(WorkerConn& worker) {
  worker.reports_only.store(false);
  const coordinator::SessionId session = worker.leased_to.exchange(0);
  if (session == 0) return;
  WorkerConn::Lane lane;
  {
    absl::MutexLock lock(&worker.lane_mu);
    lane = std::move(worker.lane);
    worker.lane = WorkerConn::Lane{};
  }
  leases_.Closed();
  std::shared_ptr<SessionConn> s = peers_.FindSession(session);
  if (lane.job != 0) {
    spdlog::warn("job {} type {}: worker {} (pid {}) died while running it from session {}'s lane", lane.job,
                 Quoted(lane.type), worker.slot, worker.pid, session);
  }
  if (lane.job != 0 && !lane.deadline_told) {  // told: it already ended as DEADLINE_EXCEEDED
    metrics_.JobEnded(lane.type, coordinator::Outcome::kWorkerDied, absl::ZeroDuration(),
                      absl::ZeroDuration(), false);
    coord_.With([&](coordinator::Coordinator& c) {
      c.RecordLaneJob(lane.job, lane.type, coordinator::Outcome::kWorkerDied, absl::ZeroDuration());
    });
    if (s != nullptr) {
      SendCompletion(*s, FailedCompletionOf(static_cast<uint32_t>(lane.job), pb::OUTCOME_WORKER_DIED,
                                         absl::UnavailableError(absl::StrCat("worker died while running job ", lane.job))));
    }
  }
  if (s != nullptr) {
    pb::AgentMessage msg;
    msg.mutable_lane_closed()->set_lane(lane.id);
    SendToSession(*s, msg);
  }
}

void Agent::CheckLaneDeadlines() {
  if (leases_.out() == 0) return;
  const absl::Time now = absl::Now();
  absl::Time next_look = absl::InfiniteFuture();
  for (const std::shared_ptr<WorkerConn>& w : peers_.LeasedWorkers()) {
    // Reports that came without waking us first: the job may have ended in time.
    DrainWorker(*w);
    uint64_t job = 0;
    std::string type;
    LaneVerdict verdict;
    {
      absl::MutexLock lock(&w->lane_mu);
      if (w->lane.job == 0) continue;
      verdict = JudgeLaneJob(w->lane.deadline, w->lane.deadline_told, now, config_.grace);
      if (verdict.action == LaneAction::kTellDeadline) w->lane.deadline_told = true;
      job = w->lane.job;
      type = w->lane.type;
    }
    next_look = std::min(next_look, verdict.next_look);
    const coordinator::SessionId session = coordinator::SessionOf(job);
    if (verdict.action == LaneAction::kTellDeadline) {
      spdlog::warn("job {} type {}: still running on worker {} from session {}'s lane past its deadline", job,
                   Quoted(type), w->slot, session);
      metrics_.JobEnded(type, coordinator::Outcome::kDeadlineExceeded, absl::ZeroDuration(),
                        absl::ZeroDuration(), true);
      coord_.With([&](coordinator::Coordinator& c) {
        c.RecordLaneJob(job, type, coordinator::Outcome::kDeadlineExceeded, absl::ZeroDuration());
      });
      if (std::shared_ptr<SessionConn> s = peers_.FindSession(session)) {
        SendCompletion(*s, FailedCompletionOf(static_cast<uint32_t>(job), pb::OUTCOME_DEADLINE_EXCEEDED,
                                           absl::DeadlineExceededError(absl::StrCat(
                                               "job ", job, " (type ", Quoted(type),
                                               ") was still running when its timeout passed"))));
      }
      // The handler may look at cancelled() and stop; if not, the kill follows the grace.
      TellCancelled(coordinator::CancelRunning{w->id, job});
    } else if (verdict.action == LaneAction::kKill) {
      spdlog::warn("worker {}: stopping (deadline, job {} from session {}'s lane)", w->slot, job, session);
      (void)supervisor_->StopOwner(w->id, ExitReason::kKilledDeadline, SIGKILL);
    }
  }
  // Reports are read on this (the pump) thread: nothing lowered it since the scan began.
  leases_.ScannedUntil(next_look);
}

}  // namespace jobd::agent
