// Starting and signalling worker processes, behind an interface so the supervisor's unit
// tests never fork (tests/fakes/fake_process_launcher.h).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace jobd::agent {

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts argv[0] with these arguments and this whole environment ("K=V" entries).
  virtual absl::StatusOr<pid_t> Launch(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& env) = 0;
  virtual absl::Status Signal(pid_t pid, int signal) = 0;
};

// fork + execve. The child dies with the agent (PR_SET_PDEATHSIG), so an agent killed with
// SIGKILL leaves no orphaned workers behind.
class PosixProcessLauncher final : public ProcessLauncher {
 public:
  absl::StatusOr<pid_t> Launch(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) override;
  absl::Status Signal(pid_t pid, int signal) override;
};

}  // namespace jobd::agent
