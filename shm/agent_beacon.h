// One page the agent writes and every peer maps read-only: whether the agent's pump is asleep.
// A peer that has just put a message in its up ring reads it and, only when the agent sleeps,
// writes the eventfd the agent gave it. Peers cannot write the page (the memfd is sealed against
// new writable mappings), so no peer can make the agent miss another peer's message.
//
// Ordering: the agent stores `sleeping` and then loads every ring head; a peer stores its ring
// head and then loads `sleeping`; all four are seq_cst, so at least one side sees the other.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "shm/unique_fd.h"

namespace jobd::shm {

class AgentBeacon {
 public:
  // The agent's: a writable mapping, then the seal that refuses every later writable one.
  static absl::StatusOr<std::unique_ptr<AgentBeacon>> Create();
  // A peer's: read-only.
  static absl::StatusOr<std::unique_ptr<AgentBeacon>> Attach(UniqueFd fd);
  ~AgentBeacon();
  AgentBeacon(const AgentBeacon&) = delete;
  AgentBeacon& operator=(const AgentBeacon&) = delete;

  bool sleeping() const { return word()->load(std::memory_order_seq_cst) != 0; }
  void SetSleeping(bool sleeping) { word()->store(sleeping ? 1 : 0, std::memory_order_seq_cst); }
  int fd() const { return fd_.get(); }

 private:
  AgentBeacon(UniqueFd fd, void* page) : fd_(std::move(fd)), page_(page) {}
  std::atomic<uint32_t>* word() const { return static_cast<std::atomic<uint32_t>*>(page_); }
  UniqueFd fd_;
  void* page_;
};

}  // namespace jobd::shm
