#include "agent/admin_views.h"

#include <map>
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

void FillLatency(const coordinator::LatencyHistogram& h, v1::LatencySummary* out) {
  out->set_count(h.count());
  out->set_mean_us(absl::ToDoubleMicroseconds(h.Mean()));
  out->set_p50_us(absl::ToDoubleMicroseconds(h.Quantile(0.5)));
  out->set_p99_us(absl::ToDoubleMicroseconds(h.Quantile(0.99)));
}

}  // namespace

std::vector<shm::ClassOccupancy> AdminViews::SlabOccupancy() const {
  std::vector<shm::ClassOccupancy> occupancy = s_.ledger->Occupancy();
  if (occupancy.empty()) {
    for (const shm::SizeClass& c : s_.session_shape->classes) occupancy.push_back({c.slab_size, 0, 0, 0, 0});
  }
  return occupancy;
}

v1::StatsReply AdminViews::Stats() const {
  v1::StatsReply reply;
  std::vector<coordinator::WorkerInfo> workers;
  s_.coordinator->With([&](coordinator::Coordinator& coord) {
    const auto depth = coord.QueueDepthByType();
    for (const auto& [type, st] : coord.Stats()) {
      v1::TypeStats* t = reply.add_types();
      t->set_type(type);
      t->set_submitted(st.submitted);
      for (const auto& [outcome, n] : st.outcomes) (*t->mutable_outcomes())[coordinator::OutcomeName(outcome)] = n;
      FillLatency(st.queue_wait, t->mutable_queue_wait());
      FillLatency(st.run_time, t->mutable_run_time());
      auto it = depth.find(type);
      t->set_queued(it == depth.end() ? 0 : it->second);
    }
    reply.set_queue_depth(coord.QueueDepth());
    reply.set_sessions(coord.SessionCount());
    reply.set_live_jobs(coord.LiveJobs());
    if (auto age = coord.OldestQueuedAge()) reply.set_oldest_queued_age_s(absl::ToDoubleSeconds(*age));
    workers = coord.Workers();
  });
  for (const shm::ClassOccupancy& c : SlabOccupancy()) {
    v1::SlabClassStats* s = reply.add_slabs();
    s->set_slab_size(c.slab_size);
    s->set_total(c.total);
    s->set_in_use(c.in_use);
    s->set_bytes_in_use(c.bytes_in_use);
    s->set_acquire_failures(c.acquire_failures);
  }
  for (const SlotInfo& slot : s_.supervisor->Slots()) {
    v1::WorkerStats* w = reply.add_workers();
    w->set_index(slot.index);
    w->set_pid(slot.pid);
    w->set_restarts(slot.restarts);
    if (slot.pid > 0 && slot.state != SlotState::kBackoff) w->set_rss_bytes(ResidentBytes(slot.pid));
    w->set_state(slot.state == SlotState::kBackoff ? "starting" : SlotStateName(slot.state));
    for (const coordinator::WorkerInfo& info : workers) {
      if (info.id != slot.owner || slot.owner == shm::kNoOwner) continue;
      w->set_state(coordinator::WorkerStateName(info.state));
      w->set_job_id(info.job);
      w->set_next_job_id(info.ahead.empty() ? 0 : info.ahead.front());
      w->set_jobs_behind(static_cast<uint32_t>(info.ahead.size()));
      w->set_jobs_done(info.jobs_done);
    }
    // A leased worker's job is not in the coordinator's table: it is the lane job the worker
    // last reported started, as far as the agent has read its reports.
    if (std::shared_ptr<WorkerConn> conn = slot.owner != shm::kNoOwner ? s_.peers->FindWorker(slot.owner) : nullptr;
        conn != nullptr && conn->leased_to.load() != 0) {
      absl::MutexLock lock(&conn->lane_mu);
      w->set_job_id(conn->lane.job);
    }
  }
  uint64_t committed = 0, segment_bytes = 0;
  std::vector<SegmentUsage> usage = s_.ledger->Usage();
  for (const SegmentUsage& u : usage) {
    committed += u.committed_bytes;
    segment_bytes += u.segment_bytes;
  }
  reply.set_arena_bytes(segment_bytes);
  reply.set_arena_path("per-session segments (memfd)");
  reply.set_memory_budget(s_.config->memory_budget);
  reply.set_committed_bytes(committed);
  for (const SegmentUsage& u : usage) {
    v1::SessionStats* s = reply.add_session_list();
    s->set_id(u.session);
    s->set_slabs_in_use(u.slabs_in_use);
    s->set_bytes_in_use(u.bytes_in_use);
    s->set_committed_bytes(u.committed_bytes);
    s->set_segment_bytes(u.segment_bytes);
    std::shared_ptr<SessionConn> session = s_.peers->FindSession(u.session);
    if (session == nullptr) {
      s->set_name("(closed; its jobs run on)");
      continue;
    }
    s->set_name(session->name);
    s->set_pid(session->cred.pid);
    s->set_uid(session->cred.uid);
    s->set_gid(session->cred.gid);
  }
  s_.coordinator->With([&](coordinator::Coordinator& coord) {
    for (v1::SessionStats& s : *reply.mutable_session_list()) s.set_live_jobs(coord.LiveJobsOf(s.id()));
  });
  reply.set_uptime_s(static_cast<uint64_t>(absl::ToInt64Seconds(s_.clock->Now() - s_.started_at)));
  reply.set_draining(s_.draining->load());
  return reply;
}

