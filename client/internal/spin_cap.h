// How long this process lets a waiting thread spin: the agent's window for its sessions, capped
// by the process's own limit. The spin is charged to the service's container, so the service,
// not the agent, has the last word (a CPU limit there turns a spin into throttling).
#pragma once

#include <algorithm>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shm/spin_policy.h"

namespace jobd::client::internal {

// The process's own cap: `option` (ClientOptions::max_spin) when set, else `env` (the value of
// $JOBD_CLIENT_SPIN_US, microseconds; null or empty: none). Out of 0 to shm::kMaxSpinWindow, or an
// env value that is not a whole number: an error naming the value and what is allowed.
absl::StatusOr<std::optional<absl::Duration>> SpinCap(const std::optional<absl::Duration>& option, const char* env);

// The window a session's waiters use: the agent's, cut to the cap.
inline absl::Duration SpinWindow(absl::Duration agent, const std::optional<absl::Duration>& cap) {
  return cap.has_value() ? std::min(agent, *cap) : agent;
}

}  // namespace jobd::client::internal
