// The agent's housekeeping thread: reaping workers, memory limits, deadlines.
#include "agent/agent.h"
#include "agent/process_memory.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

// ---------------------------------------------------------------- housekeeping

void Agent::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    std::optional<WorkerExit> exit = supervisor_->OnExit(pid, status);
    if (!exit.has_value()) continue;
    metrics_.WorkerRestarted(exit->index, ExitReasonName(exit->reason));
    uint32_t freed = 0;
    if (exit->owner != shm::kNoOwner) freed = ledger_.ReclaimWorker(exit->owner);
    spdlog::log(exit->reason == ExitReason::kCrash ? spdlog::level::warn : spdlog::level::info,
                "worker {} (pid {}) {} after {} [{}]; {} slabs reclaimed; restart in {}", exit->index, pid,
                exit->description, absl::FormatDuration(absl::Trunc(exit->lived, absl::Milliseconds(1))),
                ExitReasonName(exit->reason), freed, absl::FormatDuration(exit->restart_in));
  }
}


void Agent::CheckWorkerMemory() {
  if (config_.worker_max_rss == 0 || clock_.Now() < next_memory_check_) return;
  next_memory_check_ = clock_.Now() + absl::Milliseconds(200);
  for (const SlotInfo& slot : supervisor_->Slots()) {
    if (slot.state != SlotState::kReady || slot.owner == shm::kNoOwner) continue;
    const uint64_t rss = ResidentBytes(slot.pid);
    if (rss <= config_.worker_max_rss) continue;
    spdlog::warn("worker {} (pid {}) uses {} of memory, over --worker_max_rss={}: recycling it after its job",
                 slot.index, slot.pid, shm::HumanBytes(rss), shm::HumanBytes(config_.worker_max_rss));
    coordinator::Effects effects;
    {
      absl::MutexLock lock(&coord_mu_);
      effects = coordinator_->RetireWorker(slot.owner, coordinator::KillReason::kMemory);
    }
    Apply(std::move(effects));
  }
}

// Tokens handed out in a welcome whose peer never came to the side socket: that session or
// worker cannot work, so it is ended rather than left holding its segment.
void Agent::ExpirePending() {
  std::vector<Pending> expired;
  {
    absl::MutexLock lock(&conns_mu_);
    const absl::Time now = absl::Now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto next = std::next(it);
      if (it->second.until < now) {
        expired.push_back(it->second);
        pending_.erase(it);
      }
      it = next;
    }
  }
  for (const Pending& p : expired) {
    absl::MutexLock lock(&conns_mu_);
    if (!p.worker) {
      auto s = sessions_.find(p.id);
      if (s != sessions_.end()) s->second->stream.Abort();
    } else {
      auto w = workers_.find(p.id);
      if (w != workers_.end()) w->second->stream.Abort();
    }
    spdlog::warn("{} {} never picked up its segment on the side socket; ended", p.worker ? "worker" : "session", p.id);
  }
}

void Agent::HousekeepingLoop() {
  while (!stop_housekeeping_.WaitForNotificationWithTimeout(absl::Milliseconds(5))) {
    ReapChildren();
    CheckWorkerMemory();
    supervisor_->Tick();
    coordinator::Effects effects;
    {
      absl::MutexLock lock(&coord_mu_);
      effects = coordinator_->Tick();
    }
    if (!effects.empty()) Apply(std::move(effects));
    ReleaseLingeringSegments();
    ExpirePending();
  }
  ReapChildren();
}

}  // namespace jobd::agent
