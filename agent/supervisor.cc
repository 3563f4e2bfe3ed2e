#include "agent/supervisor.h"

#include <sys/wait.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

const char* SlotStateName(SlotState state) {
  switch (state) {
    case SlotState::kStarting: return "starting";
    case SlotState::kReady: return "ready";
    case SlotState::kDraining: return "draining";
    case SlotState::kBackoff: return "backoff";
  }
  return "unknown";
}

const char* ExitReasonName(ExitReason reason) {
  switch (reason) {
    case ExitReason::kExit: return "exit";
    case ExitReason::kCrash: return "crash";
    case ExitReason::kRecycled: return "recycled";
    case ExitReason::kKilledDeadline: return "killed_deadline";
    case ExitReason::kKilledRss: return "killed_rss";
    case ExitReason::kKilledOther: return "killed";
  }
  return "unknown";
}

Supervisor::Supervisor(SupervisorOptions options, ProcessLauncher& launcher,
                       const coordinator::Clock& clock)
    : options_(std::move(options)), launcher_(launcher), clock_(clock) {
  absl::MutexLock lock(&mu_);
  slots_.resize(options_.workers);
  for (uint32_t i = 0; i < options_.workers; ++i) slots_[i].info.index = i;
}

void Supervisor::StartAll() {
  absl::MutexLock lock(&mu_);
  for (Slot& slot : slots_) {
    if (!slot.alive) LaunchLocked(slot);
  }
}

void Supervisor::LaunchLocked(Slot& slot) {
  // A token per launch: a worker proves it is the process we started, not a stray client.
  static thread_local std::mt19937_64 rng(std::random_device{}());
  slot.token = absl::StrCat(slot.info.index, "-", ++launches_, "-", rng());
  std::vector<std::string> env = options_.env;
  env.push_back("JOBD_WORKER_TOKEN=" + slot.token);
  env.push_back(absl::StrCat("JOBD_WORKER_INDEX=", slot.info.index));
  slot.info.started_at = clock_.Now();
  slot.info.owner = shm::kNoOwner;
  slot.stop_reason.reset();
  absl::StatusOr<pid_t> pid = launcher_.Launch(options_.argv, env);
  if (!pid.ok()) {
    slot.alive = false;
    slot.info.state = SlotState::kBackoff;
    slot.backoff = std::min(std::max(slot.backoff * 2, options_.min_backoff), options_.max_backoff);
    slot.restart_at = clock_.Now() + slot.backoff;
    spdlog::error("worker {} could not start: {}; retrying in {}", slot.info.index, std::string(pid.status().message()),
                  absl::FormatDuration(slot.backoff));
    return;
  }
  slot.alive = true;
  slot.info.pid = *pid;
  slot.info.state = SlotState::kStarting;
  spdlog::info("worker {} started: pid {}", slot.info.index, *pid);
}

absl::StatusOr<uint32_t> Supervisor::Connect(const std::string& token, pid_t pid, shm::OwnerId owner) {
  absl::MutexLock lock(&mu_);
  for (Slot& slot : slots_) {
    if (!slot.alive || slot.token.empty() || slot.token != token) continue;
    if (slot.info.state != SlotState::kStarting) {
      return absl::PermissionDeniedError("this worker token was already used");
    }
    if (pid != 0 && pid != slot.info.pid) {
      return absl::PermissionDeniedError(
          absl::StrCat("worker token belongs to pid ", slot.info.pid, ", not ", pid));
    }
    slot.info.state = SlotState::kReady;
    slot.info.owner = owner;
    slot.failed_starts = 0;
    return slot.info.index;
  }
  return absl::PermissionDeniedError("unknown worker token: workers are started by this jobd");
}

