// Per-type job statistics (PHP-Daemon's SIGUSR1 table, live): counts by outcome and latency
// quantiles of queue wait and run time.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "coordinator/job.h"

namespace jobd::coordinator {

// A log-bucketed latency histogram (microseconds); quantiles are bucket upper bounds, so
// within ~10% of the true value.
class LatencyHistogram {
 public:
  // On the path of every job (queue wait at dispatch, run time at the end): a search of the
  // bucket bounds in nanoseconds, no logarithm and no floating-point division.
  void Record(absl::Duration d);
  uint64_t count() const { return count_; }
  absl::Duration Mean() const;
  absl::Duration Quantile(double q) const;  // q in [0, 1]; zero when empty

 private:
  static constexpr int kBuckets = 160;
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  double sum_ns_ = 0;  // a double: a few jobs of 1,000 hours would overflow int64 nanoseconds
};

struct TypeStats {
  uint64_t submitted = 0;
  std::map<Outcome, uint64_t> outcomes;  // jobs ended, by outcome
  LatencyHistogram queue_wait;
  LatencyHistogram run_time;
};

using TypeStatsTable = std::map<std::string, TypeStats>;

}  // namespace jobd::coordinator
