#include "agent/side_socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm/fd_passing.h"

namespace jobd::agent {

absl::StatusOr<std::unique_ptr<SideSocket>> SideSocket::Listen(const std::string& path, gid_t group, WakeSet& watch) {
  absl::StatusOr<shm::UniqueFd> listen = shm::ListenUnix(path, 0660);
  if (!listen.ok()) return listen.status();
  if (group != static_cast<gid_t>(-1)) (void)chown(path.c_str(), static_cast<uid_t>(-1), group);
  std::unique_ptr<SideSocket> side(new SideSocket(std::move(*listen), path, watch));
  if (!watch.Add(WakeSet::Tag::kListen, side->listen_.get())) {
    return absl::ResourceExhaustedError("cannot watch the side socket");
  }
  return side;
}

SideSocket::~SideSocket() {
  for (auto& [fd, h] : handshakes_) watch_.Remove(fd);
  if (listen_.valid()) watch_.Remove(listen_.get());
}

void SideSocket::Accept(absl::Time now) {
  for (;;) {
    shm::UniqueFd fd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    if (handshakes_.size() >= kMaxHandshakes) continue;  // closed: its sender retries or gives up
    if (!watch_.Add(WakeSet::Tag::kHandshake, fd.get())) continue;
    const int key = fd.get();
    handshakes_[key] = Handshake{std::move(fd), now, {}};
  }
}

shm::UniqueFd SideSocket::Drop(int fd) {
  auto it = handshakes_.find(fd);
  if (it == handshakes_.end()) return shm::UniqueFd();
  watch_.Remove(fd);  // before the descriptor can close
  shm::UniqueFd conn = std::move(it->second.fd);
  handshakes_.erase(it);
  return conn;
}

std::optional<SideSocket::Presented> SideSocket::Read(int fd) {
  auto it = handshakes_.find(fd);
  if (it == handshakes_.end()) return std::nullopt;
  Handshake& h = it->second;
  // The record's length byte, then the token.
  char buf[1 + kTokenBytes];
  const ssize_t n = recv(fd, buf, sizeof buf - h.got.size(), MSG_DONTWAIT);
  if (n > 0) h.got.append(buf, static_cast<size_t>(n));
  const bool whole = h.got.size() == 1 + kTokenBytes;
  const bool went = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
  if (!whole && !went) return std::nullopt;  // more to come
  std::string token = whole ? h.got.substr(1) : "";
  shm::UniqueFd conn = Drop(fd);
  if (!whole) return std::nullopt;
  return Presented{std::move(token), std::move(conn)};
}

void SideSocket::Expire(absl::Time now) {
  std::vector<int> old;
  for (const auto& [fd, h] : handshakes_) {
    if (now - h.since > kMaxAge) old.push_back(fd);
  }
  for (int fd : old) Drop(fd);
}

void SideSocket::Unlink() { unlink(path_.c_str()); }

}  // namespace jobd::agent
