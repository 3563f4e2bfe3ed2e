#include "tests/bench/suite/sessions.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/bench/suite/percentile.h"

namespace jobd::bench {
namespace {

constexpr int kResultFd = 3;
constexpr int kStartFd = 4;
constexpr char kReady = 'R';
constexpr char kFailed = 'E';

// What a child sends after its run: a header, then `count` latencies in µs (float).
struct ChildHeader {
  uint32_t ok;  // 0: an error message follows instead of latencies
  uint32_t pad;
  uint64_t count;
  double seconds;  // how long the child's loop ran
};

int64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

int ChildFail(const absl::Status& s) {
  const std::string why = absl::StrCat(std::string(1, kFailed), s.message());
  WriteAll(kResultFd, why.data(), why.size());
  return 1;
}

std::string Key(int clients, const char* what) { return absl::StrCat("sessions_", clients, "_", what); }

struct Child {
  pid_t pid = -1;
  int fd = -1;  // its result pipe, read end
  std::string bytes;
  bool eof = false;
};

// Reads every child's pipe until each has closed it (the child exits after writing) or the
// deadline passes. Children are read concurrently: a pipe holds 64 KiB, less than one child's
// latencies at a high rate.
void DrainAll(std::vector<Child>& children, absl::Time deadline) {
  char buf[65536];
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Child*> whose;
    for (Child& c : children) {
      if (!c.eof) {
        fds.push_back({.fd = c.fd, .events = POLLIN, .revents = 0});
        whose.push_back(&c);
      }
    }
    if (fds.empty() || absl::Now() > deadline) return;
    if (poll(fds.data(), fds.size(), 200) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        whose[i]->bytes.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        whose[i]->eof = true;
      }
    }
  }
}

