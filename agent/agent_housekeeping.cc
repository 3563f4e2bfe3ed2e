// The agent's housekeeping thread: reaping workers, memory limits, deadlines.
#include "agent/agent.h"
#include "agent/process_memory.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

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

namespace {

int g_child_exit_fd = -1;

void OnChildExit(int) {
  const int saved = errno;
  const uint64_t one = 1;
  (void)!write(g_child_exit_fd, &one, sizeof one);
  errno = saved;
}

}  // namespace

void InstallChildExitWake(int eventfd_fd) {
  g_child_exit_fd = eventfd_fd;
  struct sigaction sa {};
  sa.sa_handler = OnChildExit;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, nullptr);
}

void Agent::WakeHousekeeping() {
  const uint64_t one = 1;
  (void)!write(housekeeping_wake_.get(), &one, sizeof one);
}

void Agent::NoteTimers() {
  bool sooner = false;
  {
    absl::MutexLock lock(&coord_mu_);
    std::optional<absl::Time> next = coordinator_->NextWakeup();
    // Only a timer due earlier than housekeeping's plan costs a wake-up; jobs that come one
    // after another have later deadlines than the first, so a steady stream costs none.
    if (next.has_value() && absl::ToUnixNanos(*next) < planned_wake_ns_.load(std::memory_order_relaxed)) {
      planned_wake_ns_.store(absl::ToUnixNanos(*next), std::memory_order_relaxed);
      sooner = true;
    }
  }
  if (sooner) WakeHousekeeping();
}

void Agent::HousekeepingLoop() {
  // main blocks SIGCHLD in every thread; this one takes it (its handler wakes the poll below).
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  pthread_sigmask(SIG_UNBLOCK, &child, nullptr);
  while (!stop_housekeeping_.load()) {
    ReapChildren();
    CheckWorkerMemory();
    supervisor_->Tick();
    coordinator::Effects effects;
    std::optional<absl::Time> next;
    {
      absl::MutexLock lock(&coord_mu_);
      effects = coordinator_->Tick();
    }
    if (!effects.empty()) Apply(std::move(effects));
    ReleaseLingeringSegments();
    ExpirePending();
    // Sleep until the first thing due; an eventfd write (a child exited, a sooner timer, stop)
    // ends it early.
    const absl::Time now = absl::Now();
    absl::Time until = now + absl::Minutes(1);
    if (std::optional<absl::Time> restart = supervisor_->NextRestart()) until = std::min(until, *restart);
    if (config_.worker_max_rss > 0) until = std::min(until, next_memory_check_);
    {
      absl::MutexLock lock(&conns_mu_);
      if (!lingering_.empty()) until = std::min(until, now + absl::Milliseconds(100));
      for (const auto& [token, p] : pending_) until = std::min(until, p.until);
    }
    {
      // Under the coordinator's lock, as in NoteTimers: a timer added after this read sees the
      // plan stored here and wakes us if it is sooner.
      absl::MutexLock lock(&coord_mu_);
      next = coordinator_->NextWakeup();
      if (next.has_value()) until = std::min(until, *next);
      planned_wake_ns_.store(absl::ToUnixNanos(until), std::memory_order_relaxed);
    }
    pollfd p{housekeeping_wake_.get(), POLLIN, 0};
    const int64_t ms = std::clamp<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(until - now, absl::Milliseconds(1))), 0, 60'000);
    if (poll(&p, 1, static_cast<int>(ms)) > 0) {
      uint64_t n;
      while (read(housekeeping_wake_.get(), &n, sizeof n) == sizeof n) {
      }
    }
    {
      absl::MutexLock lock(&coord_mu_);
      planned_wake_ns_.store(0, std::memory_order_relaxed);  // awake: it will look at everything
    }
  }
  ReapChildren();
}

}  // namespace jobd::agent