std::optional<WorkerExit> Supervisor::OnExit(pid_t pid, int wait_status) {
  absl::MutexLock lock(&mu_);
  for (Slot& slot : slots_) {
    if (!slot.alive || slot.info.pid != pid) continue;
    WorkerExit exit;
    exit.index = slot.info.index;
    exit.pid = pid;
    exit.owner = slot.info.owner;
    exit.lived = clock_.Now() - slot.info.started_at;
    if (WIFSIGNALED(wait_status)) {
      exit.description = absl::StrCat("killed by signal ", WTERMSIG(wait_status));
      exit.reason = ExitReason::kCrash;
    } else {
      const int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
      exit.description = absl::StrCat("exited with status ", code);
      exit.reason = code == 0 ? ExitReason::kExit : ExitReason::kCrash;
    }
    if (slot.stop_reason.has_value()) exit.reason = *slot.stop_reason;
    slot.alive = false;
    slot.info.owner = shm::kNoOwner;
    ++slot.info.restarts;
    ++restarts_[exit.reason];
    // Only a worker that dies on its own before it ever served (a binary that crashes at
    // start) backs off; one we stopped, one that had connected, or one that lived long enough
    // comes back at once, so killed workers are replaced without delay.
    const bool asked = slot.stop_reason.has_value();
    const bool served = slot.info.state == SlotState::kReady;
    if (!asked && !served && exit.lived < options_.stable_after) {
      slot.backoff = std::min(std::max(slot.backoff * 2, options_.min_backoff), options_.max_backoff);
    } else {
      slot.backoff = absl::ZeroDuration();
    }
    slot.failed_starts = (!asked && !served) ? slot.failed_starts + 1 : 0;
    slot.last_exit = exit.description;
    exit.restart_in = slot.backoff;
    slot.restart_at = clock_.Now() + slot.backoff;
    slot.info.state = SlotState::kBackoff;
    if (!stopping_ && slot.backoff == absl::ZeroDuration()) LaunchLocked(slot);
    return exit;
  }
  return std::nullopt;
}

void Supervisor::Tick() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  const absl::Time now = clock_.Now();
  for (Slot& slot : slots_) {
    if (!slot.alive && slot.restart_at <= now) LaunchLocked(slot);
  }
}

std::optional<absl::Time> Supervisor::NextRestart() const {
  absl::MutexLock lock(&mu_);
  std::optional<absl::Time> next;
  if (stopping_) return next;
  for (const Slot& slot : slots_) {
    if (!slot.alive && (!next || slot.restart_at < *next)) next = slot.restart_at;
  }
  return next;
}

absl::Status Supervisor::Stop(uint32_t index, ExitReason reason, int signal) {
  absl::MutexLock lock(&mu_);
  if (index >= slots_.size()) return absl::InvalidArgumentError(absl::StrCat("no worker slot ", index));
  Slot& slot = slots_[index];
  if (!slot.alive) return absl::FailedPreconditionError(absl::StrCat("worker ", index, " is not running"));
  if (!slot.stop_reason.has_value()) slot.stop_reason = reason;
  slot.info.state = SlotState::kDraining;
  return launcher_.Signal(slot.info.pid, signal);
}

absl::Status Supervisor::StopOwner(shm::OwnerId owner, ExitReason reason, int signal) {
  absl::MutexLock lock(&mu_);
  for (Slot& slot : slots_) {
    if (!slot.alive || owner == shm::kNoOwner || slot.info.owner != owner) continue;
    if (!slot.stop_reason.has_value()) slot.stop_reason = reason;
    slot.info.state = SlotState::kDraining;
    return launcher_.Signal(slot.info.pid, signal);
  }
  return absl::NotFoundError(absl::StrCat("no live worker process with owner ", owner));
}

std::optional<uint32_t> Supervisor::SlotOfOwner(shm::OwnerId owner) const {
  absl::MutexLock lock(&mu_);
  for (const Slot& slot : slots_) {
    if (slot.alive && slot.info.owner == owner && owner != shm::kNoOwner) return slot.info.index;
  }
  return std::nullopt;
}

std::vector<pid_t> Supervisor::StopAll(int signal) {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  std::vector<pid_t> pids;
  for (Slot& slot : slots_) {
    if (!slot.alive) continue;
    if (!slot.stop_reason.has_value()) slot.stop_reason = ExitReason::kExit;
    (void)launcher_.Signal(slot.info.pid, signal);
    pids.push_back(slot.info.pid);
  }
  return pids;
}

std::optional<std::string> Supervisor::CrashLooping() const {
  absl::MutexLock lock(&mu_);
  if (slots_.empty()) return std::nullopt;
  for (const Slot& slot : slots_) {
    if (slot.info.state == SlotState::kReady || slot.failed_starts < 2) return std::nullopt;
  }
  const Slot& last = slots_.back();
  return absl::StrCat("worker ", last.info.index, " ", last.last_exit, " at start, ", last.failed_starts,
                      " times in a row");
}

std::vector<SlotInfo> Supervisor::Slots() const {
  absl::MutexLock lock(&mu_);
  std::vector<SlotInfo> out;
  for (const Slot& slot : slots_) out.push_back(slot.info);
  return out;
}

std::map<ExitReason, uint64_t> Supervisor::RestartsByReason() const {
  absl::MutexLock lock(&mu_);
  return restarts_;
}

uint32_t Supervisor::ReadyCount() const {
  absl::MutexLock lock(&mu_);
  uint32_t n = 0;
  for (const Slot& slot : slots_) n += slot.alive && slot.info.state == SlotState::kReady;
  return n;
}

}  // namespace jobd::agent
