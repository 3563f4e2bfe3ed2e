// CPU time of the processes a benchmarked system is made of, read from outside them, so that a
// case can say what each process (client, agent or broker, workers) spent per job.
#pragma once

#include <sys/types.h>

#include <vector>

namespace jobd::bench {

// CPU seconds (user + system, every thread, living or exited) that process `pid` has used.
// Nanosecond-precise through the process's CPU clock (clock_getcpuclockid); /proc/<pid>/stat's
// utime + stime counts in 10 ms ticks, too coarse for a few hundred jobs of a few µs each.
// 0 when the process is gone.
double ProcessCpuSeconds(pid_t pid);

// The same, summed over several processes.
double ProcessCpuSeconds(const std::vector<pid_t>& pids);

// The processes whose parent is `parent` (scans /proc/*/stat); e.g. the workers jobd preforked.
std::vector<pid_t> ChildrenOf(pid_t parent);

}  // namespace jobd::bench
