// Where a jobd noop job's microseconds go, from the stamps every hop adds (JobFuture::timings).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace jobd::bench {

// Runs `jobs` noop jobs through a fresh agent; a markdown table of the median of each hop.
absl::StatusOr<std::string> JobdBreakdown(int jobs);

}  // namespace jobd::bench
