// A client's or worker's end of its channel to the agent: the ring pair in its own segment.
// Messages go up the ring, and the agent is woken through its eventfd only when its beacon says
// it sleeps; the agent's messages come down the other ring and ring our doorbell. Internal to
// client/.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "proto/jobd.pb.h"
#include "proto/ring_messages.h"
#include "proto/side_records.h"
#include "shm/agent_beacon.h"
#include "shm/doorbell.h"
#include "shm/fd_passing.h"
#include "shm/monotonic.h"
#include "shm/segment.h"
#include "shm/size_classes.h"
#include "shm/spin_policy.h"

namespace jobd::client {

// What the side socket hands a peer: its segment, mapped, and the means to wake the agent.
struct PickedUp {
  std::shared_ptr<shm::Segment> segment;
  shm::UniqueFd wake;
  std::unique_ptr<shm::AgentBeacon> beacon;
  shm::UniqueFd side;  // still open: workers receive session segments on it
};

// Connects to the side socket, presents the grant's token and maps what comes back.
inline absl::StatusOr<PickedUp> PickUpSegment(const v1::SegmentGrant& grant) {
  absl::StatusOr<shm::UniqueFd> side = shm::ConnectUnix(grant.side_socket());
  if (!side.ok()) return side.status();
  const std::string& token = grant.token();
  if (absl::Status s = shm::SendRecord(side->get(), std::as_bytes(std::span(token.data(), token.size())), {});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<shm::Record> record = shm::ReceiveRecord(side->get(), absl::Seconds(10));
  if (!record.ok()) return record.status();
  const std::optional<wire::SideRecord> kind = wire::DecodeSideRecord(record->bytes, record->fds.size());
  if (!kind.has_value() || kind->kind != wire::SideKind::kPeerSegment) {
    return absl::FailedPreconditionError("the agent's side socket answered with something other than a segment");
  }
  shm::SegmentShape shape;
  if (!grant.classes().empty()) {
    absl::StatusOr<std::vector<shm::SizeClass>> classes = shm::ParseSizeClasses(grant.classes());
    if (!classes.ok()) return classes.status();
    shape.classes = std::move(*classes);
  }
  shape.ring_capacity = grant.ring_capacity();
  absl::StatusOr<std::unique_ptr<shm::Segment>> segment = shm::Segment::Attach(std::move(record->fds[0]), shape);
  if (!segment.ok()) return segment.status();
  absl::StatusOr<std::unique_ptr<shm::AgentBeacon>> beacon = shm::AgentBeacon::Attach(std::move(record->fds[2]));
  if (!beacon.ok()) return beacon.status();
  PickedUp out;
  out.segment = std::move(*segment);
  out.wake = std::move(record->fds[1]);
  out.beacon = std::move(*beacon);
  out.side = std::move(*side);
  return out;
}

class PeerChannel {
 public:
  PeerChannel(PickedUp picked, absl::Duration spin)
      : segment_(std::move(picked.segment)),
        wake_(std::move(picked.wake)),
        beacon_(std::move(picked.beacon)),
        slot_(segment_->channel()),
        lane_(segment_->lane()),
        spin_policy_(spin) {}

  // One sender at a time (the caller's lock). False when the ring is full right now.
  // `wake_agent` false: the agent reads it when it next wakes (a worker's lane reports).
  absl::StatusOr<bool> TrySend(const google::protobuf::MessageLite& message, bool wake_agent = true) {
    return Pushed(wire::PushMessage(slot_.up, message), wake_agent);
  }
  // A worker's report of a lane job (proto/lane_records.h), up the same ring.
  absl::StatusOr<bool> TrySendLaneReport(const wire::LaneReport& report, bool wake_agent) {
    return Pushed(wire::PushLaneReport(slot_.up, report), wake_agent);
  }

  // A job for the agent as a fixed record (proto/session_records.h). One sender at a time.
  template <typename StringMap>
  absl::StatusOr<bool> TrySendSubmit(const wire::SubmitFixed& fixed, absl::string_view type,
                                     const StringMap& context) {
    return Pushed(wire::PushSubmitRecord(slot_.up, fixed, type, context), /*wake_agent=*/true);
  }

  // A worker's end of a job (proto/worker_records.h), up the same ring.
  absl::StatusOr<bool> TrySendResult(const wire::ResultRecord& result) {
    return Pushed(wire::PushResultRecord(slot_.up, result), /*wake_agent=*/true);
  }

  // One receiver at a time. False when nothing is waiting; an error when the ring is corrupt
  // or the message malformed.
  absl::StatusOr<bool> TryReceive(google::protobuf::MessageLite& out) {
    return Pop(slot_.down, out, "a malformed message from the agent");
  }
  // A session's channel: an AgentMessage, or a CompletionRecord (`*is_record`).
  absl::StatusOr<bool> TryReceiveOrCompletion(google::protobuf::MessageLite& out, wire::CompletionRecord& record,
                                              bool* is_record) {
    return wire::PopMessageOrCompletion(slot_.down, out, record, is_record, nullptr,
                                        "a malformed message from the agent");
  }

  // A worker's channel: an AgentToWorker, or an AssignmentRecord (`*is_record`).
  absl::StatusOr<bool> TryReceiveOrAssignment(google::protobuf::MessageLite& out, wire::AssignmentRecord& record,
                                              bool* is_record) {
    return wire::PopMessageOrAssignment(slot_.down, out, record, is_record, nullptr,
                                        "a malformed message from the agent");
  }

  bool HasData() const { return slot_.down.HasData() || (has_lane() && lane_.down.HasData()); }

  // A session's lane to a leased worker (see shm/segment.h).
  bool has_lane() const { return lane_.peer_bell != nullptr; }
  // Up the lane to the leased worker, as a lane record (proto/lane_records.h), ringing its
  // doorbell. One sender at a time.
  template <typename StringMap>
  absl::StatusOr<bool> TrySendLane(uint32_t seq, absl::string_view type, wire::LaneSlab request, uint64_t timeout_ms,
                                   int64_t client_sent_ns, const StringMap& context) {
    absl::StatusOr<bool> pushed = wire::PushLaneJob(lane_.up, seq, type, request, timeout_ms, client_sent_ns, context);
    if (pushed.ok() && *pushed) lane_.peer_bell->Ring();
    return pushed;
  }
  // The leased worker's answers. One receiver at a time (the ring's consumer).
  absl::StatusOr<bool> TryReceiveLane(wire::LaneAnswer& out) {
    return wire::PopLaneAnswer(lane_.down, out, "a malformed answer from the leased worker");
  }

  // Spins (when recent waits were short: shm::SpinPolicy), then sleeps on this channel's
  // doorbell until `ready()` or `timeout`. One waiter at a time (the caller's rule).
  template <typename Ready>
  bool Wait(Ready ready, absl::Duration timeout) {
    return WaitOn(*slot_.peer_bell, ready, timeout);
  }
  // The same on another doorbell (a leased worker sleeps on its lane's), with this channel's
  // spin policy.
  template <typename Ready>
  bool WaitOn(shm::Doorbell& bell, Ready ready, absl::Duration timeout) {
    return shm::WaitWithPolicy(bell, ready, spin_policy_, timeout);
  }
  uint64_t up_used() const { return slot_.up.used(); }
  uint64_t up_capacity() const { return slot_.up.capacity(); }

  // Wakes a thread of this process sleeping in Wait (something arrived another way).
  void Wake() {
    slot_.peer_bell->seq.fetch_add(1, std::memory_order_seq_cst);
    shm::internal::FutexWakeAll(&slot_.peer_bell->seq);
  }

  const std::shared_ptr<shm::Segment>& segment() const { return segment_; }
  shm::ChannelSlot& slot() { return slot_; }
  // Wakes the agent whatever its beacon says (for tests that push by hand).
  void WakeAgent() {
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof one);
  }

 private:
  absl::StatusOr<bool> Pushed(absl::StatusOr<bool> pushed, bool wake_agent) {
    // The push's seq_cst store, then this seq_cst load: see shm/agent_beacon.h.
    if (pushed.ok() && *pushed && wake_agent && beacon_->sleeping()) {
      const uint64_t one = 1;
      (void)!write(wake_.get(), &one, sizeof one);
    }
    return pushed;
  }
  // In place: only the agent and the leased worker write these rings (and this process, which
  // can only hurt itself).
  static absl::StatusOr<bool> Pop(shm::MessageRing& ring, google::protobuf::MessageLite& out, const char* malformed) {
    return wire::PopMessage(ring, out, nullptr, malformed);
  }

  std::shared_ptr<shm::Segment> segment_;
  shm::UniqueFd wake_;
  std::unique_ptr<shm::AgentBeacon> beacon_;
  shm::ChannelSlot slot_;
  shm::ChannelSlot lane_;
  shm::SpinPolicy spin_policy_;
};

}  // namespace jobd::client
