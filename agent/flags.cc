#include <grp.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/agent_config.h"
#include "shm/spin_policy.h"
#include "shm/status_macros.h"

ABSL_FLAG(std::string, run_dir, "",
          "directory for jobd.sock and the arena (empty: $JOBD_RUN_DIR, else /run/jobd, else a temp dir)");
ABSL_FLAG(int32_t, workers, 0, "worker processes (0: the number of cores)");
ABSL_FLAG(std::string, worker_cmd, "",
          "worker command line, split on spaces (empty: jobd-testworker beside jobd)");
ABSL_FLAG(std::string, size_classes, "",
          "slab classes as size:count,... e.g. 4K:1024,64K:256,1M:8 (empty: scaled to --workers)");
ABSL_FLAG(absl::Duration, default_timeout, absl::Seconds(30), "timeout of jobs that give none");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(2),
          "after a deadline or cancel, how long a running job may go on before its worker is killed; "
          "also the drain period on SIGTERM");
ABSL_FLAG(int64_t, max_sessions, 4096, "open client sessions (each has its own shared-memory segment)");
ABSL_FLAG(std::string, session_memory, "0",
          "shared memory one session may hold, e.g. 64M: its segment's slab classes are cut to fit "
          "(0: every class, so any payload up to the largest fits)");
ABSL_FLAG(std::string, memory_budget, "0",
          "shared memory all sessions may commit together, e.g. 2G (0: 16 x one session's segment)");
ABSL_FLAG(std::string, peer_backlog, "1M", "messages kept for a peer that does not read before it is cut off");
ABSL_FLAG(absl::Duration, peer_stall, absl::Seconds(10), "how long a peer may not read before it is cut off");
ABSL_FLAG(std::string, allow, "",
          "who may submit what: uid:N=type,type;gid:N=* (default: everyone who can open the socket)");
ABSL_FLAG(bool, leases, true,
          "lease idle workers to sessions so their jobs go straight to the worker (two hops); false: every job "
          "through the agent");
ABSL_FLAG(absl::Duration, lease_idle, absl::Seconds(2), "a lease with no job for this long goes back to the pool");
ABSL_FLAG(bool, dispatch_ahead, true,
          "when no worker is idle, also give queued jobs to a busy worker, which starts each the moment the one "
          "before it ends (only for types whose recent run time is at most --dispatch_ahead_max_run)");
ABSL_FLAG(absl::Duration, dispatch_ahead_max_run, absl::Milliseconds(1),
          "dispatch ahead only behind a job whose type's recent run time is at most this, and only while the "
          "recent run times of the jobs behind it add up to at most this: a later job of a higher priority "
          "waits behind at most this much short work per worker, besides the current job");
ABSL_FLAG(int64_t, dispatch_ahead_depth, 32,
          "at most this many jobs behind a busy worker's current one (1 to 64)");
ABSL_FLAG(int64_t, spin_us, 50,
          "microseconds the agent and its workers spin for the next message before sleeping (a worker up to ten "
          "times that while its yields hand the CPU to other processes) (0: never spin)");
ABSL_FLAG(int64_t, client_spin_us, 200,
          "microseconds a client spins for its answer before sleeping, while its recent answers came that soon; up "
          "to ten times that while its yields hand the CPU to other processes (0: never spin)");
ABSL_FLAG(int64_t, max_queue, 10000, "queued jobs, all sessions");
ABSL_FLAG(int64_t, max_queued_per_session, 0, "queued jobs per session (0: no quota)");
ABSL_FLAG(int64_t, max_jobs_per_uid, 0,
          "live jobs (queued or running) of all sessions of one uid, from SO_PEERCRED; a worker leased to one of "
          "them counts as a job (0: no quota)");
ABSL_FLAG(int64_t, max_slabs_per_session, 0,
          "slabs a session may hold when it submits (0: no quota)");
ABSL_FLAG(int64_t, worker_max_jobs, 0, "recycle a worker after this many jobs (0: never)");
ABSL_FLAG(std::string, worker_max_rss, "0",
          "recycle a worker whose resident memory passes this after its job (e.g. 512M; 0: never)");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "host:port for /metrics and /healthz (port 0: any free port, logged; empty: off)");
ABSL_FLAG(std::string, socket_group, "", "group that may use jobd's sockets (empty: the agent's own group)");
ABSL_FLAG(std::string, log_format, "text", "log lines on stderr: text, or json (one object per line)");
ABSL_FLAG(std::string, log_level, "",
          "trace, debug, info, warn, error, critical or off (empty: $JOBD_LOG_LEVEL, else info)");

namespace jobd::agent {

absl::StatusOr<uint64_t> ParseBytes(const std::string& text) {
  std::string digits = text;
  uint64_t mult = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K': case 'k': mult = 1ull << 10; digits.pop_back(); break;
      case 'M': case 'm': mult = 1ull << 20; digits.pop_back(); break;
      case 'G': case 'g': mult = 1ull << 30; digits.pop_back(); break;
      default: break;
    }
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a byte count (e.g. 512M, 2G, 1048576)"));
  }
  return n * mult;
}