// One run with `count` client processes; fills the three values for that count.
void RunOnce(const std::string& system_id, BenchSystem& system, int count, absl::Duration time,
             std::map<std::string, CaseValue>& out) {
  auto fail_all = [&](const std::string& why) {
    for (const CaseInfo& c : SessionCases({count})) out[c.id] = {0, why};
  };
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return fail_all("cannot find this binary (/proc/self/exe)");
  self[len] = '\0';
  // Everything the child needs is built before fork: between fork and exec only system calls.
  const std::vector<std::string> args = {self, "--session_child=" + system_id, "--session_address=" + system.address(),
                                         absl::StrCat("--session_seconds=", absl::ToDoubleSeconds(time))};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int start[2];
  if (pipe2(start, O_CLOEXEC) != 0) return fail_all("pipe failed");
  std::vector<Child> children(count);
  for (Child& c : children) {
    int result[2];
    if (pipe2(result, O_CLOEXEC) != 0) break;
    c.pid = fork();
    if (c.pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      // Above 4 first, so that the dup2s below cannot clobber a source; dup2 clears CLOEXEC.
      const int r = fcntl(result[1], F_DUPFD_CLOEXEC, 10);
      const int s = fcntl(start[0], F_DUPFD_CLOEXEC, 10);
      if (r < 0 || s < 0 || dup2(r, kResultFd) < 0 || dup2(s, kStartFd) < 0) _exit(126);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(result[1]);
    c.fd = result[0];
  }
  close(start[0]);

  // Ready: one byte from each, after it connected and ran a few jobs.
  std::string error;
  for (Child& c : children) {
    char b = 0;
    pollfd ready{.fd = c.fd, .events = POLLIN, .revents = 0};
    if (c.pid <= 0) {
      error = "fork failed";
    } else if (poll(&ready, 1, 30'000) != 1 || read(c.fd, &b, 1) != 1 || b != kReady) {
      c.bytes.assign(1, b);
      if (error.empty()) error = absl::StrCat("client process ", c.pid, " did not start");
    }
  }
  close(start[1]);  // the start: every child's read of the start pipe returns 0 now
  DrainAll(children, absl::Now() + time + absl::Seconds(60));
  for (Child& c : children) {
    if (c.pid > 0) {
      if (!c.eof) kill(c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
    }
    if (c.fd >= 0) close(c.fd);
  }

  std::vector<double> us;
  double rate = 0;
  for (Child& c : children) {
    if (!c.bytes.empty() && c.bytes[0] == kFailed) {
      error = absl::StrCat("client process: ", c.bytes.substr(1));
      continue;
    }
    ChildHeader h{};
    if (c.bytes.size() < sizeof h) {
      if (error.empty()) error = "a client process sent no results";
      continue;
    }
    std::memcpy(&h, c.bytes.data(), sizeof h);
    if (h.ok == 0) {
      error = absl::StrCat("client process: ", c.bytes.substr(sizeof h));
      continue;
    }
    if (c.bytes.size() != sizeof h + h.count * sizeof(float)) {
      if (error.empty()) error = "a client process sent truncated results";
      continue;
    }
    const float* v = reinterpret_cast<const float*>(c.bytes.data() + sizeof h);
    us.insert(us.end(), v, v + h.count);
    if (h.seconds > 0) rate += static_cast<double>(h.count) / h.seconds;
  }
  if (!error.empty() || us.empty()) return fail_all(error.empty() ? "no jobs ran" : error);
  out[Key(count, "jobs_s")] = {rate, ""};
  out[Key(count, "p50_us")] = {Percentile(us, 0.5), ""};
  out[Key(count, "p99_us")] = {Percentile(us, 0.99), ""};
}

}  // namespace

std::vector<CaseInfo> SessionCases(const std::vector<int>& clients) {
  std::vector<CaseInfo> out;
  for (int n : clients) {
    const std::string who = absl::StrCat(n, " client processes: ");
    out.push_back({Key(n, "jobs_s"), who + "jobs/s"});
    out.push_back({Key(n, "p50_us"), who + "p50 (µs)"});
    out.push_back({Key(n, "p99_us"), who + "p99 (µs)"});
  }
  return out;
}

std::map<std::string, CaseValue> RunSessionCases(const std::string& system_id, BenchSystem& system,
                                                 const std::vector<int>& clients, absl::Duration time) {
  std::map<std::string, CaseValue> out;
  for (int n : clients) {
    std::fprintf(stderr, "  %s: %d client processes\n", system.name().c_str(), n);
    RunOnce(system_id, system, n, time, out);
  }
  return out;
}

int RunSessionChild(const std::string& system_id, const std::string& address, absl::Duration time) {
  std::unique_ptr<BenchSystem> system = MakeSystem(system_id);
  if (system == nullptr) return ChildFail(absl::NotFoundError(absl::StrCat("no system ", system_id)));
  if (absl::Status s = system->Attach(address); !s.ok()) return ChildFail(s);
  absl::StatusOr<std::unique_ptr<Caller>> caller = system->NewCaller();
  if (!caller.ok()) return ChildFail(caller.status());
  const std::string noop(64, 'n');
  for (int i = 0; i < 20; ++i) {
    if (absl::StatusOr<size_t> r = (*caller)->Call(noop); !r.ok()) return ChildFail(r.status());
  }
  if (!WriteAll(kResultFd, &kReady, 1)) return 1;
  char b;
  while (read(kStartFd, &b, 1) < 0 && errno == EINTR) {
  }

  std::vector<float> us;
  us.reserve(1 << 16);
  absl::Status failed;
  const int64_t begin = MonotonicNanos();
  const int64_t until = begin + absl::ToInt64Nanoseconds(time);
  int64_t now = begin;
  while (now < until) {
    const int64_t start = now;
    absl::StatusOr<size_t> r = (*caller)->Call(noop);
    now = MonotonicNanos();
    if (!r.ok()) {
      failed = r.status();
      break;
    }
    us.push_back(static_cast<float>(static_cast<double>(now - start) / 1e3));
  }
  ChildHeader h{.ok = failed.ok() ? 1u : 0u, .pad = 0, .count = failed.ok() ? us.size() : 0,
                .seconds = static_cast<double>(now - begin) / 1e9};
  WriteAll(kResultFd, &h, sizeof h);
  if (!failed.ok()) {
    WriteAll(kResultFd, failed.message().data(), failed.message().size());
  } else {
    WriteAll(kResultFd, us.data(), us.size() * sizeof(float));
  }
  close(kResultFd);
  caller->reset();
  system->Stop();
  return failed.ok() ? 0 : 1;
}

}  // namespace jobd::bench
