#include "agent/jobctl/tables.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "shm/size_classes.h"

namespace jobd::jobctl {
namespace {

std::string Micros(double us) {
  if (us <= 0) return "-";
  if (us < 1000) return absl::StrFormat("%.0fus", us);
  if (us < 1e6) return absl::StrFormat("%.1fms", us / 1e3);
  return absl::StrFormat("%.2fs", us / 1e6);
}

uint64_t Outcome(const v1::TypeStats& t, const std::string& name) {
  auto it = t.outcomes().find(name);
  return it == t.outcomes().end() ? 0 : it->second;
}

}  // namespace

std::string FormatStats(const v1::StatsReply& s) {
  std::string out = absl::StrFormat(
      "queue %d   live jobs %d   sessions %d   oldest queued %.3fs   uptime %ds%s\n\n", s.queue_depth(),
      s.live_jobs(), s.sessions(), s.oldest_queued_age_s(), s.uptime_s(), s.draining() ? "   DRAINING" : "");
  absl::StrAppend(&out, absl::StrFormat("%-16s %9s %9s %7s %7s %7s %7s %7s %9s %9s %9s %9s\n", "TYPE", "SUBMITTED",
                                        "OK", "ERRORS", "TIMEOUT", "DIED", "CANCEL", "QUEUED", "WAIT p50",
                                        "WAIT p99", "RUN p50", "RUN p99"));
  for (const v1::TypeStats& t : s.types()) {
    const uint64_t ok = Outcome(t, "ok");
    uint64_t ended = 0;
    for (const auto& [name, n] : t.outcomes()) ended += n;
    absl::StrAppend(&out, absl::StrFormat("%-16s %9d %9d %7d %7d %7d %7d %7d %9s %9s %9s %9s\n", t.type(),
                                          t.submitted(), ok, Outcome(t, "handler_error") + Outcome(t, "rejected"),
                                          Outcome(t, "deadline_exceeded"), Outcome(t, "worker_died"),
                                          Outcome(t, "cancelled"), t.queued(), Micros(t.queue_wait().p50_us()),
                                          Micros(t.queue_wait().p99_us()), Micros(t.run_time().p50_us()),
                                          Micros(t.run_time().p99_us())));
    (void)ended;
  }
  if (s.types().empty()) absl::StrAppend(&out, "(no jobs yet)\n");
  return out;
}

std::string FormatSlabs(const v1::StatsReply& s) {
  std::string out = absl::StrFormat("arena %s, %s\n", s.arena_path(), shm::HumanBytes(s.arena_bytes()));
  absl::StrAppend(&out, absl::StrFormat("%-9s %7s %7s %-32s %10s %9s\n", "CLASS", "IN USE", "TOTAL", "", "BYTES",
                                        "FAILURES"));
  for (const v1::SlabClassStats& c : s.slabs()) {
    const int width = 30;
    const int share = c.total() == 0 ? 0
                                     : std::max(c.in_use() > 0 ? 1 : 0,
                                                static_cast<int>(width * static_cast<double>(c.in_use()) / c.total()));
    // Clamped: a reply with in_use > total must not ask for a negative run of dots (g++ 12 also
    // warned -Wrestrict about the unclamped "[" + string + ... chain).
    const int filled = std::clamp(share, 0, width);
    const std::string bar = absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "]");
    absl::StrAppend(&out, absl::StrFormat("%-9s %7d %7d %-32s %10s %9d\n", shm::HumanBytes(c.slab_size()),
                                          c.in_use(), c.total(), bar, shm::HumanBytes(c.bytes_in_use()),
                                          c.acquire_failures()));
  }
  return out;
}

std::string FormatWorkers(const v1::StatsReply& s) {
  std::string out = absl::StrFormat("%-6s %-8s %-9s %20s %10s %9s %10s\n", "WORKER", "PID", "STATE", "JOB",
                                    "JOBS DONE", "RESTARTS", "RSS");
  for (const v1::WorkerStats& w : s.workers()) {
    absl::StrAppend(&out, absl::StrFormat("%-6d %-8d %-9s %20s %10d %9d %10s\n", w.index(), w.pid(), w.state(),
                                          w.job_id() == 0 ? "-" : absl::StrCat(w.job_id()), w.jobs_done(),
                                          w.restarts(), shm::HumanBytes(w.rss_bytes())));
  }
  return out;
}

std::string FormatHealth(const v1::HealthReply& h) {
  return absl::StrFormat("%s: %d of %d workers ready%s (jobd %s)\n", h.serving() ? "SERVING" : "NOT SERVING",
                         h.workers_ready(), h.workers_configured(), h.draining() ? ", draining" : "", h.version());
}

}  // namespace jobd::jobctl
