// A client's or worker's end of its shared-memory channel to the agent (one slot of the
// agent's shm::ChannelFile): messages go up the ring and ring the agent's doorbell; the agent's
// come down the other ring and ring ours. Internal to client/.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "proto/jobd.pb.h"
#include "shm/channel_file.h"

namespace jobd::client {

class PeerChannel {
 public:
  static absl::StatusOr<std::unique_ptr<PeerChannel>> Open(const v1::ChannelGrant& grant) {
    auto file = shm::ChannelFile::Attach(grant.path());
    if (!file.ok()) return file.status();
    auto slot = (*file)->Slot(grant.slot());
    if (!slot.ok()) return slot.status();
    return std::unique_ptr<PeerChannel>(
        new PeerChannel(std::move(*file), *slot, absl::Microseconds(grant.spin_us())));
  }

  // One sender at a time (the caller's lock). False when the ring is full right now.
  absl::StatusOr<bool> TrySend(const google::protobuf::MessageLite& message) {
    const size_t size = message.ByteSizeLong();
    absl::StatusOr<bool> pushed = slot_.up.TryPushWith(size, [&](std::span<std::byte> out) {
      message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data()));
    });
    if (pushed.ok() && *pushed) file_->agent_bell().Ring();
    return pushed;
  }

  // One receiver at a time. False when nothing is waiting; an error when the ring is corrupt
  // or the message malformed.
  absl::StatusOr<bool> TryReceive(google::protobuf::MessageLite& out) {
    bool parsed = true;
    absl::StatusOr<bool> popped = slot_.down.TryPop([&](std::span<const std::byte> bytes) {
      parsed = out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    });
    if (popped.ok() && *popped && !parsed) return absl::DataLossError("a malformed message from the agent");
    return popped;
  }

  bool HasData() const { return slot_.down.HasData(); }

  // Spins, then sleeps on this channel's doorbell until `ready()` or `timeout`.
  template <typename Ready>
  bool Wait(Ready ready, absl::Duration timeout) {
    return shm::SpinThenSleep(*slot_.peer_bell, ready, spin_, timeout);
  }
  // Wakes a thread of this process sleeping in Wait (something arrived another way).
  void Wake() { slot_.peer_bell->Ring(); }

 private:
  PeerChannel(std::unique_ptr<shm::ChannelFile> file, shm::ChannelSlot slot, absl::Duration spin)
      : file_(std::move(file)), slot_(slot), spin_(spin) {}

  std::unique_ptr<shm::ChannelFile> file_;
  shm::ChannelSlot slot_;
  absl::Duration spin_;
};

}  // namespace jobd::client
