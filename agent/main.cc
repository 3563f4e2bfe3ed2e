// jobd: the per-host job agent. Flags are in flags.cc; the work is in Agent.
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_config.h"
#include "agent/logging.h"
#include "agent/notify.h"
#include "agent/run_dir.h"
#include "shm/mutex_deadlock_detection.h"
#include "spdlog/spdlog.h"
#include "tools/common/command_line.h"
#include "tools/common/version.h"

namespace {

constexpr char kUsage[] = R"(jobd: a per-host job agent with a preforked worker pool.

Usage: jobd [FLAGS]         (--flag=value or --flag value; dashes or underscores)
       jobd --help | -h     this text
       jobd --version       version and build type

Clients find the agent through $JOBD_SOCKET (default /run/jobd/jobd.sock); jobctl talks to it.
Environment: JOBD_RUN_DIR (run dir when --run-dir is not given), JOBD_LOG_LEVEL (when
--log-level is not given), NOTIFY_SOCKET (set by systemd for Type=notify).
Signals: SIGTERM/SIGINT drain (refuse new jobs, finish running ones within --grace, exit 0);
a second one stops the workers at once.
Exit status: 0 after a drain, 1 when it cannot start, 2 for bad flags.

Flags:
)";

int Die(absl::string_view what) {
  std::fprintf(stderr, "jobd: %.*s\n", static_cast<int>(what.size()), what.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  jobd::shm::ConfigureMutexDeadlockDetection();
  const jobd::cli::FlagFilter flags = jobd::cli::FlagsFrom({"agent/flags.cc"});
  absl::StatusOr<jobd::cli::CommandLine> command_line = jobd::cli::Parse(argc, argv, flags);
  if (!command_line.ok()) return Die(command_line.status().message());
  if (command_line->help) {
    std::printf("%s%s", kUsage, jobd::cli::FlagHelp(flags).c_str());
    return 0;
  }
  if (command_line->version) {
    std::printf("%s\n", jobd::cli::VersionLine("jobd").c_str());
    return 0;
  }
  if (!command_line->args.empty()) {
    return Die("unexpected argument '" + command_line->args[0] + "': jobd takes only flags (--help lists them)");
  }
  absl::StatusOr<jobd::agent::LogOptions> log = jobd::agent::LogOptionsFromFlags();
  if (!log.ok()) return Die(log.status().message());
  jobd::agent::InstallLogging(*log);

  absl::StatusOr<jobd::agent::AgentConfig> config = jobd::agent::ConfigFromFlags();
  if (!config.ok()) return Die(config.status().message());
  absl::StatusOr<std::string> run_dir = jobd::agent::PrepareRunDir(config->run_dir);
  if (!run_dir.ok()) return Die(run_dir.status().message());
  config->run_dir = *run_dir;
  spdlog::info("run dir {} (socket {}); jobd {} ({} build)", config->run_dir, config->socket_path(), jobd::kVersion,
               jobd::kBuildType);

  // Signals are taken by sigwait below, never by a random gRPC thread: block them before any
  // thread starts (workers get a clean mask in the launcher).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<jobd::agent::Agent>> agent = jobd::agent::Agent::Start(*config);
  if (!agent.ok()) {
    spdlog::critical("cannot start: {}", agent.status().ToString());
    return 1;
  }
  jobd::agent::Agent* raw = agent->get();
  // Ready for systemd once every worker has said hello: the socket listens before they start.
  jobd::agent::SystemdNotifier systemd([raw, workers = config->workers] {
    return raw->admin().Health().workers_ready() >= workers;
  });
  sigdelset(&signals, SIGCHLD);  // reaped by the agent's housekeeping; only blocked, never awaited
  int sig = 0;
  sigwait(&signals, &sig);
  systemd.Stopping();
  spdlog::info("{}: draining for up to {} (send it again to stop at once)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(config->grace));
  std::thread second([raw, signals]() mutable {
    int again = 0;
    sigwait(&signals, &again);
    spdlog::warn("second signal: stopping the workers now");
    raw->Hurry();
  });
  second.detach();  // the process exits when Shutdown returns, whether or not it fired
  (*agent)->Shutdown(config->grace);
  return 0;
}
