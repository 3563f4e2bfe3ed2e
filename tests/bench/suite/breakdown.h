// Where a jobd noop job's microseconds go, from the stamps every hop adds (JobFuture::timings).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace jobd::bench {

// Runs `jobs` noop jobs (64 B) and 20 jobs of 16 MiB through a fresh agent; markdown tables
// of the median and p99 of each hop.
absl::StatusOr<std::string> JobdBreakdown(int jobs);

}  // namespace jobd::bench
