// The two-hop floor: no broker at all. Two preforked worker processes accept on one Unix socket;
// a client connection is served by the worker that accepted it, which reads a request, runs the
// bench handler and writes the answer back on the same connection. Any job system on one host
// pays at least this (client -> worker -> client); everything above it is the system's own.
//
// Frames, both ways: 8 bytes of payload length (host order), then for requests a kind byte
// ('b' bench, 'm' multi: a packed piece + request, see carried_batch.h), then the payload.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/carried_batch.h"
#include "tests/bench/suite/child_process.h"

namespace jobd::bench {
namespace {

constexpr size_t kHeader = 8;
// Small jobs arrive whole in one read of this size: one system call per hop, as a tuned
// server would do it.
constexpr size_t kFirstRead = 128 * 1024;

bool WriteAll(int fd, const iovec* parts, int count) {
  iovec iov[2];
  std::memcpy(iov, parts, sizeof(iovec) * count);
  int first = 0;
  while (first < count) {
    const ssize_t n = writev(fd, iov + first, count - first);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    size_t left = static_cast<size_t>(n);
    while (first < count && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

bool ReadAll(int fd, char* to, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, to, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    to += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// One frame: `prefix` bytes after the length (the kind byte of a request, none for an answer),
// then the payload, into `buf` (which keeps its capacity between frames). False on EOF or error.
bool ReadFrame(int fd, size_t prefix, std::string* buf, std::string_view* prefix_out, std::string_view* payload) {
  if (buf->size() < kFirstRead) buf->resize(kFirstRead);
  size_t have = 0;
  while (have < kHeader + prefix) {
    const ssize_t n = read(fd, buf->data() + have, buf->size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    have += static_cast<size_t>(n);
  }
  uint64_t length = 0;
  std::memcpy(&length, buf->data(), kHeader);
  const size_t total = kHeader + prefix + length;
  if (total > buf->size()) buf->resize(total);
  if (have < total && !ReadAll(fd, buf->data() + have, total - have)) return false;
  *prefix_out = std::string_view(buf->data() + kHeader, prefix);
  *payload = std::string_view(buf->data() + kHeader + prefix, length);
  return true;
}

bool WriteFrame(int fd, std::string_view prefix, std::string_view payload) {
  char head[kHeader + 1];
  const uint64_t length = payload.size();
  std::memcpy(head, &length, kHeader);
  std::memcpy(head + kHeader, prefix.data(), prefix.size());
  const iovec parts[2] = {{head, kHeader + prefix.size()}, {const_cast<char*>(payload.data()), payload.size()}};
  return WriteAll(fd, parts, 2);
}

// A worker: one epoll loop over the shared listening socket and the connections it accepted.
[[noreturn]] void Serve(int listener) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  // EPOLLEXCLUSIVE: a new connection wakes one worker, not both.
  epoll_event ev{.events = EPOLLIN | EPOLLEXCLUSIVE, .data = {.fd = listener}};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) _exit(1);
  std::string buf;
  uint64_t sink = 0;
  epoll_event ready[64];
  for (;;) {
    const int n = epoll_wait(ep, ready, 64, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = ready[i].data.fd;
      if (fd == listener) {
        const int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) continue;  // the other worker took it
        epoll_event c{.events = EPOLLIN, .data = {.fd = conn}};
        epoll_ctl(ep, EPOLL_CTL_ADD, conn, &c);
        continue;
      }
      std::string_view kind, payload;
      std::string answer;
      bool ok = ReadFrame(fd, 1, &buf, &kind, &payload);
      if (ok) {
        if (kind[0] == 'b') {
          answer = BenchAnswer(payload, &sink);
        } else if (!AnswerPacked(payload, &sink, &answer)) {
          answer = "malformed";
        }
        ok = WriteFrame(fd, {}, answer);
      }
      if (!ok) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
      }
    }
  }
}

absl::StatusOr<int> Dial(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", path, ": ", why));
  }
  return fd;
}

class RawCaller : public Caller {
 public:
  RawCaller(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~RawCaller() override { close(fd_); }

  absl::StatusOr<size_t> Call(std::string_view request) override {
    auto answer = RoundTrip(fd_, "b", request, &buf_);
    if (!answer.ok()) return answer.status();
    if (absl::Status s = CheckBenchAnswer(request, *answer); !s.ok()) return s;
    return answer->size();
  }

  // No sharing over a socket: each job carries the piece, on its own connection.
  absl::Status CallMulti(std::string_view shared, const std::vector<std::string_view>& requests) override {
    return RunCarriedBatch(shared, requests, [this](std::string_view piece, std::string_view request)
                                                 -> absl::StatusOr<std::string> {
      absl::StatusOr<int> fd = Dial(path_);
      if (!fd.ok()) return fd.status();
      std::string buf;
      auto answer = RoundTrip(*fd, "m", PackCarried(piece, request), &buf);
      close(*fd);
      if (!answer.ok()) return answer.status();
      return std::string(*answer);
    });
  }

 private:
  static absl::StatusOr<std::string_view> RoundTrip(int fd, std::string_view kind, std::string_view payload,
                                                    std::string* buf) {
    std::string_view none, answer;
    if (!WriteFrame(fd, kind, payload) || !ReadFrame(fd, 0, buf, &none, &answer)) {
      return absl::UnavailableError(absl::StrCat("raw echo: connection lost: ", std::strerror(errno)));
    }
    return answer;
  }

  std::string path_;
  int fd_;
  std::string buf_;
};

class RawEchoSystem : public BenchSystem {
 public:
  ~RawEchoSystem() override { Stop(); }
  std::string name() const override { return "raw Unix socket"; }

  absl::Status Start(const SystemOptions& options) override {
    path_ = options.scratch_dir + "/raw.sock";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) return absl::InvalidArgumentError("socket path too long");
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener_, 1024) != 0) {
      return absl::UnavailableError(absl::StrCat("listen on ", path_, ": ", std::strerror(errno)));
    }
    for (int w = 0; w < options.workers; ++w) workers_.push_back(ForkChild([this] { Serve(listener_); }));
    return absl::OkStatus();
  }

  absl::Status Attach(const std::string& address) override {
    path_ = address;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller() override {
    absl::StatusOr<int> fd = Dial(path_);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<Caller>(new RawCaller(path_, *fd));
  }

  void Stop() override {
    for (pid_t w : workers_) StopChild(w);
    workers_.clear();
    if (listener_ >= 0) {
      close(listener_);
      unlink(path_.c_str());
    }
    listener_ = -1;
  }

  size_t max_request() const override { return size_t{512} << 20; }
  std::vector<pid_t> worker_pids() const override { return workers_; }
  std::string address() const override { return path_; }

 private:
  std::string path_;
  int listener_ = -1;
  std::vector<pid_t> workers_;
};

}  // namespace

std::unique_ptr<BenchSystem> MakeRawEchoSystem() { return std::make_unique<RawEchoSystem>(); }

}  // namespace jobd::bench
