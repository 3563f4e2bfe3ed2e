#include "tests/bench/suite/client_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/bench/suite/bench_system.h"

namespace jobd::bench {
namespace {

constexpr int kResultFd = 3;
constexpr int kStartFd = 4;
constexpr char kReady = 'R';
constexpr char kFailed = 'E';

// Sent after the loop, then `count` floats (µs), or an error message when ok is 0.
struct Header {
  uint32_t ok;
  uint32_t pad;
  uint64_t count;
  double loop_seconds;
  double start_rate;
  double cpu_seconds;
};

int64_t Nanos(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntil(int64_t deadline) {
  const timespec ts{.tv_sec = deadline / 1'000'000'000, .tv_nsec = deadline % 1'000'000'000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
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

}  // namespace

absl::StatusOr<std::unique_ptr<ClientGroup>> ClientGroup::Start(const std::string& system_id,
                                                                const std::string& address, int count,
                                                                const ClientLoop& loop) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return absl::InternalError("cannot find this binary (/proc/self/exe)");
  self[len] = '\0';
  // Everything the child needs is built before fork: between fork and exec only system calls.
  const std::vector<std::string> args = {
      self, "--client_child=" + system_id, "--client_address=" + address,
      absl::StrCat("--client_seconds=", absl::ToDoubleSeconds(loop.time)), absl::StrCat("--client_rate=", loop.rate),
      absl::StrCat("--client_jobs=", loop.jobs), absl::StrCat("--client_warmup=", loop.warmup)};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  std::unique_ptr<ClientGroup> group(new ClientGroup());
  group->time_ = loop.rate > 0 ? absl::Seconds(static_cast<double>(loop.jobs) / loop.rate) : loop.time;
  int start[2];
  if (pipe2(start, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  group->start_fd_ = start[1];
  group->children_.resize(count);
  for (Child& c : group->children_) {
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

  for (Child& c : group->children_) {
    if (c.pid <= 0) return absl::InternalError("fork failed");
    char b = 0;
    pollfd ready{.fd = c.fd, .events = POLLIN, .revents = 0};
    if (poll(&ready, 1, 30'000) == 1 && read(c.fd, &b, 1) == 1 && b == kReady) continue;
    // Its message, if it sent one before exiting.
    std::string why;
    char buf[512];
    for (ssize_t n; poll(&ready, 1, 1000) == 1 && (n = read(c.fd, buf, sizeof buf)) > 0;) why.append(buf, n);
    return absl::UnavailableError(
        absl::StrCat("client process ", c.pid, ": ", why.empty() ? "did not become ready" : why));
  }
  return group;
}

absl::StatusOr<std::vector<ClientResult>> ClientGroup::Run() {
  close(start_fd_);  // every child's read of the start pipe returns 0 now
  start_fd_ = -1;
  const absl::Time deadline = absl::Now() + time_ + absl::Seconds(60);
  char buf[65536];
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Child*> whose;
    for (Child& c : children_) {
      if (!c.eof) {
        fds.push_back({.fd = c.fd, .events = POLLIN, .revents = 0});
        whose.push_back(&c);
      }
    }
    if (fds.empty() || absl::Now() > deadline) break;
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
  Reap();

  std::vector<ClientResult> out;
  for (const Child& c : children_) {
    Header h{};
    if (c.bytes.size() < sizeof h) return absl::UnavailableError("a client process sent no results");
    std::memcpy(&h, c.bytes.data(), sizeof h);
    if (h.ok == 0) return absl::UnavailableError(absl::StrCat("client process: ", c.bytes.substr(sizeof h)));
    if (c.bytes.size() != sizeof h + h.count * sizeof(float)) {
      return absl::UnavailableError("a client process sent truncated results");
    }
    ClientResult r;
    r.latencies_us.resize(h.count);
    std::memcpy(r.latencies_us.data(), c.bytes.data() + sizeof h, h.count * sizeof(float));
    r.loop_seconds = h.loop_seconds;
    r.start_rate = h.start_rate;
    r.cpu_seconds = h.cpu_seconds;
    out.push_back(std::move(r));
  }
  return out;
}

void ClientGroup::Reap() {
  for (Child& c : children_) {
    if (c.pid > 0) {
      if (!c.eof) kill(c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
      c.pid = -1;
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }
}

ClientGroup::~ClientGroup() {
  if (start_fd_ >= 0) close(start_fd_);
  for (Child& c : children_) c.eof = c.eof || c.pid <= 0;
  Reap();
}

int RunClientChild(const std::string& system_id, const std::string& address, const ClientLoop& loop) {
  std::unique_ptr<BenchSystem> system = MakeSystem(system_id);
  if (system == nullptr) return ChildFail(absl::NotFoundError(absl::StrCat("no system ", system_id)));
  if (absl::Status s = system->Attach(address); !s.ok()) return ChildFail(s);
  absl::StatusOr<std::unique_ptr<Caller>> caller = system->NewCaller();
  if (!caller.ok()) return ChildFail(caller.status());
  // The default 50 µs of timer slack would let each wake-up land up to half a period late at
  // 10,000 jobs/s: the rate asked of the system would not be the rate it saw.
  prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
  const std::string noop(64, 'n');
  const int64_t period = loop.rate > 0 ? 1'000'000'000 / loop.rate : 0;
  int64_t next = Nanos(CLOCK_MONOTONIC);
  for (int i = 0; i < loop.warmup; ++i) {
    if (period > 0) SleepUntil(next += period);
    if (absl::StatusOr<size_t> r = (*caller)->Call(noop); !r.ok()) return ChildFail(r.status());
  }
  if (!WriteAll(kResultFd, &kReady, 1)) return 1;
  char b;
  while (read(kStartFd, &b, 1) < 0 && errno == EINTR) {
  }

  std::vector<float> us;
  us.reserve(loop.rate > 0 ? loop.jobs : 1 << 16);
  absl::Status failed;
  const int64_t cpu_before = Nanos(CLOCK_PROCESS_CPUTIME_ID);
  const int64_t begin = Nanos(CLOCK_MONOTONIC);
  const int64_t until = begin + absl::ToInt64Nanoseconds(loop.time);
  next = begin;
  int64_t end = begin, last_start = begin;
  const int64_t first_scheduled = begin + period;
  for (int i = 0; loop.rate > 0 ? i < loop.jobs : end < until; ++i) {
    if (period > 0) SleepUntil(next += period);
    const int64_t start = Nanos(CLOCK_MONOTONIC);
    absl::StatusOr<size_t> r = (*caller)->Call(noop);
    end = Nanos(CLOCK_MONOTONIC);
    if (!r.ok()) {
      failed = r.status();
      break;
    }
    last_start = start;
    us.push_back(static_cast<float>(static_cast<double>(end - start) / 1e3));
  }
  const int64_t cpu_after = Nanos(CLOCK_PROCESS_CPUTIME_ID);
  const double started_over = static_cast<double>(last_start - first_scheduled) / 1e9;
  Header h{.ok = failed.ok() ? 1u : 0u,
           .pad = 0,
           .count = failed.ok() ? us.size() : 0,
           .loop_seconds = static_cast<double>(end - begin) / 1e9,
           .start_rate = us.size() > 1 && started_over > 0 ? static_cast<double>(us.size() - 1) / started_over : 0,
           .cpu_seconds = static_cast<double>(cpu_after - cpu_before) / 1e9};
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
