#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/process_launcher.h"

namespace jobd::agent {

absl::StatusOr<pid_t> PosixProcessLauncher::Launch(const std::vector<std::string>& argv,
                                                   const std::vector<std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty worker command");
  // Everything the child touches is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork failed: ", strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);  // the agent died between fork and prctl
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);  // the agent blocks signals for its sigwait thread
    setpgid(0, 0);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  return pid;
}

absl::Status PosixProcessLauncher::Signal(pid_t pid, int signal) {
  if (kill(pid, signal) != 0 && errno != ESRCH) {
    return absl::InternalError(absl::StrCat("kill(", pid, ", ", signal, ") failed: ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace jobd::agent
