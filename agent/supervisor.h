// The supervisor keeps the preforked pool full: it starts N worker processes, restarts one that
// exits (with exponential backoff when it dies before it ever connected, so a binary that
// crashes at start does not spin), and stops them on request (recycle, deadline, shutdown).
//
// It never forks or reaps itself: processes start through the ProcessLauncher, and whoever reaps
// children (the agent's housekeeping loop) reports exits through OnExit. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/process_launcher.h"
#include "coordinator/clock.h"
#include "shm/handle.h"

namespace jobd::agent {

struct SupervisorOptions {
  uint32_t workers = 1;
  std::vector<std::string> argv;  // the worker command
  std::vector<std::string> env;   // its whole environment; JOBD_WORKER_TOKEN/INDEX are added
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  absl::Duration stable_after = absl::Seconds(5);  // a worker that lived this long restarts at once
};

enum class SlotState { kStarting, kReady, kDraining, kBackoff };
const char* SlotStateName(SlotState state);  // "starting", "ready", "draining", "backoff"

// Why a worker process ended; the restart metric's label.
enum class ExitReason { kExit, kCrash, kRecycled, kKilledDeadline, kKilledRss, kKilledOther };
const char* ExitReasonName(ExitReason reason);  // "exit", "crash", "recycled", ...

struct SlotInfo {
  uint32_t index = 0;
  SlotState state = SlotState::kStarting;
  pid_t pid = 0;
  shm::OwnerId owner = shm::kNoOwner;  // while connected
  uint64_t restarts = 0;
  absl::Time started_at;
};

struct WorkerExit {
  uint32_t index = 0;
  pid_t pid = 0;
  shm::OwnerId owner = shm::kNoOwner;  // kNoOwner if it never connected
  ExitReason reason = ExitReason::kExit;
  std::string description;  // "exited with status 1", "killed by signal 9"
  absl::Duration lived;
  absl::Duration restart_in;
};

class Supervisor {
 public:
  Supervisor(SupervisorOptions options, ProcessLauncher& launcher, const coordinator::Clock& clock);

  // Launches every slot. Launch failures are retried with backoff, like exits.
  void StartAll();

  // A launched worker connected with its token: returns its slot index. PermissionDenied for a
  // token no slot issued (or one already used), or a pid that does not match.
  absl::StatusOr<uint32_t> Connect(const std::string& token, pid_t pid, shm::OwnerId owner);

  // A reaped child. nullopt when the pid is not one of ours.
  std::optional<WorkerExit> OnExit(pid_t pid, int wait_status);

  // Starts the slots whose backoff has passed.
  void Tick();
  // When Tick next has a restart to do; nullopt when no slot waits for one.
  std::optional<absl::Time> NextRestart() const;

  // Signals the worker in `index`; the reason is what its exit will be attributed to.
  absl::Status Stop(uint32_t index, ExitReason reason, int signal);
  // Signals the worker process that connected as `owner`, if it is still the one in its slot
  // (a replacement started meanwhile is left alone). NotFound when there is none.
  absl::Status StopOwner(shm::OwnerId owner, ExitReason reason, int signal);
  // Finds the slot of a connected owner.
  std::optional<uint32_t> SlotOfOwner(shm::OwnerId owner) const;

  // Shutdown: no more restarts; signals every live worker. Returns the pids signalled.
  std::vector<pid_t> StopAll(int signal);

  // When no worker is ready and every slot keeps dying before it connects: what the last one
  // said ("worker 0 exited with status 1 at start, 3 times in a row"). nullopt otherwise.
  std::optional<std::string> CrashLooping() const;

  std::vector<SlotInfo> Slots() const;
  std::map<ExitReason, uint64_t> RestartsByReason() const;
  uint32_t ReadyCount() const;
  uint32_t configured() const { return options_.workers; }

 private:
  struct Slot {
    SlotInfo info;
    std::string token;
    bool alive = false;  // a process exists (launched, not yet reaped)
    std::optional<ExitReason> stop_reason;
    absl::Duration backoff = absl::ZeroDuration();
    absl::Time restart_at = absl::InfinitePast();
    uint32_t failed_starts = 0;  // exits in a row before ever connecting
    std::string last_exit;
  };
  void LaunchLocked(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SupervisorOptions options_;
  ProcessLauncher& launcher_;
  const coordinator::Clock& clock_;
  mutable absl::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::map<ExitReason, uint64_t> restarts_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t launches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace jobd::agent
