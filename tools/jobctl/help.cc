#include "tools/jobctl/help.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace jobd::jobctl {
namespace {

struct Command {
  const char* name;
  const char* synopsis;  // after "jobctl "
  const char* summary;
  const char* details;  // its flags, output and exit status
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"health", "health [--json]", "is the agent serving? (workers ready, draining, version)",
       "Prints \"SERVING: 2 of 2 workers ready (jobd 0.1.0)\".\n"
       "--json: {\"health\":{\"serving\",\"workers_ready\",\"workers_configured\",\"draining\",\"version\"}}\n"
       "Exit status: 0 serving, 1 not serving or no agent."},
      {"stats", "stats [--json]", "per-type table: counts by outcome, queue wait and run time p50/p99",
       "--json: {\"types\":[{\"type\",\"submitted\",\"queued\",\"outcomes\":{...},\"queue_wait\":{...},\n"
       "         \"run_time\":{\"count\",\"mean_us\",\"p50_us\",\"p99_us\"}}],\n"
       "         \"queue\":{\"depth\",\"live_jobs\",\"oldest_queued_age_s\",\"draining\"},\"sessions\",\"uptime_s\"}"},
      {"slabs", "slabs [--json]", "arena occupancy per size class, as bars",
       "--json: {\"arena\":{\"path\",\"bytes\"},\"classes\":[{\"slab_size\",\"total\",\"in_use\",\"bytes_in_use\",\n"
       "         \"acquire_failures\"}]}"},
      {"workers", "workers [--json]", "one line per worker: slot, pid, state, current job, jobs done, restarts, RSS",
       "WORKER is the worker's slot, the number jobd's log lines use (\"worker 1 ready\").\n"
       "--json: {\"workers\":[{\"worker\",\"pid\",\"state\",\"job_id\",\"next_job_id\",\"jobs_behind\",\"jobs_done\",\"restarts\",\"rss_bytes\"}]}"},
      {"sessions", "sessions [--json]", "one line per client session: uid and pid (from the kernel), slabs and memory held",
       "--json: {\"memory_budget\",\"committed_bytes\",\"sessions\":[{\"session\",\"name\",\"pid\",\"uid\",\"gid\",\n"
       "         \"slabs_in_use\",\"bytes_in_use\",\"committed_bytes\",\"segment_bytes\",\"live_jobs\"}]}"},
      {"top", "top [--interval=1s] [--iterations=N]", "stats, workers and slabs, refreshed, fitted to the terminal",
       "Keys: q quits (so do Ctrl-C and SIGTERM); the terminal is restored on exit and the screen is\n"
       "redrawn when the terminal is resized. --iterations=N stops after N frames (0: until q).\n"
       "--json is refused: top is for people; use `jobctl stats --json` in a loop."},
      {"status", "status JOB_ID [--json]", "where a job is: queued, running, done or failed (with its outcome)",
       "--json: {\"job\":{\"id\",\"type\",\"state\",\"outcome\",\"attempt\"}}\n"
       "Exit status: 0 found, 1 unknown job or no agent."},
      {"drain", "drain [--wait] [--interval=1s] [--json]", "refuse new jobs; with --wait, follow until done",
       "Asks the agent to refuse new jobs; jobs already queued or running go on (jobd keeps\n"
       "running: stop it with SIGTERM, which drains the same way and then exits). Prints what is\n"
       "left: \"draining: 0 queued, 1 running, 1 of 2 workers busy\" (or \"drained: ...\").\n"
       "--wait: prints progress (queued and running jobs, busy workers) every --interval until no job\n"
       "is left (\"drained\") or the agent has exited (\"exited\", e.g. after SIGTERM), then exits 0.\n"
       "--json: {\"drain\":{\"state\",\"queued\",\"running\",\"workers\",\"workers_busy\"}}, one line per update;\n"
       "state is draining, drained or exited."},
      {"submit", "submit TYPE [--data=TEXT | --file=PATH | stdin] [--timeout=10s] [--json]",
       "run one job and print its response",
       "The payload is --data, else the contents of --file, else stdin. Prints the response on\n"
       "stdout and \"job ID ok: N bytes in T\" on stderr.\n"
       "--json: {\"result\":{\"job_id\",\"type\",\"ok\",\"outcome\",\"bytes\",\"response\" | \"message\",\"elapsed_us\"}}\n"
       "Exit status: 0 ok, 1 the job failed or could not start."},
      {"help", "help [COMMAND]", "this text, or the help of one command", ""},
  };
  return *commands;
}

constexpr char kCommonFlags[] =
    "Flags (any command; --flag=value or --flag value, dashes or underscores):\n"
    "  --socket=PATH      the agent's socket (default: $JOBD_SOCKET, else /run/jobd/jobd.sock)\n"
    "  --json             print JSON (one object per line) instead of a table\n"
    "  --timeout=10s      submit: the job's timeout; others: the RPC deadline\n"
    "  --help, -h         help;  --version: version and build type\n";

}  // namespace

std::string Usage() {
  std::string out = "jobctl: the operator's view of a jobd agent, over its admin RPCs.\n\nUsage:\n";
  for (const Command& c : Commands()) {
    absl::StrAppend(&out, "  jobctl ", c.synopsis, "\n      ", c.summary, "\n");
  }
  absl::StrAppend(&out, "\n", kCommonFlags,
                  "\n`jobctl help COMMAND` or `jobctl COMMAND --help` for more.\n"
                  "Exit status: 0 ok, 1 the agent said no (or is not there), 2 bad usage.\n");
  return out;
}

std::optional<std::string> CommandHelp(absl::string_view command) {
  for (const Command& c : Commands()) {
    if (command != c.name) continue;
    std::string out = absl::StrCat("Usage: jobctl ", c.synopsis, "\n\n", c.summary, ".\n");
    if (*c.details != '\0') absl::StrAppend(&out, "\n", c.details, "\n");
    absl::StrAppend(&out, "\n", kCommonFlags);
    return out;
  }
  return std::nullopt;
}

std::string CommandNames() {
  std::string out;
  for (const Command& c : Commands()) absl::StrAppend(&out, out.empty() ? "" : ", ", c.name);
  return out;
}

}  // namespace jobd::jobctl
