// The agent's housekeeping round: reaping workers, memory limits, the coordinator's timers,
// tokens never used, segments of closed sessions. HousekeepingThread runs it.
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "agent/agent.h"
#include "agent/process_memory.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

void Agent::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    std::optional<WorkerExit> exit = supervisor_->OnExit(pid, status);
    if (!exit.has_value()) continue;
    metrics_.WorkerRestarted(exit->index, ExitReasonName(exit->reason));
    // Its exit ends it, before what it held is reclaimed, whether or not it left its stream: a
    // detached worker has no stream whose end would say it is gone, and one that has not detached
    // yet may still have its Detach on the way (killed right after sending it, the agent would
    // read it after this and wait on a stream nobody ends) or a child holding its socket open.
    // Closing twice is harmless: the stream's end finds it closed.
    if (std::shared_ptr<WorkerConn> w = exit->owner != shm::kNoOwner ? peers_.FindWorker(exit->owner) : nullptr) {
      CloseWorker(w);
    }
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
    Apply(coord_.With([&](coordinator::Coordinator& c) {
      return c.RetireWorker(slot.owner, coordinator::KillReason::kMemory);
    }));
  }
}

// Tokens handed out in a welcome whose peer never came to the side socket: that session or
// worker cannot work, so it is ended rather than left holding its segment.
void Agent::ExpirePending() {
  for (const PendingPeer& p : peers_.TakeExpiredTokens(absl::Now())) {
    if (!p.worker) {
      if (std::shared_ptr<SessionConn> s = peers_.FindSession(p.id)) s->stream.Abort();
    } else if (std::shared_ptr<WorkerConn> w = peers_.FindWorker(p.id)) {
      EndWorker(*w);
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

absl::Time Agent::HousekeepingRound() {
  coord_.With([&](coordinator::Coordinator&) { wake_plan_.Awake(); });  // it will look at everything
  ReapChildren();
  CheckWorkerMemory();
  supervisor_->Tick();
  coordinator::Effects effects = coord_.With([](coordinator::Coordinator& c) { return c.Tick(); });
  if (!effects.empty()) Apply(std::move(effects));
  ReleaseLingeringSegments();
  ExpirePending();
  // The first thing due.
  const absl::Time now = absl::Now();
  absl::Time until = now + absl::Minutes(1);
  if (std::optional<absl::Time> restart = supervisor_->NextRestart()) until = std::min(until, *restart);
  if (config_.worker_max_rss > 0) until = std::min(until, next_memory_check_);
  if (peers_.HasLingering()) until = std::min(until, now + absl::Milliseconds(100));
  if (std::optional<absl::Time> expiry = peers_.NextTokenExpiry()) until = std::min(until, *expiry);
  // Under the coordinator's lock, as in NoteTimers: a timer added after this read sees the
  // plan stored here and wakes us if it is sooner.
  coord_.With([&](coordinator::Coordinator& c) {
    if (std::optional<absl::Time> next = c.NextWakeup()) until = std::min(until, *next);
    wake_plan_.SleepingUntil(until);
  });
  return until;
}

}  // namespace jobd::agent
