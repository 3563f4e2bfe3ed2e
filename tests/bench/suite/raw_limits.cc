#include "tests/bench/suite/raw_limits.h"

#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/time/clock.h"
#include "tests/bench/suite/child_process.h"
#include "tests/bench/suite/percentile.h"

namespace jobd::bench {
namespace {

void Pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

}  // namespace

PingPong SocketPingPong(int iterations, int cpu_a, int cpu_b) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return {};
  const pid_t child = ForkChild([&] {
    Pin(cpu_b);
    close(sv[0]);
    char buf[64];
    while (read(sv[1], buf, sizeof buf) == sizeof buf) {
      if (write(sv[1], buf, sizeof buf) != sizeof buf) break;
    }
  });
  close(sv[1]);
  cpu_set_t saved;
  sched_getaffinity(0, sizeof saved, &saved);
  Pin(cpu_a);
  char buf[64];
  std::memset(buf, 7, sizeof buf);
  std::vector<double> us;
  for (int i = 0; i < iterations + 200; ++i) {
    const absl::Time t = absl::Now();
    if (write(sv[0], buf, sizeof buf) != sizeof buf || read(sv[0], buf, sizeof buf) != sizeof buf) break;
    if (i >= 200) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  sched_setaffinity(0, sizeof saved, &saved);
  close(sv[0]);
  waitpid(child, nullptr, 0);
  if (us.empty()) return {};
  PingPong r;
  r.p50_us = Percentile(us, 0.5);
  r.p99_us = Percentile(us, 0.99);
  return r;
}

double MemcpyMillis(size_t bytes) {
  std::vector<char> a(bytes, 1), b(bytes, 0);
  std::memcpy(b.data(), a.data(), bytes);  // fault every page in first
  std::vector<double> ms;
  for (int i = 0; i < 9; ++i) {
    const absl::Time t = absl::Now();
    std::memcpy(b.data(), a.data(), bytes);
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    if (b[bytes / 2] != 1) return -1;
  }
  return Percentile(ms, 0.5);
}

}  // namespace jobd::bench
