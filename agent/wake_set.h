// What the pump sleeps on: an epoll set of tagged descriptors (the side socket, handshakes in
// progress, the peers' wake eventfds) plus its own eventfd, which any thread writes to wake it
// (a new peer, a backlog, stop). A tag says what a descriptor is, so a wake-up needs no lookup.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "shm/unique_fd.h"

namespace jobd::agent {

class WakeSet {
 public:
  enum class Tag : uint32_t { kWoken = 1, kListen, kHandshake, kPeer };
  struct Event {
    Tag tag;
    int fd;
  };

  static absl::StatusOr<std::unique_ptr<WakeSet>> Create();

  // Watches `fd` for reading under `tag`. False when the kernel refuses (the caller drops it).
  bool Add(Tag tag, int fd);
  void Remove(int fd);
  // Any thread: the next (or current) Wait returns at once with a kWoken event.
  void Wake();
  // Waits up to `timeout_ms` (-1: until something happens). kWoken events are drained here; a
  // kPeer eventfd too (its ring says what to do), so both only say "look". One waiting thread;
  // the events stay valid until its next Wait (no allocation per wake-up).
  std::span<const Event> Wait(int timeout_ms);

 private:
  WakeSet(shm::UniqueFd epoll, shm::UniqueFd woken) : epoll_(std::move(epoll)), woken_(std::move(woken)) {}
  static constexpr int kMaxEvents = 64;
  shm::UniqueFd epoll_;
  shm::UniqueFd woken_;
  Event events_[kMaxEvents];
};

}  // namespace jobd::agent
