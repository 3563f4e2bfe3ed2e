#include "tests/bench/suite/report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace jobd::bench {
namespace {

const std::vector<std::string> kSystemOrder = {"jobd", "grpc", "redis", "gearman", "raw", "relay", "direct", "lanes"};
const std::vector<std::string> kModes = {"unpinned", "pinned"};

std::optional<double> Get(const Results& r, const std::string& mode, const std::string& system,
                          const std::string& id) {
  auto m = r.runs.find(mode);
  if (m == r.runs.end()) return std::nullopt;
  auto s = m->second.find(system);
  if (s == m->second.end() || !s->second.error.empty()) return std::nullopt;
  auto c = s->second.cases.find(id);
  if (c == s->second.cases.end() || !c->second.error.empty()) return std::nullopt;
  return c->second.value;
}

std::string Number(double v) {
  if (v >= 1000) return absl::StrFormat("%.0f", v);
  if (v >= 10) return absl::StrFormat("%.1f", v);
  return absl::StrFormat("%.2f", v);
}

std::string Cell(const Results& r, const std::string& system, const std::string& id) {
  std::vector<std::string> parts;
  for (const std::string& mode : kModes) {
    if (!r.runs.contains(mode)) continue;
    auto v = Get(r, mode, system, id);
    parts.push_back(v ? Number(*v) : "n/a");
  }
  return absl::StrJoin(parts, " / ");
}

// Best of the given peers: min for times, max for rates.
std::optional<double> BestPeer(const Results& r, const std::string& mode, const std::vector<std::string>& peers,
                               const std::string& id, bool lower_is_better) {
  std::optional<double> best;
  for (const std::string& p : peers) {
    auto v = Get(r, mode, p, id);
    if (!v) continue;
    if (!best || (lower_is_better ? *v < *best : *v > *best)) best = v;
  }
  return best;
}

struct Target {
  using Check = std::function<std::optional<std::pair<double, bool>>(const Results&, const std::string&)>;
  std::string what;
  std::string bound;
  Check check;  // nullopt: the cases it needs did not run
};

std::optional<std::pair<double, bool>> Ratio(std::optional<double> mine, std::optional<double> against,
                                             bool lower, double bound) {
  if (!mine || !against || *against == 0) return std::nullopt;
  const double x = *mine / *against;
  return std::make_pair(x, lower ? x <= bound : x >= bound);
}

// jobd's value of case `id` over the best of `against` (min when `lower`), and whether it is
// within `bound`.
Target::Check RatioToBest(std::string id, std::vector<std::string> against, bool lower, double bound) {
  return [=](const Results& r, const std::string& mode) {
    return Ratio(Get(r, mode, "jobd", id), BestPeer(r, mode, against, id, lower), lower, bound);
  };
}

// Issue 7: the hot loop against the queues.
std::vector<Target> HotTargets() {
  const std::vector<std::string> queues = {"redis", "gearman"};
  const std::vector<std::string> peers = {"grpc", "redis", "gearman"};
  return {
      {"noop p50 / best of Redis, Gearman", "≤ 0.5", RatioToBest("rtt_p50_us", queues, true, 0.5)},
      {"noop p99 / best of Redis, Gearman", "≤ 1", RatioToBest("rtt_p99_us", queues, true, 1.0)},
      {"jobs/s at 8 in flight / best of Redis, Gearman", "≥ 2", RatioToBest("jobs_s_8", queues, false, 2.0)},
      {"jobs/s at 64 in flight / best of Redis, Gearman", "≥ 3", RatioToBest("jobs_s_64", queues, false, 3.0)},
      {"16 MiB round trip / best peer (gRPC included)", "≤ 0.1", RatioToBest("rtt_16mib_ms", peers, true, 0.1)},
      {"16 MiB round trip / (16 MiB memcpy + noop p50)", "≤ 2",
       [](const Results& r, const std::string& mode) -> std::optional<std::pair<double, bool>> {
         auto mine = Get(r, mode, "jobd", "rtt_16mib_ms");
         auto p50 = Get(r, mode, "jobd", "rtt_p50_us");
         // The memcpy timed between jobd's own round trips; the floors table's (timed once, at
         // the start) only for results without it.
         std::optional<double> copy = Get(r, mode, "jobd", "memcpy_16mib_ms");
         if (!copy) {
           auto at_start = r.raw.memcpy_ms.find(16);
           if (at_start != r.raw.memcpy_ms.end()) copy = at_start->second;
         }
         if (!mine || !p50 || !copy) return std::nullopt;
         const double x = *mine / (*copy + *p50 / 1000);
         return std::make_pair(x, x <= 2.0);
       }},
      {"agent RSS at 64 in flight, outside the arena (MiB)", "< 50",
       [](const Results& r, const std::string& mode) -> std::optional<std::pair<double, bool>> {
         auto rss = Get(r, mode, "jobd", "server_rss_mib_64");
         if (!rss) return std::nullopt;
         return std::make_pair(*rss, *rss < 50);
       }},
  };
}

// CPU per paced job of every process of `system` together. A part a system does not have (the
// raw echo's server, gRPC's workers) counts 0; without the client's figure there is none.
std::optional<double> PacedCpuPerJob(const Results& r, const std::string& mode, const std::string& system,
                                     int rate) {
  const std::string at = absl::StrCat("paced_", rate, "_");
  auto client = Get(r, mode, system, at + "cpu_client_us");
  if (!client) return std::nullopt;
  return *client + Get(r, mode, system, at + "cpu_server_us").value_or(0) +
         Get(r, mode, system, at + "cpu_workers_us").value_or(0);
}

// Issue 12: the rates services run at, many client processes, idle; against the raw echo (the
// two-hop floor) and the peers of the same run.
std::vector<Target> RatesTargets() {
  const std::vector<std::string> peers = {"grpc", "redis", "gearman"};
  const std::vector<std::string> raw = {"raw"};
  std::vector<Target> out;
  for (int rate : {100, 1000}) {
    const std::string p50 = absl::StrCat("paced_", rate, "_p50_us"), p99 = absl::StrCat("paced_", rate, "_p99_us");
    out.push_back({absl::StrCat("paced ", rate, "/s p50 / raw echo's"), "≤ 1.5", RatioToBest(p50, raw, true, 1.5)});
    out.push_back({absl::StrCat("paced ", rate, "/s p50 / best of gRPC, Redis, Gearman"), "≤ 0.3",
                   RatioToBest(p50, peers, true, 0.3)});
    out.push_back({absl::StrCat("paced ", rate, "/s p99 / best of gRPC, Redis, Gearman"), "≤ 1",
                   RatioToBest(p99, peers, true, 1.0)});
  }
  for (int rate : {100, 1000, 10000}) {
    out.push_back({absl::StrCat("paced ", rate, "/s CPU per job, all processes / lowest of the peers'"), "≤ 1",
                   [rate, peers](const Results& r, const std::string& mode) {
                     std::optional<double> lowest;
                     for (const std::string& p : peers) {
                       auto v = PacedCpuPerJob(r, mode, p, rate);
                       if (v && (!lowest || *v < *lowest)) lowest = v;
                     }
                     return Ratio(PacedCpuPerJob(r, mode, "jobd", rate), lowest, true, 1.0);
                   }});
  }
  out.push_back({"idle: agent + workers, % of one CPU", "< 0.1",
                 [](const Results& r, const std::string& mode) -> std::optional<std::pair<double, bool>> {
                   auto server = Get(r, mode, "jobd", "idle_cpu_server_us_s");
                   auto workers = Get(r, mode, "jobd", "idle_cpu_workers_us_s");
                   if (!server || !workers) return std::nullopt;
                   const double percent = (*server + *workers) / 1e4;
                   return std::make_pair(percent, percent < 0.1);
                 }});
  out.push_back({"hot loop p50 / the lower ping-pong floor", "≤ 2",
                 [](const Results& r, const std::string& mode) -> std::optional<std::pair<double, bool>> {
                   const double floor = std::min(r.raw.pingpong_same_cpu.p50_us, r.raw.pingpong_two_cpus.p50_us);
                   return Ratio(Get(r, mode, "jobd", "rtt_p50_us"), floor, true, 2.0);
                 }});
  for (int n : {8, 64}) {
    out.push_back({absl::StrCat(n, " client processes: jobs/s / raw echo's"), "≥ 1",
                   RatioToBest(absl::StrCat("sessions_", n, "_jobs_s"), raw, false, 1.0)});
  }
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string DescribeMachine() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  return absl::StrCat(sysconf(_SC_NPROCESSORS_ONLN), " CPUs (", cpu, "), Linux ", u.release, ", ",
                      absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()));
}

