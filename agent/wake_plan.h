// When the housekeeping thread will next look, so that an event adding a timer (a deadline, a
// retry's backoff, a kill after the grace) wakes it only when the timer is due sooner: a steady
// stream of jobs, each with a later deadline than the first, costs housekeeping no wake-up.
// Lower() and SleepingUntil() are called under the coordinator's lock, so a timer added after
// housekeeping read the coordinator's next wake-up sees the plan it then stored.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace jobd::agent {

class WakePlan {
 public:
  // Housekeeping goes to sleep until `until`.
  void SleepingUntil(absl::Time until) { planned_ns_.store(absl::ToUnixNanos(until), std::memory_order_relaxed); }
  // Housekeeping is awake: it will look at every timer before it sleeps again.
  void Awake() { planned_ns_.store(0, std::memory_order_relaxed); }
  // A cheap first look, without the coordinator's lock: false means no wake can be needed.
  bool MaySooner(absl::Time due) const { return absl::ToUnixNanos(due) < planned_ns_.load(std::memory_order_relaxed); }
  // A timer is due at `due`: true when housekeeping must be woken for it (the plan then says
  // `due`, so the next timer as late costs nothing).
  bool Lower(absl::Time due) {
    const int64_t ns = absl::ToUnixNanos(due);
    if (ns >= planned_ns_.load(std::memory_order_relaxed)) return false;
    planned_ns_.store(ns, std::memory_order_relaxed);
    return true;
  }

 private:
  std::atomic<int64_t> planned_ns_{INT64_MAX};
};

}  // namespace jobd::agent
