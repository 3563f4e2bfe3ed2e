// Everything the agent is configured with, resolved and validated (from flags in main).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/logging.h"
#include "shm/size_classes.h"

namespace jobd::agent {

struct AgentConfig {
  std::string run_dir;                   // holds jobd.sock and arena
  uint32_t workers = 1;
  std::vector<std::string> worker_argv;  // the worker command, split on spaces
  std::vector<shm::SizeClass> size_classes;
  std::vector<shm::SizeClass> session_classes;  // size_classes cut to --session-memory: one session's segment
  absl::Duration default_timeout = absl::Seconds(30);
  absl::Duration grace = absl::Seconds(2);
  size_t max_queue = 10000;
  size_t max_queued_per_session = 0;
  size_t max_jobs_per_uid = 0;  // live jobs (queued or running) of all sessions of one uid; 0: no quota
  uint32_t max_slabs_per_session = 0;  // 0: no quota
  uint32_t worker_max_jobs = 0;
  uint64_t worker_max_rss = 0;  // bytes; 0: no limit
  std::string metrics_address;  // empty: no metrics endpoint
  gid_t socket_group = static_cast<gid_t>(-1);  // -1: the agent's own group
  absl::Duration spin = absl::Microseconds(50);  // spin before sleeping on a doorbell: the agent, workers
  // A client waits for one job's answer, which under load (more sessions than workers) takes
  // longer than a worker's wait for its next message; a client that sleeps instead costs the
  // agent a futex wake per answer. Spinning stays conditional on recent answers coming that soon.
  absl::Duration client_spin = absl::Microseconds(200);
  uint64_t ring_capacity = 64 * 1024;            // per direction, in every peer's segment
  // The most all session segments may commit together; a session that would pass it is
  // refused at open with the numbers.
  uint64_t memory_budget = 0;  // 0: the session classes' size x 16
  uint32_t max_sessions = 4096;
  // Worker leases (the two-hop path): an idle worker is leased to a session whose job it just
  // ran, while no job has had to queue; revoked on demand, or after lease_idle without a job.
  bool leases = true;
  absl::Duration lease_idle = absl::Seconds(2);
  // Dispatch ahead: with no worker idle, a busy worker holds up to dispatch_ahead_depth jobs
  // behind its current one (coordinator::CoordinatorOptions::dispatch_ahead).
  bool dispatch_ahead = true;
  absl::Duration dispatch_ahead_max_run = absl::Milliseconds(1);
  uint32_t dispatch_ahead_depth = 32;
  size_t peer_backlog_bytes = 1 << 20;            // what waits for a peer that does not read
  absl::Duration peer_stall = absl::Seconds(10);  // how long a peer may not read before it is cut off
  // --allow: who may submit what. Empty: everyone who can open the socket, anything.
  struct AllowRule {
    bool gid = false;  // the rule names a group, else a user
    uint32_t id = 0;
    std::vector<std::string> types;  // empty: every type
  };
  std::vector<AllowRule> allow;

  std::string socket_path() const { return run_dir + "/jobd.sock"; }
  // Where peers pick up their segments (SCM_RIGHTS); beside the gRPC socket, same mode.
  std::string side_socket_path() const { return run_dir + "/jobd.side.sock"; }
};

// "uid:1000=echo,resize;gid:50=*" -> rules. Errors say which rule is wrong and the form.
absl::StatusOr<std::vector<AgentConfig::AllowRule>> ParseAllowRules(const std::string& text);

// Reads the --flags (declared in flags.cc) into a config. Errors name the flag, the value and
// what is allowed. Resolves the run dir but does not create it.
absl::StatusOr<AgentConfig> ConfigFromFlags();

// Reads --log-format and --log-level (or $JOBD_LOG_LEVEL); errors name the allowed values.
absl::StatusOr<LogOptions> LogOptionsFromFlags();

// "512M", "2G", "1048576" -> bytes.
absl::StatusOr<uint64_t> ParseBytes(const std::string& text);

}  // namespace jobd::agent
