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
  absl::Duration default_timeout = absl::Seconds(30);
  absl::Duration grace = absl::Seconds(2);
  size_t max_queue = 10000;
  size_t max_queued_per_session = 0;
  uint32_t max_slabs_per_session = 0;  // 0: no quota
  uint32_t worker_max_jobs = 0;
  uint64_t worker_max_rss = 0;  // bytes; 0: no limit
  std::string metrics_address;  // empty: no metrics endpoint
  gid_t socket_group = static_cast<gid_t>(-1);  // -1: the agent's own group
  // The shared-memory channels (shm::ChannelFile) for control messages; off: streams only.
  bool fast_path = true;
  uint32_t channel_slots = 256;
  absl::Duration spin = absl::Microseconds(50);  // spin before sleeping on a doorbell

  std::string socket_path() const { return run_dir + "/jobd.sock"; }
  std::string arena_path() const { return run_dir + "/arena"; }
  std::string channels_path() const { return run_dir + "/channels"; }
};

// Reads the --flags (declared in flags.cc) into a config. Errors name the flag, the value and
// what is allowed. Resolves the run dir but does not create it.
absl::StatusOr<AgentConfig> ConfigFromFlags();

// Reads --log-format and --log-level (or $JOBD_LOG_LEVEL); errors name the allowed values.
absl::StatusOr<LogOptions> LogOptionsFromFlags();

// "512M", "2G", "1048576" -> bytes.
absl::StatusOr<uint64_t> ParseBytes(const std::string& text);

}  // namespace jobd::agent
