#include "agent/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace jobd::agent {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory stream's own descriptor
}

}  // namespace

absl::StatusOr<ProcessSample> ParseProcStat(const std::string& stat, double ticks_per_second,
                                            double boot_time, double page_size) {
  // The command name (field 2) is in parentheses and may hold spaces or ')': the fields that
  // follow start after the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || ticks_per_second <= 0) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line: no ')' after the command name");
  }
  const std::vector<std::string> f =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipWhitespace());
  // f[0] is field 3 (state); utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3, kVsize = 23 - 3, kRss = 24 - 3;
  if (f.size() <= kRss) {
    return absl::InvalidArgumentError(absl::StrCat("/proc/PID/stat has ", f.size() + 2, " fields, want at least 24"));
  }
  double utime, stime, start, vsize, rss;
  if (!absl::SimpleAtod(f[kUtime], &utime) || !absl::SimpleAtod(f[kStime], &stime) ||
      !absl::SimpleAtod(f[kStart], &start) || !absl::SimpleAtod(f[kVsize], &vsize) ||
      !absl::SimpleAtod(f[kRss], &rss)) {
    return absl::InvalidArgumentError("/proc/PID/stat: a time or size field is not a number");
  }
  ProcessSample s;
  s.cpu_seconds = (utime + stime) / ticks_per_second;
  s.start_time_seconds = boot_time + start / ticks_per_second;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * page_size;
  return s;
}

absl::StatusOr<double> ParseBootTime(const std::string& proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    double t;
    if (absl::SimpleAtod(line, &t)) return t;
  }
  return absl::InvalidArgumentError("/proc/stat has no btime line");
}

absl::StatusOr<ProcessSample> ReadSelfProcess() {
  absl::StatusOr<std::string> stat = ReadFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  // btime does not change while the machine is up: read it once.
  static const absl::StatusOr<double> boot_time = [] () -> absl::StatusOr<double> {
    absl::StatusOr<std::string> text = ReadFile("/proc/stat");
    if (!text.ok()) return text.status();
    return ParseBootTime(*text);
  }();
  if (!boot_time.ok()) return boot_time.status();
  absl::StatusOr<ProcessSample> s = ParseProcStat(*stat, static_cast<double>(sysconf(_SC_CLK_TCK)), *boot_time,
                                                  static_cast<double>(sysconf(_SC_PAGESIZE)));
  if (!s.ok()) return s.status();
  s->open_fds = OpenFds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) s->max_fds = static_cast<double>(limit.rlim_cur);
  return s;
}

}  // namespace jobd::agent
