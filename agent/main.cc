// jobd: the per-host job agent. Flags are in flags.cc; the work is in Agent.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "agent/agent.h"
#include "agent/agent_config.h"
#include "agent/run_dir.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

// Abseil flag names cannot hold dashes; operators type --run-dir as often as --run_dir.
std::vector<std::string> DashesToUnderscores(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a == "--") break;
    if (a.rfind("--", 0) != 0) continue;
    const size_t end = std::min(a.find('='), a.size());
    for (size_t k = 2; k < end; ++k) {
      if (a[k] == '-') a[k] = '_';
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("jobd: a per-host job agent with a preforked worker pool");
  std::vector<std::string> args = DashesToUnderscores(argc, argv);
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(cargs.size()), cargs.data());
  spdlog::set_default_logger(spdlog::stderr_color_mt("jobd"));  // stdout is for programs, logs go to stderr
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
  spdlog::info("run dir {} (socket {})", config->run_dir, config->socket_path());

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
  spdlog::info("{}: draining for up to {} (send it again to stop at once)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(config->grace));
  jobd::agent::Agent* raw = agent->get();
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