absl::StatusOr<std::vector<AgentConfig::AllowRule>> ParseAllowRules(const std::string& text) {
  std::vector<AgentConfig::AllowRule> rules;
  for (absl::string_view item : absl::StrSplit(text, ';', absl::SkipWhitespace())) {
    const std::string rule(item);
    const std::vector<std::string> kv = absl::StrSplit(rule, absl::MaxSplits('=', 1));
    const std::vector<std::string> who = absl::StrSplit(kv[0], absl::MaxSplits(':', 1));
    AgentConfig::AllowRule r;
    if (kv.size() != 2 || who.size() != 2 || (who[0] != "uid" && who[0] != "gid") ||
        !absl::SimpleAtoi(who[1], &r.id) || kv[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule '", rule, "': expected uid:N=TYPES or gid:N=TYPES, TYPES a comma list or *"));
    }
    r.gid = who[0] == "gid";
    if (kv[1] != "*") r.types = absl::StrSplit(kv[1], ',', absl::SkipEmpty());
    rules.push_back(std::move(r));
  }
  return rules;
}

namespace {

std::string ResolveRunDir(std::string flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("JOBD_RUN_DIR"); env != nullptr && *env != '\0') return env;
  return "";  // decided when the agent starts: /run/jobd if usable, else a temp dir
}

std::string DefaultWorkerCommand() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "jobd-testworker";
  self[n] = '\0';
  return (std::filesystem::path(self).parent_path() / "jobd-testworker").string();
}

}  // namespace

absl::StatusOr<LogOptions> LogOptionsFromFlags() {
  return ParseLogOptions(absl::GetFlag(FLAGS_log_format), absl::GetFlag(FLAGS_log_level),
                         std::getenv("JOBD_LOG_LEVEL"));
}

