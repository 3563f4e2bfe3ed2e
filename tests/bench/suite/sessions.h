// Many-session cases: N client processes, each with its own session or connection and one job
// in flight at a time (closed loop), for a fixed time. This is how many service processes on a
// host share one job system, as opposed to many threads of one process sharing one session.
//
// The clients are fresh processes (this binary, exec'd with --session_child): a process that
// already runs gRPC threads cannot safely use gRPC in a plain forked child. Each child connects,
// reports ready, waits for the start (the parent closes a shared pipe), runs its loop, and sends
// its latencies to the parent over its own pipe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/case_value.h"

namespace jobd::bench {

// Case ids, in table order, for the given client counts.
std::vector<CaseInfo> SessionCases(const std::vector<int>& clients);

// Runs each count of client processes against the started system `system_id` for `time`;
// values by case id: total jobs/s, p50 and p99 over every job of every client.
std::map<std::string, CaseValue> RunSessionCases(const std::string& system_id, BenchSystem& system,
                                                 const std::vector<int>& clients, absl::Duration time);

// The child's side: attaches to the system, then the protocol above on fds 3 (results, written)
// and 4 (start, read). Returns the process's exit code.
int RunSessionChild(const std::string& system_id, const std::string& address, absl::Duration time);

}  // namespace jobd::bench
