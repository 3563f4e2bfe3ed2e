// Where a job's time went: CLOCK_MONOTONIC stamps (ns) taken by the client, the agent and the
// worker on the way. All processes share the host's monotonic clock, so differences across
// processes are meaningful. A stamp is 0 when the path that job took does not record it.
#pragma once

#include <cstdint>

#include "shm/monotonic.h"

namespace jobd::client {

struct JobTimings {
  int64_t client_start_ns = 0;     // Start() entered
  int64_t client_sent_ns = 0;      // the Submit left the client (request already in its slab)
  int64_t agent_received_ns = 0;   // the agent read the Submit
  int64_t agent_dispatched_ns = 0; // the agent handed the assignment to a worker's channel
  int64_t worker_received_ns = 0;  // the worker read the assignment
  int64_t worker_done_ns = 0;      // the handler returned and the result left the worker
  int64_t agent_result_ns = 0;     // the agent read the result
  int64_t agent_sent_ns = 0;       // the completion left the agent
  int64_t client_received_ns = 0;  // the client read the completion
  int64_t client_woken_ns = 0;     // Wait() returned to the caller
};

using shm::MonotonicNanos;

}  // namespace jobd::client
