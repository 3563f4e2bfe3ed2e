// The wall clock as an absl::Time, read straight from the vDSO.
//
// absl::Now() goes through Abseil's cycle-clock calibration, whose state is cold in a process
// that slept: 2.2 µs for the first call after a 10 ms sleep on the 2-vCPU VMs, against 0.1 µs
// for clock_gettime (docs/benchmarks.md, "Cold code on a paced job's path"). A service at 100
// jobs/s meets it cold on every job, so the paths a job takes read the clock here instead.
#pragma once

#include <time.h>

#include <cstdint>

#include "absl/time/time.h"

namespace jobd::shm {

inline absl::Time WallNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::FromUnixNanos(static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

}  // namespace jobd::shm
