// How much memory a worker process holds, for --worker-max-rss and jobctl workers.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace jobd::agent {

// Resident bytes of a process, from /proc/PID/statm; 0 when it cannot be read (it is gone).
uint64_t ResidentBytes(pid_t pid);

}  // namespace jobd::agent