std::string AdminViews::MetricsText() const {
  std::map<std::string, int> by_state;
  AgentMetrics& metrics = *s_.metrics;
  s_.coordinator->With([&](coordinator::Coordinator& coord) {
    metrics.SetQueue(coord.QueueDepth(), coord.QueueDepthByType(),
                     coord.OldestQueuedAge().value_or(absl::ZeroDuration()));
    metrics.SetSessions(coord.SessionCount());
    size_t ahead = 0;
    for (const coordinator::WorkerInfo& w : coord.Workers()) {
      ++by_state[coordinator::WorkerStateName(w.state)];
      ahead += w.ahead.size();
    }
    metrics.SetDispatchedAhead(ahead);
  });
  std::vector<AgentMetrics::WorkerSlotSample> slots;
  for (const SlotInfo& slot : s_.supervisor->Slots()) {
    if (slot.state == SlotState::kStarting || slot.state == SlotState::kBackoff) ++by_state["starting"];
    const bool running = slot.pid > 0 && slot.state != SlotState::kBackoff;
    slots.push_back({.index = slot.index, .rss_bytes = running ? ResidentBytes(slot.pid) : 0});
  }
  metrics.SetWorkers(by_state);
  metrics.SetWorkerSlots(slots);
  if (absl::StatusOr<ProcessSample> self = ReadSelfProcess(); self.ok()) {
    metrics.SetProcess(*self);
  } else {
    spdlog::warn("process metrics not updated: {}", self.status().ToString());
  }
  metrics.SetArena(SlabOccupancy(), s_.config->memory_budget);
  return metrics.Serialize();
}

v1::HealthReply AdminViews::Health() const {
  v1::HealthReply reply;
  reply.set_draining(s_.draining->load());
  reply.set_workers_configured(s_.config->workers);
  // Ready means in the coordinator's pool, where a job can be dispatched to it: a worker the
  // supervisor has heard from is not there until its segment is attached, and a client that
  // trusted a readiness taken from the supervisor would see its first job queue.
  uint32_t ready = 0;
  s_.coordinator->With([&](coordinator::Coordinator& coord) {
    for (const coordinator::WorkerInfo& w : coord.Workers()) ready += w.state != coordinator::WorkerState::kDraining;
  });
  reply.set_workers_ready(ready);
  reply.set_serving(!reply.draining() && reply.workers_ready() > 0);
  reply.set_version(kVersion);
  return reply;
}

absl::StatusOr<v1::JobStatusReply> AdminViews::JobStatus(uint64_t job_id) const {
  absl::StatusOr<coordinator::JobStatus> st =
      s_.coordinator->With([&](coordinator::Coordinator& coord) { return coord.Status(job_id); });
  if (!st.ok()) return st.status();
  v1::JobStatusReply reply;
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
