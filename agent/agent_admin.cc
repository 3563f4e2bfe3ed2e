// The agent's admin views: stats, health, job status, metrics text.
#include "agent/agent.h"
#include "agent/process_memory.h"
#include "agent/process_metrics.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "tools/common/version.h"

namespace jobd::agent {
namespace {

void FillLatency(const coordinator::LatencyHistogram& h, pb::LatencySummary* out) {
  out->set_count(h.count());
  out->set_mean_us(absl::ToDoubleMicroseconds(h.Mean()));
  out->set_p50_us(absl::ToDoubleMicroseconds(h.Quantile(0.5)));
  out->set_p99_us(absl::ToDoubleMicroseconds(h.Quantile(0.99)));
}

}  // namespace

// ---------------------------------------------------------------- admin

std::vector<shm::ClassOccupancy> Agent::SlabOccupancy() const {
  std::vector<shm::ClassOccupancy> occupancy = ledger_.Occupancy();
  if (occupancy.empty()) {
    // No session now: the classes every session's segment has, none of them in use, so that
    // every per-class series exists (at 0) before the first session, as dashboards expect.
    for (const shm::SizeClass& c : session_shape_.classes) occupancy.push_back({c.slab_size, 0, 0, 0, 0});
  }
  return occupancy;
}

pb::StatsReply Agent::Stats() {
  pb::StatsReply reply;
  std::vector<coordinator::WorkerInfo> workers;
  {
    absl::MutexLock lock(&coord_mu_);
    const auto depth = coordinator_->QueueDepthByType();
    for (const auto& [type, st] : coordinator_->Stats()) {
      pb::TypeStats* t = reply.add_types();
      t->set_type(type);
      t->set_submitted(st.submitted);
      for (const auto& [outcome, n] : st.outcomes) (*t->mutable_outcomes())[coordinator::OutcomeName(outcome)] = n;
      FillLatency(st.queue_wait, t->mutable_queue_wait());
      FillLatency(st.run_time, t->mutable_run_time());
      auto it = depth.find(type);
      t->set_queued(it == depth.end() ? 0 : it->second);
    }
    reply.set_queue_depth(coordinator_->QueueDepth());
    reply.set_sessions(coordinator_->SessionCount());
    reply.set_live_jobs(coordinator_->LiveJobs());
    if (auto age = coordinator_->OldestQueuedAge()) reply.set_oldest_queued_age_s(absl::ToDoubleSeconds(*age));
    workers = coordinator_->Workers();
  }
  for (const shm::ClassOccupancy& c : SlabOccupancy()) {
    pb::SlabClassStats* s = reply.add_slabs();
    s->set_slab_size(c.slab_size);
    s->set_total(c.total);
    s->set_in_use(c.in_use);
    s->set_bytes_in_use(c.bytes_in_use);
    s->set_acquire_failures(c.acquire_failures);
  }
  for (const SlotInfo& slot : supervisor_->Slots()) {
    pb::WorkerStats* w = reply.add_workers();
    w->set_index(slot.index);
    w->set_pid(slot.pid);
    w->set_restarts(slot.restarts);
    if (slot.pid > 0 && slot.state != SlotState::kBackoff) w->set_rss_bytes(ResidentBytes(slot.pid));
    w->set_state(slot.state == SlotState::kBackoff ? "starting" : SlotStateName(slot.state));
    for (const coordinator::WorkerInfo& info : workers) {
      if (info.id != slot.owner || slot.owner == shm::kNoOwner) continue;
      w->set_state(coordinator::WorkerStateName(info.state));
      w->set_job_id(info.job);
      w->set_jobs_done(info.jobs_done);
    }
  }
  uint64_t committed = 0, segment_bytes = 0;
  std::vector<SegmentUsage> usage = ledger_.Usage();
  for (const SegmentUsage& u : usage) {
    committed += u.committed_bytes;
    segment_bytes += u.segment_bytes;
  }
  reply.set_arena_bytes(segment_bytes);
  reply.set_arena_path("per-session segments (memfd)");
  reply.set_memory_budget(config_.memory_budget);
  reply.set_committed_bytes(committed);
  {
    absl::MutexLock lock(&conns_mu_);
    for (const SegmentUsage& u : usage) {
      pb::SessionStats* s = reply.add_session_list();
      s->set_id(u.session);
      s->set_slabs_in_use(u.slabs_in_use);
      s->set_bytes_in_use(u.bytes_in_use);
      s->set_committed_bytes(u.committed_bytes);
      s->set_segment_bytes(u.segment_bytes);
      auto it = sessions_.find(u.session);
      if (it == sessions_.end()) {
        s->set_name("(closed; its jobs run on)");
        continue;
      }
      s->set_name(it->second->name);
      s->set_pid(it->second->cred.pid);
      s->set_uid(it->second->cred.uid);
      s->set_gid(it->second->cred.gid);
    }
  }
  {
    absl::MutexLock lock(&coord_mu_);
    for (pb::SessionStats& s : *reply.mutable_session_list()) s.set_live_jobs(coordinator_->LiveJobsOf(s.id()));
  }
  reply.set_uptime_s(static_cast<uint64_t>(absl::ToInt64Seconds(clock_.Now() - started_at_)));
  reply.set_draining(draining_.load());
  return reply;
}

std::string Agent::MetricsText() {
  std::map<std::string, int> by_state;
  {
    absl::MutexLock lock(&coord_mu_);
    metrics_.SetQueue(coordinator_->QueueDepth(), coordinator_->QueueDepthByType(),
                      coordinator_->OldestQueuedAge().value_or(absl::ZeroDuration()));
    metrics_.SetSessions(coordinator_->SessionCount());
    for (const coordinator::WorkerInfo& w : coordinator_->Workers()) ++by_state[coordinator::WorkerStateName(w.state)];
  }
  std::vector<AgentMetrics::WorkerSlotSample> slots;
  for (const SlotInfo& slot : supervisor_->Slots()) {
    if (slot.state == SlotState::kStarting || slot.state == SlotState::kBackoff) ++by_state["starting"];
    const bool running = slot.pid > 0 && slot.state != SlotState::kBackoff;
    slots.push_back({.index = slot.index, .rss_bytes = running ? ResidentBytes(slot.pid) : 0});
  }
  metrics_.SetWorkers(by_state);
  metrics_.SetWorkerSlots(slots);
  if (absl::StatusOr<ProcessSample> self = ReadSelfProcess(); self.ok()) {
    metrics_.SetProcess(*self);
  } else {
    spdlog::warn("process metrics not updated: {}", self.status().ToString());
  }
  metrics_.SetArena(SlabOccupancy(), config_.memory_budget);
  return metrics_.Serialize();
}

pb::HealthReply Agent::Health() {
  pb::HealthReply reply;
  reply.set_draining(draining_.load());
  reply.set_workers_configured(config_.workers);
  reply.set_workers_ready(supervisor_->ReadyCount());
  reply.set_serving(!draining_.load() && reply.workers_ready() > 0);
  reply.set_version(kVersion);
  return reply;
}

absl::StatusOr<pb::JobStatusReply> Agent::JobStatus(uint64_t job_id) {
  absl::StatusOr<coordinator::JobStatus> st;
  {
    absl::MutexLock lock(&coord_mu_);
    st = coordinator_->Status(job_id);
  }
  if (!st.ok()) return st.status();
  pb::JobStatusReply reply;
  reply.set_job_id(st->id);
  reply.set_type(st->type);
  reply.set_state(coordinator::JobStateName(st->state));
  if (st->state == coordinator::JobState::kDone || st->state == coordinator::JobState::kFailed) {
    reply.set_outcome(coordinator::OutcomeName(st->outcome));
  }
  reply.set_attempt(st->attempt);
  return reply;
}

}  // namespace jobd::agent
