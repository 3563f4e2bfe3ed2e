#include "tools/jobctl/tables.h"

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

std::string FormatSummary(const v1::StatsReply& s, size_t width) {
  return Fit(absl::StrFormat("queue %d   live jobs %d   sessions %d   oldest queued %.3fs   uptime %ds%s",
                             s.queue_depth(), s.live_jobs(), s.sessions(), s.oldest_queued_age_s(), s.uptime_s(),
                             s.draining() ? "   DRAINING" : ""),
             width) +
         "\n";
}

std::string FormatTypes(const v1::StatsReply& s, size_t width, size_t max_lines) {
  // At 80 columns the p50s, cancellations, timeouts and deaths go first, in that order.
  Table table({{"TYPE", 16, true, 0},
               {"SUBMITTED", 9, false, 0},
               {"OK", 9, false, 0},
               {"ERRORS", 7, false, 0},
               {"TIMEOUT", 7, false, 3},
               {"DIED", 7, false, 2},
               {"CANCEL", 7, false, 4},
               {"QUEUED", 7, false, 0},
               {"WAIT p50", 9, false, 5},
               {"WAIT p99", 9, false, 1},
               {"RUN p50", 9, false, 5},
               {"RUN p99", 9, false, 1}});
  for (const v1::TypeStats& t : s.types()) {
    table.AddRow({t.type(), absl::StrCat(t.submitted()), absl::StrCat(Outcome(t, "ok")),
                  absl::StrCat(Outcome(t, "handler_error") + Outcome(t, "rejected")),
                  absl::StrCat(Outcome(t, "deadline_exceeded")), absl::StrCat(Outcome(t, "worker_died")),
                  absl::StrCat(Outcome(t, "cancelled")), absl::StrCat(t.queued()), Micros(t.queue_wait().p50_us()),
                  Micros(t.queue_wait().p99_us()), Micros(t.run_time().p50_us()), Micros(t.run_time().p99_us())});
  }
  std::string out = table.Render(width, max_lines);
  if (s.types().empty() && max_lines > 1) absl::StrAppend(&out, "(no jobs yet)\n");
  return out;
}

std::string FormatStats(const v1::StatsReply& s) { return FormatSummary(s) + "\n" + FormatTypes(s); }

std::string FormatSlabs(const v1::StatsReply& s, size_t width, size_t max_lines) {
  if (max_lines == 0) return "";
  std::string out = Fit(absl::StrFormat("arena %s, %s", s.arena_path(), shm::HumanBytes(s.arena_bytes())), width) + "\n";
  constexpr size_t kBar = 30;
  Table table({{"CLASS", 9, true, 0},
               {"IN USE", 7, false, 0},
               {"TOTAL", 7, false, 0},
               {"", kBar + 2, true, 2},
               {"BYTES", 10, false, 0},
               {"FAILURES", 9, false, 1}});
  for (const v1::SlabClassStats& c : s.slabs()) {
    const size_t share =
        c.total() == 0 ? 0
                       : std::max<size_t>(c.in_use() > 0 ? 1 : 0,
                                          static_cast<size_t>(kBar * static_cast<double>(c.in_use()) / c.total()));
    // Clamped: a reply with in_use > total must not ask for a negative run of dots (g++ 12 also
    // warned -Wrestrict about the unclamped "[" + string + ... chain).
    const size_t filled = std::min<size_t>(share, kBar);
    table.AddRow({shm::HumanBytes(c.slab_size()), absl::StrCat(c.in_use()), absl::StrCat(c.total()),
                  absl::StrCat("[", std::string(filled, '#'), std::string(kBar - filled, '.'), "]"),
                  shm::HumanBytes(c.bytes_in_use()), absl::StrCat(c.acquire_failures())});
  }
  return out + table.Render(width, max_lines - 1);
}

std::string FormatSessions(const v1::StatsReply& s, size_t width, size_t max_lines) {
  std::string out = Fit(absl::StrFormat("shared memory: %s committed of %s (--memory-budget)",
                                        shm::HumanBytes(s.committed_bytes()), shm::HumanBytes(s.memory_budget())),
                        width) + "\n";
  Table table({{"SESSION", 7, true, 0},
               {"NAME", 16, true, 3},
               {"PID", 8, true, 0},
               {"UID", 6, true, 0},
               {"SLABS", 6, false, 0},
               {"HELD", 10, false, 0},
               {"COMMITTED", 10, false, 1},
               {"JOBS", 6, false, 2}});
  for (const v1::SessionStats& x : s.session_list()) {
    table.AddRow({absl::StrCat(x.id()), x.name(), absl::StrCat(x.pid()), absl::StrCat(x.uid()),
                  absl::StrCat(x.slabs_in_use()), shm::HumanBytes(x.bytes_in_use()),
                  shm::HumanBytes(x.committed_bytes()), absl::StrCat(x.live_jobs())});
  }
  if (s.session_list().empty()) return out + "(no sessions)\n";
  return out + table.Render(width, max_lines == kUnlimited ? kUnlimited : max_lines - 1);
}

std::string FormatWorkers(const v1::StatsReply& s, size_t width, size_t max_lines) {
  Table table({{"WORKER", 6, true, 0},
               {"PID", 8, true, 0},
               {"STATE", 9, true, 0},
               {"JOB", 20, false, 0},
               {"NEXT", 20, false, 3},
               {"JOBS DONE", 10, false, 0},
               {"RESTARTS", 9, false, 1},
               {"RSS", 10, false, 2}});
  for (const v1::WorkerStats& w : s.workers()) {
    table.AddRow({absl::StrCat(w.index()), absl::StrCat(w.pid()), w.state(),
                  w.job_id() == 0 ? "-" : absl::StrCat(w.job_id()),
                  w.next_job_id() == 0    ? "-"
                  : w.jobs_behind() > 1 ? absl::StrCat(w.next_job_id(), " +", w.jobs_behind() - 1)
                                        : absl::StrCat(w.next_job_id()),
                  absl::StrCat(w.jobs_done()),
                  absl::StrCat(w.restarts()), shm::HumanBytes(w.rss_bytes())});
  }
  return table.Render(width, max_lines);
}

std::string FormatHealth(const v1::HealthReply& h) {
  return absl::StrFormat("%s: %d of %d workers ready%s (jobd %s)\n", h.serving() ? "SERVING" : "NOT SERVING",
                         h.workers_ready(), h.workers_configured(), h.draining() ? ", draining" : "", h.version());
}

}  // namespace jobd::jobctl
