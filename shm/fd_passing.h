// Sending file descriptors between processes over a Unix socket (SCM_RIGHTS), and learning who
// is at the other end (SO_PEERCRED). gRPC C++ exposes neither, so sessions and workers pick up
// their shared memory over a small side socket beside the gRPC one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shm/unique_fd.h"

namespace jobd::shm {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The kernel's word on who opened `socket` (not what the peer claims).
absl::StatusOr<PeerCredentials> CredentialsOf(int socket);

// One datagram-like record on a stream socket: `bytes` (at most kMaxRecord) and up to kMaxFds
// descriptors, sent without blocking. Unavailable when the socket buffer is full (the peer does
// not read), so no caller ever waits on a peer.
inline constexpr size_t kMaxRecord = 256;
inline constexpr size_t kMaxFds = 4;
absl::Status SendRecord(int socket, std::span<const std::byte> bytes, std::span<const int> fds);

struct Record {
  std::vector<std::byte> bytes;
  std::vector<UniqueFd> fds;
};
// Receives one record sent by SendRecord, waiting up to `timeout`. DeadlineExceeded on timeout,
// Unavailable when the peer closed. Descriptors beyond kMaxFds are closed, never leaked.
absl::StatusOr<Record> ReceiveRecord(int socket, absl::Duration timeout);

// A connected Unix stream socket to `path`, close-on-exec.
absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path);
// A listening, non-blocking Unix stream socket at `path` (an old file there is replaced).
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, mode_t mode);

}  // namespace jobd::shm
