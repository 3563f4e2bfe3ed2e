// A ProcessLauncher that never forks: it records what it was asked to start and signal, and
// hands out pids above the real pid range.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/process_launcher.h"

namespace jobd::testing {

class FakeProcessLauncher final : public agent::ProcessLauncher {
 public:
  struct Launch {
    pid_t pid;
    std::vector<std::string> argv;
    std::vector<std::string> env;
  };

  absl::StatusOr<pid_t> Launch(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) override {
    if (fail_launches > 0) {
      --fail_launches;
      return absl::InternalError("fork failed: fake");
    }
    const pid_t pid = next_pid_++;
    launches.push_back({pid, argv, env});
    return pid;
  }
  absl::Status Signal(pid_t pid, int signal) override {
    signals.emplace_back(pid, signal);
    return absl::OkStatus();
  }

  // The value of `key` in the environment of the launch that got `pid`.
  std::string EnvOf(pid_t pid, const std::string& key) const {
    for (const auto& l : launches) {
      if (l.pid != pid) continue;
      for (const auto& e : l.env) {
        if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
      }
    }
    return "";
  }

  std::vector<struct Launch> launches;
  std::vector<std::pair<pid_t, int>> signals;
  int fail_launches = 0;

 private:
  pid_t next_pid_ = 4'000'000;  // above /proc/sys/kernel/pid_max's largest value
};

}  // namespace jobd::testing
