// Processes the suite starts (servers, workers): started by fork or exec, stopped by PID.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace jobd::bench {

// Runs `body` in a forked child that dies with the suite; returns its pid.
inline pid_t ForkChild(const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    body();
    _exit(0);
  }
  return pid;
}

// Starts a server binary; its stdout and stderr go to `log` (the suite's own stdout is the table).
inline absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(argv[0], " is not installed (scripts/bench.sh installs it)"));
  }
  return ForkChild([&] {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  });
}

// SIGTERM, then SIGKILL after a second; always reaps.
inline void StopChild(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// A loopback port nobody listens on now (small race, fine for a benchmark).
int FreeLoopbackPort();

// True once something accepts TCP connections on 127.0.0.1:port, within `timeout`.
bool WaitForLoopbackPort(int port, absl::Duration timeout);

}  // namespace jobd::bench
