// The agent's count of the leases it has out, the lane ids it hands out, and the earliest time
// a lane job needs looking at (its deadline, or its kill after the grace). The pump sleeps no
// longer than that while leases are out. Lock-free: reports come in on any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace jobd::agent {

class LeaseBook {
 public:
  // A lease goes out: its lane's id (never 0, never reused while the agent lives).
  uint32_t Open() {
    out_.fetch_add(1, std::memory_order_relaxed);
    return next_lane_.fetch_add(1, std::memory_order_relaxed);
  }
  void Closed() { out_.fetch_sub(1, std::memory_order_relaxed); }
  int out() const { return out_.load(std::memory_order_relaxed); }

  // A lane job is due at `due`: the next look is no later (a lower bound from any thread).
  void DueBy(absl::Time due) {
    const int64_t ns = absl::ToUnixNanos(due);
    int64_t seen = next_due_ns_.load();
    while (ns < seen && !next_due_ns_.compare_exchange_weak(seen, ns)) {
    }
  }
  // After a scan of every lane (on the one thread that scans): the next look it found.
  void ScannedUntil(absl::Time due) {
    next_due_ns_.store(due == absl::InfiniteFuture() ? INT64_MAX : absl::ToUnixNanos(due));
  }
  absl::Time next_due() const {
    const int64_t ns = next_due_ns_.load();
    return ns == INT64_MAX ? absl::InfiniteFuture() : absl::FromUnixNanos(ns);
  }

 private:
  std::atomic<int> out_{0};
  std::atomic<uint32_t> next_lane_{1};
  std::atomic<int64_t> next_due_ns_{INT64_MAX};
};

}  // namespace jobd::agent
