// The threads of a process as /proc shows them (name, context switches so far), for tests that
// check what runs in the agent, a worker or the test itself, and how often it wakes.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace jobd::testing {

struct ProcThread {
  std::string name;
  uint64_t switches = 0;  // voluntary + involuntary context switches so far
};

// Empty when the process is gone. `pid` 0: this process.
inline std::vector<ProcThread> ThreadsOf(pid_t pid) {
  std::vector<ProcThread> out;
  const std::string dir = pid == 0 ? "/proc/self/task" : absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string task = absl::StrCat(dir, "/", e->d_name);
    ProcThread t;
    std::ifstream comm(task + "/comm");
    std::getline(comm, t.name);
    std::ifstream status(task + "/status");
    for (std::string line; std::getline(status, line);) {
      absl::string_view v = line;
      if (absl::ConsumePrefix(&v, "voluntary_ctxt_switches:") || absl::ConsumePrefix(&v, "nonvoluntary_ctxt_switches:")) {
        uint64_t n = 0;
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &n)) t.switches += n;
      }
    }
    out.push_back(std::move(t));
  }
  closedir(d);
  return out;
}

}  // namespace jobd::testing