absl::StatusOr<AgentConfig> ConfigFromFlags() {
  AgentConfig c;
  c.run_dir = ResolveRunDir(absl::GetFlag(FLAGS_run_dir));

  const int32_t workers = absl::GetFlag(FLAGS_workers);
  if (workers < 0 || workers > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("--workers=", workers, ": allowed 0 (cores) to 1024"));
  }
  c.workers = workers == 0 ? std::max(1u, std::thread::hardware_concurrency()) : workers;

  std::string cmd = absl::GetFlag(FLAGS_worker_cmd);
  if (cmd.empty()) cmd = DefaultWorkerCommand();
  c.worker_argv = absl::StrSplit(cmd, ' ', absl::SkipEmpty());
  if (c.worker_argv.empty()) return absl::InvalidArgumentError("--worker_cmd is empty");
  if (access(c.worker_argv[0].c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--worker_cmd: '", c.worker_argv[0], "' is not an executable file (give a path)"));
  }

  const std::string classes = absl::GetFlag(FLAGS_size_classes);
  if (classes.empty()) {
    c.size_classes = shm::DefaultSizeClasses(static_cast<int>(c.workers));
  } else {
    auto parsed = shm::ParseSizeClasses(classes);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--size_classes=", classes, ": ", parsed.status().message()));
    }
    c.size_classes = *parsed;
  }

  c.default_timeout = absl::GetFlag(FLAGS_default_timeout);
  if (c.default_timeout <= absl::ZeroDuration() || c.default_timeout > absl::Hours(24)) {
    return absl::InvalidArgumentError(absl::StrCat("--default_timeout=", absl::FormatDuration(c.default_timeout),
                                                   ": allowed more than 0 and at most 24h"));
  }
  c.grace = absl::GetFlag(FLAGS_grace);
  if (c.grace < absl::ZeroDuration() || c.grace > absl::Hours(1)) {
    return absl::InvalidArgumentError(absl::StrCat("--grace=", absl::FormatDuration(c.grace), ": allowed 0 to 1h"));
  }
  const int64_t max_queue = absl::GetFlag(FLAGS_max_queue);
  if (max_queue < 1 || max_queue > 10'000'000) {
    return absl::InvalidArgumentError(absl::StrCat("--max_queue=", max_queue, ": allowed 1 to 10000000"));
  }
  c.max_queue = static_cast<size_t>(max_queue);
  const int64_t per_session = absl::GetFlag(FLAGS_max_queued_per_session);
  if (per_session < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--max_queued_per_session=", per_session, ": must be >= 0"));
  }
  c.max_queued_per_session = static_cast<size_t>(per_session);
  const int64_t per_uid = absl::GetFlag(FLAGS_max_jobs_per_uid);
  if (per_uid < 0 || per_uid > 10'000'000) {
    return absl::InvalidArgumentError(absl::StrCat("--max_jobs_per_uid=", per_uid, ": allowed 0 (no quota) to 10000000"));
  }
  c.max_jobs_per_uid = static_cast<size_t>(per_uid);
  const int64_t slabs = absl::GetFlag(FLAGS_max_slabs_per_session);
  if (slabs < 0 || slabs > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("--max_slabs_per_session=", slabs, ": allowed 0 to 4294967295"));
  }
  c.max_slabs_per_session = static_cast<uint32_t>(slabs);
  const int64_t max_jobs = absl::GetFlag(FLAGS_worker_max_jobs);
  if (max_jobs < 0 || max_jobs > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("--worker_max_jobs=", max_jobs, ": allowed 0 to 4294967295"));
  }
  c.worker_max_jobs = static_cast<uint32_t>(max_jobs);
  auto rss = ParseBytes(absl::GetFlag(FLAGS_worker_max_rss));
  if (!rss.ok()) return absl::InvalidArgumentError(absl::StrCat("--worker_max_rss: ", rss.status().message()));
  c.worker_max_rss = *rss;
  c.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  const int64_t sessions = absl::GetFlag(FLAGS_max_sessions);
  if (sessions < 1 || sessions > 65536) {
    return absl::InvalidArgumentError(absl::StrCat("--max_sessions=", sessions, ": allowed 1 to 65536"));
  }
  c.max_sessions = static_cast<uint32_t>(sessions);
  auto budget = ParseBytes(absl::GetFlag(FLAGS_memory_budget));
  if (!budget.ok()) return absl::InvalidArgumentError(absl::StrCat("--memory_budget: ", budget.status().message()));
  c.memory_budget = *budget;
  auto session_memory = ParseBytes(absl::GetFlag(FLAGS_session_memory));
  if (!session_memory.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--session_memory: ", session_memory.status().message()));
  }
  c.session_classes = c.size_classes;
  if (*session_memory > 0) {
    auto fit = shm::FitSizeClasses(c.size_classes, *session_memory);
    if (!fit.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--session_memory=", absl::GetFlag(FLAGS_session_memory), ": ",
                                                     fit.status().message()));
    }
    c.session_classes = *fit;
  }
  auto backlog = ParseBytes(absl::GetFlag(FLAGS_peer_backlog));
  if (!backlog.ok() || *backlog < 4096 || *backlog > (1ull << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--peer_backlog=", absl::GetFlag(FLAGS_peer_backlog), ": allowed 4K to 1G"));
  }
  c.peer_backlog_bytes = *backlog;
  c.peer_stall = absl::GetFlag(FLAGS_peer_stall);
  if (c.peer_stall < absl::Milliseconds(100) || c.peer_stall > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--peer_stall=", absl::FormatDuration(c.peer_stall), ": allowed 100ms to 1h"));
  }
  auto allow = ParseAllowRules(absl::GetFlag(FLAGS_allow));
  if (!allow.ok()) return absl::InvalidArgumentError(absl::StrCat("--allow: ", allow.status().message()));
  c.allow = *allow;
  const int64_t max_spin_us = absl::ToInt64Microseconds(shm::kMaxSpinWindow);
  const int64_t spin_us = absl::GetFlag(FLAGS_spin_us);
  if (spin_us < 0 || spin_us > max_spin_us) {
    return absl::InvalidArgumentError(absl::StrCat("--spin_us=", spin_us, ": allowed 0 to ", max_spin_us));
  }
  c.spin = absl::Microseconds(spin_us);
  const int64_t client_spin_us = absl::GetFlag(FLAGS_client_spin_us);
  if (client_spin_us < 0 || client_spin_us > max_spin_us) {
    return absl::InvalidArgumentError(
        absl::StrCat("--client_spin_us=", client_spin_us, ": allowed 0 to ", max_spin_us));
  }
  c.client_spin = absl::Microseconds(client_spin_us);
  c.leases = absl::GetFlag(FLAGS_leases);
  c.lease_idle = absl::GetFlag(FLAGS_lease_idle);
  if (c.lease_idle < absl::Milliseconds(10) || c.lease_idle > absl::Hours(1)) {
    return absl::InvalidArgumentError(absl::StrCat("--lease_idle=", absl::FormatDuration(c.lease_idle),
                                                   ": allowed 10ms to 1h"));
  }
  c.dispatch_ahead = absl::GetFlag(FLAGS_dispatch_ahead);
  c.dispatch_ahead_max_run = absl::GetFlag(FLAGS_dispatch_ahead_max_run);
  if (c.dispatch_ahead_max_run < absl::ZeroDuration() || c.dispatch_ahead_max_run > absl::Seconds(10)) {
    return absl::InvalidArgumentError(absl::StrCat("--dispatch_ahead_max_run=",
                                                   absl::FormatDuration(c.dispatch_ahead_max_run),
                                                   ": allowed 0 to 10s"));
  }
  const int64_t depth = absl::GetFlag(FLAGS_dispatch_ahead_depth);
  if (depth < 1 || depth > 64) {
    return absl::InvalidArgumentError(absl::StrCat("--dispatch_ahead_depth=", depth, ": allowed 1 to 64"));
  }
  c.dispatch_ahead_depth = static_cast<uint32_t>(depth);

  const std::string group = absl::GetFlag(FLAGS_socket_group);
  if (!group.empty()) {
    struct group* g = getgrnam(group.c_str());
    if (g == nullptr) return absl::InvalidArgumentError(absl::StrCat("--socket_group: no group '", group, "'"));
    c.socket_group = g->gr_gid;
  }
  return c;
}

}  // namespace jobd::agent
