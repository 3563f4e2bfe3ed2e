// jobd: the per-host job agent. Flags are in flags.cc; the work is in Agent.
#include <signal.h>

#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "agent/agent.h"
#include "agent/agent_config.h"
#include "agent/run_dir.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("jobd: a per-host job agent with a preforked worker pool");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ jobd: %v");
  if (const char* level = std::getenv("JOBD_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(level));

  absl::StatusOr<jobd::agent::AgentConfig> config = jobd::agent::ConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "jobd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::string> run_dir = jobd::agent::PrepareRunDir(config->run_dir);
  if (!run_dir.ok()) {
    std::fprintf(stderr, "jobd: %s\n", std::string(run_dir.status().message()).c_str());
    return 2;
  }
  config->run_dir = *run_dir;
  spdlog::info("run dir {} (socket {}, arena {})", config->run_dir, config->socket_path(), config->arena_path());

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
  sigdelset(&signals, SIGCHLD);  // reaped by the agent's housekeeping; only blocked, never awaited
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("{}: draining for up to {}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(config->grace));
  (*agent)->Shutdown(config->grace);
  return 0;
}
