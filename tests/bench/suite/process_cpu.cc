#include "tests/bench/suite/process_cpu.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace jobd::bench {
namespace {

// The fields of /proc/<pid>/stat after the command name, which may itself hold spaces.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return {};
  return absl::StrSplit(line.substr(close + 2), ' ');
}

double TickSeconds(pid_t pid) {
  const std::vector<std::string> f = StatFields(pid);
  double user = 0, system = 0;
  if (f.size() < 13 || !absl::SimpleAtod(f[11], &user) || !absl::SimpleAtod(f[12], &system)) return 0;
  return (user + system) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

double ProcessCpuSeconds(pid_t pid) {
  if (pid <= 0) return 0;
  clockid_t clock;
  timespec ts{};
  if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0) {
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  return TickSeconds(pid);
}

double ProcessCpuSeconds(const std::vector<pid_t>& pids) {
  double sum = 0;
  for (pid_t p : pids) sum += ProcessCpuSeconds(p);
  return sum;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    const std::vector<std::string> f = StatFields(pid);
    int ppid = 0;
    if (f.size() > 1 && absl::SimpleAtoi(f[1], &ppid) && ppid == parent) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

}  // namespace jobd::bench
