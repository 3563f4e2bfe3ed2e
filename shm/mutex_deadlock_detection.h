// Whether absl::Mutex checks lock order, in jobd's own processes.
#pragma once

#include <cstdlib>
#include <string_view>

#include "absl/synchronization/mutex.h"

namespace jobd::shm {

// Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detection on: every
// Lock and Unlock then updates a lock graph under one process-wide spin lock (two nested locks
// cost 114 ns instead of 39 here). jobd's own processes, the agent and the workers in
// Worker::Run, turn it off; JOBD_MUTEX_DEADLOCK_DETECTION=1 keeps Abseil's default (abort on a
// lock-order cycle), which the integration tests set so a cycle in the real processes still
// fails them. Call before any thread starts.
inline void ConfigureMutexDeadlockDetection() {
  const char* keep = std::getenv("JOBD_MUTEX_DEADLOCK_DETECTION");
  if (keep != nullptr && std::string_view(keep) == "1") return;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace jobd::shm
