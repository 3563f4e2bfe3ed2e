// The standard process_* metrics (what the Go and Java clients export) for the agent itself.
// prometheus-cpp 1.0 has no process collector, so the agent reads /proc/self on each scrape.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace jobd::agent {

struct ProcessSample {
  double cpu_seconds = 0;          // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;   // Unix time
  double open_fds = 0;
  double max_fds = 0;              // the soft RLIMIT_NOFILE
};

// Parses the text of /proc/PID/stat. ticks_per_second is sysconf(_SC_CLK_TCK), boot_time the
// "btime" line of /proc/stat (Unix seconds). Leaves open_fds and max_fds at 0.
// InvalidArgument when the text is not a stat line.
absl::StatusOr<ProcessSample> ParseProcStat(const std::string& stat, double ticks_per_second,
                                            double boot_time, double page_size);

// The "btime" of the text of /proc/stat. InvalidArgument when it has none.
absl::StatusOr<double> ParseBootTime(const std::string& proc_stat);

// Everything about this process. Unavailable when /proc cannot be read.
absl::StatusOr<ProcessSample> ReadSelfProcess();

}  // namespace jobd::agent
