// jobctl: the operator's view of a jobd agent, over its admin RPCs. `jobctl --help` lists the
// commands; each is in commands.h. Exit status: 0 ok, 1 the agent said no, 2 bad usage.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "client/socket_path.h"
#include "tools/common/command_line.h"
#include "tools/jobctl/commands.h"
#include "tools/jobctl/help.h"

ABSL_FLAG(std::string, socket, "", "agent socket (empty: $JOBD_SOCKET, else /run/jobd/jobd.sock)");
ABSL_FLAG(bool, json, false, "print JSON instead of a table");
ABSL_FLAG(std::string, data, "", "submit: the payload");
ABSL_FLAG(std::string, file, "", "submit: read the payload from this file");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "submit: job timeout; admin calls: RPC deadline");
ABSL_FLAG(int, iterations, 0, "top: refresh this many times, then exit (0: until q)");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1), "top and drain --wait: time between refreshes");
ABSL_FLAG(bool, wait, false, "drain: follow the drain until no job is left or the agent exits");

namespace {

int Usage(const std::string& error) {
  std::cerr << "jobctl: " << error << "\n";
  return 2;
}

int Run(const std::vector<std::string>& args) {
  const std::string& cmd = args[0];
  jobd::jobctl::Options o{.socket = absl::GetFlag(FLAGS_socket),
                          .json = absl::GetFlag(FLAGS_json),
                          .timeout = absl::GetFlag(FLAGS_timeout),
                          .interval = absl::GetFlag(FLAGS_interval)};
  if (o.socket.empty()) o.socket = jobd::client::DefaultSocketPath();
  if (o.timeout <= absl::ZeroDuration()) return Usage("--timeout must be more than 0");
  if (o.interval <= absl::ZeroDuration()) return Usage("--interval must be more than 0");
  auto no_more_args = [&](size_t n) { return args.size() == n; };
  if (cmd == "health") {
    if (!no_more_args(1)) return Usage("health takes no arguments");
    return jobd::jobctl::Health(o);
  }
  if (cmd == "stats" || cmd == "slabs" || cmd == "workers" || cmd == "sessions") {
    if (!no_more_args(1)) return Usage(cmd + " takes no arguments");
    return jobd::jobctl::Stats(o, cmd);
  }
  if (cmd == "status") {
    uint64_t id = 0;
    if (!no_more_args(2) || !absl::SimpleAtoi(args[1], &id)) return Usage("usage: jobctl status JOB_ID (a number)");
    return jobd::jobctl::JobStatus(o, id);
  }
  if (cmd == "drain") {
    if (!no_more_args(1)) return Usage("drain takes no arguments");
    return jobd::jobctl::Drain(o, absl::GetFlag(FLAGS_wait));
  }
  if (cmd == "top") {
    if (!no_more_args(1)) return Usage("top takes no arguments");
    if (o.json) return Usage("top does not print JSON (it is a screen for people); use `jobctl stats --json`");
    const int iterations = absl::GetFlag(FLAGS_iterations);
    if (iterations < 0) return Usage("--iterations must be 0 (until q) or more");
    return jobd::jobctl::Top(o, iterations);
  }
  if (cmd == "submit") {
    if (!no_more_args(2)) return Usage("usage: jobctl submit TYPE [--data=TEXT | --file=PATH | stdin]");
    return jobd::jobctl::Submit(o, args[1], absl::GetFlag(FLAGS_data), absl::GetFlag(FLAGS_file));
  }
  return Usage("unknown command '" + cmd + "' (commands: " + jobd::jobctl::CommandNames() + "; jobctl --help)");
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<jobd::cli::CommandLine> cl = jobd::cli::Parse(argc, argv, jobd::cli::FlagsFrom({"tools/jobctl/"}));
  if (!cl.ok()) return Usage(std::string(cl.status().message()));
  if (cl->version) {
    std::cout << jobd::cli::VersionLine("jobctl") << "\n";
    return 0;
  }
  std::vector<std::string>& args = cl->args;
  // `jobctl help [CMD]` and `jobctl [CMD] --help` are the same thing.
  const bool help = cl->help || (!args.empty() && args[0] == "help");
  if (!args.empty() && args[0] == "help") args.erase(args.begin());
  if (help) {
    if (args.empty()) {
      std::cout << jobd::jobctl::Usage();
      return 0;
    }
    std::optional<std::string> text = jobd::jobctl::CommandHelp(args[0]);
    if (!text.has_value()) {
      return Usage("no command '" + args[0] + "' (commands: " + jobd::jobctl::CommandNames() + ")");
    }
    std::cout << *text;
    return 0;
  }
  if (args.empty()) {
    std::cerr << jobd::jobctl::Usage();
    return 2;
  }
  return Run(args);
}
