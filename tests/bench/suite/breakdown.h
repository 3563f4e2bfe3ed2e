// Where a jobd noop job's microseconds go, from the stamps every hop adds (JobFuture::timings).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace jobd::bench {

// Runs `jobs` noop jobs (64 B) back to back, 20 jobs of 16 MiB, and noop jobs paced at 100/s
// (500) and 1,000/s (2,000) through a fresh agent; markdown tables of the median and p99 of
// each hop.
absl::StatusOr<std::string> JobdBreakdown(int jobs);

}  // namespace jobd::bench
