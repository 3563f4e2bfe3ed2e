// The side socket's listening end and the handshakes in progress on it. A peer connects and
// presents the one-time token from its welcome (a record, shm::SendRecord); the agent answers
// on that connection with descriptors (proto/side_records.h). Reads never block: a token sent
// in pieces waits for the rest, at most kMaxHandshakes at once and each for at most kMaxAge, so
// a flood of half-open connections costs its senders, not the agent. It keeps its descriptors
// in the pump's WakeSet itself, so that one is never closed while still watched. The pump's
// thread alone uses it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/wake_set.h"
#include "shm/unique_fd.h"

namespace jobd::agent {

class SideSocket {
 public:
  static constexpr size_t kTokenBytes = 16;
  static constexpr size_t kMaxHandshakes = 256;
  static constexpr absl::Duration kMaxAge = absl::Seconds(5);

  // Listens at `path` with mode 0660 and, unless -1, group `group`: whoever may talk to jobd
  // may pick up its own segment here, and nothing else.
  static absl::StatusOr<std::unique_ptr<SideSocket>> Listen(const std::string& path, gid_t group, WakeSet& watch);
  ~SideSocket();

  // The listening socket is readable: takes the connections that wait.
  void Accept(absl::Time now);
  struct Presented {
    std::string token;
    shm::UniqueFd conn;  // still open: the answer goes here
  };
  // A handshake's connection is readable: its token once whole (the connection is then the
  // caller's); nullopt while more is to come, or when the peer went or sent something else.
  std::optional<Presented> Read(int fd);
  // Drops the handshakes older than kMaxAge.
  void Expire(absl::Time now);
  size_t in_progress() const { return handshakes_.size(); }
  bool busy() const { return in_progress() > 0; }
  // Removes the socket's path (at shutdown).
  void Unlink();

 private:
  SideSocket(shm::UniqueFd listen, std::string path, WakeSet& watch)
      : listen_(std::move(listen)), path_(std::move(path)), watch_(watch) {}
  struct Handshake {
    shm::UniqueFd fd;
    absl::Time since;
    std::string got;
  };
  shm::UniqueFd Drop(int fd);

  shm::UniqueFd listen_;
  std::string path_;
  WakeSet& watch_;
  absl::flat_hash_map<int, Handshake> handshakes_;
};

}  // namespace jobd::agent
