// The control channels between the agent and its peers (client sessions and workers), in one
// tmpfs file beside the arena. The agent creates it and hands each peer a slot; a slot holds
// two message rings (up: peer to agent, down: agent to peer) and the doorbell the peer sleeps
// on. The agent sleeps on one doorbell in the header, rung by every peer, so one thread can
// serve every channel without a system call per message while it is busy.
//
// Slots are handed out by the agent alone (an ordinary in-process free list), so the file needs
// no cross-process allocation. Payloads never travel here: only control messages of a few
// hundred bytes that point at slabs in the arena.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "shm/doorbell.h"
#include "shm/message_ring.h"

namespace jobd::shm {

struct ChannelFileOptions {
  std::string path;
  uint32_t slots = 256;
  uint64_t ring_capacity = 16 * 1024;  // per direction; a power of two
  uint32_t mode = 0600;
};

// One slot as a process sees it. Cheap to copy; valid while its ChannelFile lives.
struct ChannelSlot {
  uint32_t index = 0;
  Doorbell* peer_bell = nullptr;
  MessageRing up{nullptr, nullptr, 0};
  MessageRing down{nullptr, nullptr, 0};
};

class ChannelFile {
 public:
  static absl::StatusOr<std::unique_ptr<ChannelFile>> Create(const ChannelFileOptions& options);
  // Maps a file another process created; checks magic, version and sizes.
  static absl::StatusOr<std::unique_ptr<ChannelFile>> Attach(const std::string& path);
  // The same in the first bytes of a memfd (a session's or worker's segment): the shape comes
  // from the creator, never from the header, which the peer can rewrite.
  static absl::StatusOr<std::unique_ptr<ChannelFile>> CreateInFile(int fd, uint32_t slots, uint64_t ring_capacity);
  static absl::StatusOr<std::unique_ptr<ChannelFile>> AttachToFile(int fd, uint32_t slots, uint64_t ring_capacity);
  static uint64_t BytesFor(uint32_t slots, uint64_t ring_capacity);
  ~ChannelFile();
  ChannelFile(const ChannelFile&) = delete;
  ChannelFile& operator=(const ChannelFile&) = delete;

  // The slot's rings and doorbell; OutOfRange for an index past the table.
  absl::StatusOr<ChannelSlot> Slot(uint32_t index);
  // Empties a slot's rings before the agent hands it to a new peer. Agent only.
  void Reset(uint32_t index);
  Doorbell& agent_bell();

  uint32_t slots() const { return slots_; }
  const std::string& path() const { return path_; }
  absl::Status Unlink();

 private:
  ChannelFile(std::string path, std::byte* base, uint64_t bytes, uint32_t slots, uint64_t ring_capacity);
  std::string path_;
  std::byte* base_;
  uint64_t bytes_;
  uint32_t slots_ = 0;
  uint64_t ring_capacity_ = 0;
  uint64_t slot_bytes_ = 0;
};

}  // namespace jobd::shm