namespace {

// "| case | jobd | gRPC unary | ... |" and one row per case, then why cells are n/a: each
// distinct reason once per system, with the modes and the first case it hit.
std::string Table(const Results& r, const std::vector<std::string>& systems, const std::vector<CaseInfo>& cases) {
  std::string out = "| case |";
  for (const std::string& s : systems) {
    std::string name = s;
    for (const auto& [mode, runs] : r.runs) {
      auto it = runs.find(s);
      if (it != runs.end() && !it->second.name.empty()) name = it->second.name;
    }
    absl::StrAppend(&out, " ", name, " |");
  }
  absl::StrAppend(&out, "\n|---|");
  for (size_t i = 0; i < systems.size(); ++i) absl::StrAppend(&out, "---:|");
  absl::StrAppend(&out, "\n");
  for (const CaseInfo& c : cases) {
    absl::StrAppend(&out, "| ", c.label, " |");
    for (const std::string& s : systems) absl::StrAppend(&out, " ", Cell(r, s, c.id), " |");
    absl::StrAppend(&out, "\n");
  }
  struct Note {
    std::string first_case;
    std::vector<std::string> modes;
    std::set<std::string> cases;
  };
  std::vector<std::pair<std::string, std::string>> order;  // (system, reason), first seen first
  std::map<std::pair<std::string, std::string>, Note> notes;
  for (const std::string& s : systems) {
    for (const std::string& mode : kModes) {
      auto runs = r.runs.find(mode);
      if (runs == r.runs.end()) continue;
      auto run = runs->second.find(s);
      if (run == runs->second.end()) continue;
      std::vector<std::pair<std::string, std::string>> reasons;
      if (!run->second.error.empty()) reasons.push_back({"", absl::StrCat("did not run: ", run->second.error)});
      for (const CaseInfo& c : cases) {
        auto v = run->second.cases.find(c.id);
        if (v != run->second.cases.end() && !v->second.error.empty()) reasons.push_back({c.id, v->second.error});
      }
      for (const auto& [case_id, why] : reasons) {
        auto [it, fresh] = notes.try_emplace({s, why});
        if (fresh) order.push_back({s, why});
        Note& n = it->second;
        if (n.first_case.empty()) n.first_case = case_id;
        if (std::find(n.modes.begin(), n.modes.end(), mode) == n.modes.end()) n.modes.push_back(mode);
        if (!case_id.empty()) n.cases.insert(case_id);
      }
    }
  }
  if (!order.empty()) absl::StrAppend(&out, "\n");
  for (const auto& key : order) {
    const Note& n = notes[key];
    absl::StrAppend(&out, "- ", key.first, " (", absl::StrJoin(n.modes, ", "), ")");
    if (!n.first_case.empty()) {
      absl::StrAppend(&out, " ", n.first_case,
                      n.cases.size() > 1 ? absl::StrCat(" and ", n.cases.size() - 1, " more") : "");
    }
    absl::StrAppend(&out, ": ", key.second, "\n");
  }
  return out;
}

// The targets whose cases ran, met or not in each mode; empty when none ran.
std::string TargetTable(const std::string& title, const std::vector<Target>& targets, const Results& r,
                        const std::vector<std::string>& modes) {
  std::string rows;
  bool any = false;
  for (const Target& t : targets) {
    absl::StrAppend(&rows, "| ", t.what, " | ", t.bound, " |");
    for (const std::string& m : modes) {
      auto v = t.check(r, m);
      any |= v.has_value();
      absl::StrAppend(&rows, " ", v ? absl::StrCat(Number(v->first), v->second ? " met" : " **not met**") : "n/a",
                      " |");
    }
    absl::StrAppend(&rows, "\n");
  }
  if (!any) return "";
  std::string out = absl::StrCat("\n### ", title, "\n\n| target | bound |");
  for (const std::string& m : modes) absl::StrAppend(&out, " ", m, " |");
  absl::StrAppend(&out, "\n|---|---|");
  for (size_t i = 0; i < modes.size(); ++i) absl::StrAppend(&out, "---|");
  return absl::StrCat(out, "\n", rows);
}

}  // namespace

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

