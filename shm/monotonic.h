// The host's monotonic clock in nanoseconds. Every process on the host reads the same clock, so
// stamps taken by a client, the agent and a worker can be subtracted from each other.
#pragma once

#include <time.h>

#include <cstdint>

namespace jobd::shm {

inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace jobd::shm
