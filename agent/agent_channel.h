// The agent's end of one peer's shared-memory channel (a slot of shm::ChannelFile). Sends go
// down the ring and ring the peer's doorbell; the pump thread (agent_pump.cc) drains the up
// ring. When the down ring is full, or the peer has broken the ring, the sender falls back to
// the gRPC stream, which every peer also reads.
#pragma once

#include <atomic>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "google/protobuf/message_lite.h"
#include "shm/channel_file.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

class AgentChannel {
 public:
  // `release` gives the slot back when the channel is gone (no pump still reads it by then).
  AgentChannel(shm::ChannelSlot slot, std::function<void(uint32_t)> release)
      : slot_(slot), release_(std::move(release)) {}
  ~AgentChannel() {
    if (release_) release_(slot_.index);
  }
  AgentChannel(const AgentChannel&) = delete;
  AgentChannel& operator=(const AgentChannel&) = delete;

  // True when `message` went down the ring; false when it must take the stream instead.
  bool TrySend(const google::protobuf::MessageLite& message) {
    if (broken_.load(std::memory_order_relaxed)) return false;
    const size_t size = message.ByteSizeLong();
    absl::StatusOr<bool> pushed;
    {
      absl::MutexLock lock(&send_mu_);
      pushed = slot_.down.TryPushWith(size, [&](std::span<std::byte> out) {
        message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data()));
      });
    }
    if (!pushed.ok()) {
      Break(pushed.status());
      return false;
    }
    if (*pushed) slot_.peer_bell->Ring();
    return *pushed;
  }

  // The up ring; the pump alone consumes it.
  shm::MessageRing& up() { return slot_.up; }
  uint32_t index() const { return slot_.index; }

  // The peer broke the ring's invariants: nothing more goes through it.
  void Break(const absl::Status& why) {
    if (!broken_.exchange(true)) spdlog::warn("channel slot {} abandoned: {}", slot_.index, why.ToString());
  }
  bool broken() const { return broken_.load(std::memory_order_relaxed); }

 private:
  shm::ChannelSlot slot_;
  std::function<void(uint32_t)> release_;
  absl::Mutex send_mu_;  // the down ring has one producer at a time
  std::atomic<bool> broken_{false};
};

}  // namespace jobd::agent
