// The real jobd binary in a child process, with its own run dir, for integration tests.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/job_client.h"
#include "proto/jobd.grpc.pb.h"

namespace jobd::testing {

// Where jobd, jobctl, jobd-testworker and the examples are built.
std::string BinDir();

struct AgentFlags {
  int workers = 2;
  std::string worker_cmd;  // empty: jobd-testworker
  std::vector<std::string> extra;  // more --flags
  std::vector<std::string> env;    // more environment ("K=V"), on top of the test's own
  // Abseil's lock-order checks in the agent and its workers, which abort on a cycle: on for
  // tests, off for benchmarks (off is what jobd runs with).
  bool lock_order_checks = true;
};

class AgentProcess {
 public:
  // Starts jobd and waits until every worker is ready. Fails with the agent's log on timeout.
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Start(AgentFlags flags = {});
  ~AgentProcess();  // SIGKILL if still running; removes the run dir

  const std::string& run_dir() const { return run_dir_; }
  std::string socket_path() const { return run_dir_ + "/jobd.sock"; }
  pid_t pid() const { return pid_; }
  std::string Log() const;

  absl::StatusOr<v1::StatsReply> Stats() const;
  absl::StatusOr<v1::HealthReply> Health() const;
  // Polls until slabs in use reach `expected` (or the timeout passes); returns the last count.
  uint32_t WaitForSlabsInUse(uint32_t expected, absl::Duration timeout = absl::Seconds(10)) const;
  // Polls until `n` workers are ready.
  bool WaitForReadyWorkers(uint32_t n, absl::Duration timeout = absl::Seconds(20)) const;
  // Polls until a worker is leased to a session (and, when `job` is not 0, has reported that
  // lane job started); its pid, or 0 after the timeout.
  pid_t WaitForLeasedWorker(absl::Duration timeout = absl::Seconds(10), uint64_t job = 0) const;

  absl::StatusOr<std::unique_ptr<client::JobClient>> Connect() const;

  // Starts jobd again with the same flags and run dir (after Kill, say) and waits for workers.
  absl::Status Restart();

  // SIGTERM and wait; returns the exit status (as from waitpid) or an error on timeout.
  absl::StatusOr<int> Terminate(absl::Duration timeout = absl::Seconds(20));
  void Kill();

 private:
  AgentProcess() = default;
  std::string run_dir_;
  pid_t pid_ = 0;
  uint32_t workers_ = 0;
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::unique_ptr<v1::Jobd::Stub> stub_;
};

// Runs a program, returns its exit status and what it printed on stdout and on stderr.
struct ProgramResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
ProgramResult RunProgram(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// Starts client_victim (client_victim.cc) on `socket`, in `mode` (empty: the default), and
// waits for its "ready"; returns its pid, or 0 when it did not say so. The caller kills it.
pid_t StartClientVictim(const std::string& socket, const std::string& mode = "");

}  // namespace jobd::testing
