// A client session spoken by hand, past every check of the SDK: the hello, the side-socket
// pickup of its own segment, then submits up the ring and completions down it. Bad-input and
// hostile-client tests use it to send what the SDK never would, and to scribble on the memory
// the session was given.
#pragma once

#include <sys/mman.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "client/peer_channel.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"
#include "shm/arena.h"

namespace jobd::testing {

class RawSession {
 public:
  // `lanes`: the hello says the session takes leases (LaneOpen may then come down the ring).
  explicit RawSession(const std::string& socket, const std::string& name = "by-hand", bool lanes = false);
  ~RawSession();

  bool ok() const { return ring_ != nullptr; }
  const v1::SessionWelcome& welcome() const { return welcome_.welcome(); }
  uint32_t id() const { return welcome().session_id(); }
  shm::Arena& arena() { return *ring_->segment()->arena(); }
  shm::ChannelSlot& slot() { return ring_->slot(); }
  // The lane to a leased worker (up: to the worker; its doorbell), in this session's segment.
  shm::ChannelSlot lane() { return ring_->segment()->lane(); }
  // The whole segment, mapped writable, for tests that scribble on it.
  std::span<std::byte> SegmentBytes();

  shm::Handle Slab(uint64_t size = 10);
  v1::Submit Echo(uint32_t seq, const std::string& text);
  // Up the ring (and the agent woken); false when the ring is full.
  bool Push(const v1::ClientMessage& m);
  bool Send(const v1::Submit& s);
  // The same job as a SubmitRecord (proto/session_records.h), as the SDK sends it.
  bool SendRecord(const v1::Submit& s);
  // Any bytes up the ring, as one entry.
  bool PushBytes(std::span<const std::byte> bytes);
  // The next message down the ring, waiting up to `timeout`.
  std::optional<v1::AgentMessage> PopDown(absl::Duration timeout);
  // The next completion (an empty one after `timeout`).
  v1::Completion Read(absl::Duration timeout = absl::Seconds(30));
  // Completions come back as messages: this session's hello does not ask for records.
  v1::Completion Submit(const v1::Submit& s, bool as_record = false);
  void WakeAgent() { ring_->WakeAgent(); }
  // True when the agent ended the stream within `timeout`.
  bool StreamEnds(absl::Duration timeout);
  std::string ResponseText(const v1::Completion& c);
  // Writes on the gRPC stream (where only the hello belongs).
  bool WriteStream(const v1::ClientMessage& m) { return stream_->Write(m); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Jobd::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientMessage, v1::AgentMessage>> stream_;
  v1::AgentMessage welcome_;
  std::unique_ptr<client::PeerChannel> ring_;
  void* raw_ = nullptr;
  size_t raw_bytes_ = 0;
};

}  // namespace jobd::testing
