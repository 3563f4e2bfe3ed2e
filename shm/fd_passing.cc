#include "shm/fd_passing.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace jobd::shm {

absl::StatusOr<PeerCredentials> CredentialsOf(int socket) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("SO_PEERCRED: ", strerror(errno)));
  }
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

absl::Status SendRecord(int socket, std::span<const std::byte> bytes, std::span<const int> fds) {
  if (bytes.empty() || bytes.size() > kMaxRecord || fds.size() > kMaxFds) {
    return absl::InvalidArgumentError(absl::StrCat("a record carries 1 to ", kMaxRecord, " bytes and at most ",
                                                   kMaxFds, " descriptors"));
  }
  // A one-byte length first, so that the receiver reads exactly one record.
  std::byte frame[kMaxRecord + 1];
  frame[0] = static_cast<std::byte>(bytes.size() - 1);
  std::memcpy(frame + 1, bytes.data(), bytes.size());
  iovec iov{frame, bytes.size() + 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t n = sendmsg(socket, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(iov.iov_len)) return absl::OkStatus();
  if (n < 0) return absl::UnavailableError(absl::StrCat("cannot send to the peer: ", strerror(errno)));
  return absl::UnavailableError("the peer's socket took only part of a record");
}

namespace {

absl::Status WaitReadable(int socket, absl::Time deadline) {
  for (;;) {
    const int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd p{socket, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 60'000)));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return absl::UnavailableError(absl::StrCat("poll: ", strerror(errno)));
    if (r == 0 && absl::Now() >= deadline) return absl::DeadlineExceededError("no record from the peer in time");
  }
}

}  // namespace

absl::StatusOr<Record> ReceiveRecord(int socket, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  Record record;
  std::byte frame[kMaxRecord + 1];
  size_t got = 0, want = 1;
  while (got < want) {
    if (absl::Status s = WaitReadable(socket, deadline); !s.ok()) return s;
    iovec iov{frame + got, want - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(socket, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == 0) return absl::UnavailableError("the peer closed the side socket");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("recvmsg: ", strerror(errno)));
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        UniqueFd owned(fd);  // closed unless kept below
        if (record.fds.size() < kMaxFds) record.fds.push_back(std::move(owned));
      }
    }
    if (got == 0) want = 1 + static_cast<size_t>(frame[0]) + 1;
    got += static_cast<size_t>(n);
  }
  record.bytes.assign(frame + 1, frame + want);
  return record;
}

absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ResourceExhaustedError(absl::StrCat("socket: ", strerror(errno)));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", path, ": ", strerror(errno)));
  }
  return fd;
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, mode_t mode) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  unlink(path.c_str());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return absl::ResourceExhaustedError(absl::StrCat("socket: ", strerror(errno)));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || chmod(path.c_str(), mode) != 0 ||
      listen(fd.get(), 256) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", path, ": ", strerror(errno)));
  }
  return fd;
}

}  // namespace jobd::shm
