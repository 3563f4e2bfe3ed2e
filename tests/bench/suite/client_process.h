// Client processes for the paced and many-session cases: each is this binary, exec'd fresh with
// --client_child, with its own session or connection. Fresh, because a process that already
// runs gRPC threads cannot safely use gRPC in a plain forked child; and its own process, so that
// its CPU time is the client's alone, not that of threads left behind by earlier systems.
//
// The protocol: the child connects and warms up, writes one ready byte on fd 3, waits until its
// parent closes the start pipe (fd 4), runs its loop, then sends a header and its latencies on
// fd 3 and exits. The parent reads every child's pipe at once (one child's latencies can exceed
// a pipe's 64 KiB).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace jobd::bench {

// What each child runs once started.
struct ClientLoop {
  // > 0: paced, a job every 1/rate s (clock_nanosleep to absolute start times), `jobs` jobs,
  // after `warmup` jobs at the same rate before the ready byte. 0: closed loop, the next job as
  // soon as the last answered, for `time`.
  int rate = 0;
  int jobs = 0;
  int warmup = 20;
  absl::Duration time = absl::Seconds(3);
};

// What one child measured.
struct ClientResult {
  std::vector<float> latencies_us;  // from each job's actual start to its checked answer
  double loop_seconds = 0;          // first start to last answer
  // Paced: the rate at which jobs started, counted from the first job's scheduled start, so a
  // system that falls behind shows below the asked rate and never above it.
  double start_rate = 0;
  double cpu_seconds = 0;           // the child's own CPU over its loop (every thread)
};

// Children that have connected and are ready; Run starts them all and collects their results.
// Destroying an unfinished group kills its children.
class ClientGroup {
 public:
  // Starts `count` children against the started system `system_id` at `address`; returns once
  // every child is ready, or the first error (a child's own message when it sent one).
  static absl::StatusOr<std::unique_ptr<ClientGroup>> Start(const std::string& system_id, const std::string& address,
                                                            int count, const ClientLoop& loop);
  ~ClientGroup();

  // Starts every child's loop at once and waits for their results.
  absl::StatusOr<std::vector<ClientResult>> Run();

 private:
  struct Child {
    pid_t pid = -1;
    int fd = -1;  // its result pipe, read end
    std::string bytes;
    bool eof = false;
  };
  ClientGroup() = default;
  void Reap();

  std::vector<Child> children_;
  int start_fd_ = -1;  // the start pipe's write end
  absl::Duration time_;
};

// The child's side (main() calls it for --client_child). Returns the process's exit code.
int RunClientChild(const std::string& system_id, const std::string& address, const ClientLoop& loop);

}  // namespace jobd::bench