std::string RenderMarkdown(const Results& r) {
  std::vector<std::string> systems;
  for (const std::string& id : kSystemOrder) {
    for (const auto& [mode, runs] : r.runs) {
      if (runs.contains(id) && std::find(systems.begin(), systems.end(), id) == systems.end()) systems.push_back(id);
    }
  }
  std::vector<std::string> modes;
  for (const std::string& m : kModes) {
    if (r.runs.contains(m)) modes.push_back(m);
  }
  std::string out;
  if (r.hot) {
    absl::StrAppend(&out, "## jobd against the alternatives\n\n", r.machine,
                    ". Same handler everywhere (64 B echo; above 64 KiB the length), 2 worker processes each. "
                    "Cells: ", absl::StrJoin(modes, " / "), ".\n\n", Table(r, systems, AllCases()));
  }
  if (!r.paced_cases.empty()) {
    absl::StrAppend(&out, r.hot ? "\n" : "", "## Paced and many-session\n\n", r.machine,
                    ". Paced: one client, a 64 B job every 1/rate s (latency from each job's start; CPU per job "
                    "of each process over the measured jobs). Many sessions: N client processes, one job in "
                    "flight each. Idle (when run): the system's own processes, nothing asked of them, CPU "
                    "in µs per second (1,000 is 0.1% of a CPU). Cells: ", absl::StrJoin(modes, " / "), ".\n\n", Table(r, systems, r.paced_cases));
  }
  absl::StrAppend(&out, "\nLoad average (1, 5, 15 min): ", r.load_start, " at the start, ", r.load_end,
                  " at the end (", sysconf(_SC_NPROCESSORS_ONLN), " CPUs).\n");
  absl::StrAppend(&out, "\n### Floors\n\n| floor | value |\n|---|---:|\n");
  absl::StrAppendFormat(&out, "| Unix-socket ping-pong, 64 B, both ends on one CPU: p50 / p99 (µs) | %s / %s |\n",
                        Number(r.raw.pingpong_same_cpu.p50_us), Number(r.raw.pingpong_same_cpu.p99_us));
  absl::StrAppendFormat(&out, "| Unix-socket ping-pong, 64 B, ends on two CPUs: p50 / p99 (µs) | %s / %s |\n",
                        Number(r.raw.pingpong_two_cpus.p50_us), Number(r.raw.pingpong_two_cpus.p99_us));
  for (const auto& [mib, ms] : r.raw.memcpy_ms) {
    absl::StrAppendFormat(&out, "| memcpy %d MiB (ms) | %s |\n", mib, Number(ms));
  }

  absl::StrAppend(&out, TargetTable("Targets (issue 7: the hot loop)", HotTargets(), r, modes),
                  TargetTable("Targets (issue 12: paced, many client processes, idle)", RatesTargets(), r, modes));
  return out;
}

std::string RenderJson(const Results& r) {
  std::string out = absl::StrCat("{\n  \"machine\": ", JsonString(r.machine), ",\n  \"load_start\": ",
                                 JsonString(r.load_start), ",\n  \"load_end\": ", JsonString(r.load_end),
                                 ",\n  \"floors\": {");
  absl::StrAppendFormat(&out,
                        "\"pingpong_same_cpu_p50_us\": %f, \"pingpong_same_cpu_p99_us\": %f, "
                        "\"pingpong_two_cpus_p50_us\": %f, \"pingpong_two_cpus_p99_us\": %f",
                        r.raw.pingpong_same_cpu.p50_us, r.raw.pingpong_same_cpu.p99_us,
                        r.raw.pingpong_two_cpus.p50_us, r.raw.pingpong_two_cpus.p99_us);
  for (const auto& [mib, ms] : r.raw.memcpy_ms) absl::StrAppendFormat(&out, ", \"memcpy_%dmib_ms\": %f", mib, ms);
  absl::StrAppend(&out, "},\n  \"runs\": {");
  bool first_mode = true;
  for (const auto& [mode, runs] : r.runs) {
    absl::StrAppend(&out, first_mode ? "\n" : ",\n", "    ", JsonString(mode), ": {");
    first_mode = false;
    bool first_system = true;
    for (const auto& [id, run] : runs) {
      absl::StrAppend(&out, first_system ? "\n" : ",\n", "      ", JsonString(id), ": {\"name\": ",
                      JsonString(run.name), ", \"error\": ", JsonString(run.error), ", \"cases\": {");
      first_system = false;
      bool first_case = true;
      for (const auto& [case_id, v] : run.cases) {
        absl::StrAppend(&out, first_case ? "" : ", ", JsonString(case_id), ": ");
        first_case = false;
        if (v.error.empty()) {
          absl::StrAppendFormat(&out, "%f", v.value);
        } else {
          absl::StrAppend(&out, "{\"error\": ", JsonString(v.error), "}");
        }
      }
      absl::StrAppend(&out, "}}");
    }
    absl::StrAppend(&out, "\n    }");
  }
  absl::StrAppend(&out, "\n  },\n  \"targets\": [");
  bool first = true;
  std::vector<Target> targets = HotTargets();
  for (Target& t : RatesTargets()) targets.push_back(std::move(t));
  for (const Target& t : targets) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    {\"target\": ", JsonString(t.what), ", \"bound\": ",
                    JsonString(t.bound));
    first = false;
    for (const auto& [mode, runs] : r.runs) {
      auto v = t.check(r, mode);
      if (v) absl::StrAppendFormat(&out, ", \"%s\": {\"value\": %f, \"met\": %s}", mode, v->first,
                                   v->second ? "true" : "false");
    }
    absl::StrAppend(&out, "}");
  }
  absl::StrAppend(&out, "\n  ]\n}\n");
  return out;
}

}  // namespace jobd::bench
