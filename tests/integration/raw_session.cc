#include "tests/integration/raw_session.h"

#include <cstring>
#include <thread>

#include "absl/synchronization/notification.h"
#include "client/socket_path.h"

namespace jobd::testing {

RawSession::RawSession(const std::string& socket, const std::string& name, bool lanes)
    : channel_(grpc::CreateChannel(client::GrpcAddress(socket), grpc::InsecureChannelCredentials())),
      stub_(v1::Jobd::NewStub(channel_)),
      stream_(stub_->Session(&ctx_)) {
  v1::ClientMessage hello;
  hello.mutable_hello()->set_client_name(name);
  hello.mutable_hello()->set_lanes(lanes);
  if (!stream_->Write(hello) || !stream_->Read(&welcome_) || !welcome_.has_welcome()) return;
  absl::StatusOr<client::PickedUp> picked = client::PickUpSegment(welcome().segment());
  if (!picked.ok()) return;
  ring_ = std::make_unique<client::PeerChannel>(std::move(*picked), absl::ZeroDuration());
}

RawSession::~RawSession() {
  if (raw_ != nullptr) munmap(raw_, raw_bytes_);
  stream_->WritesDone();
  ctx_.TryCancel();
  (void)stream_->Finish();
}

std::span<std::byte> RawSession::SegmentBytes() {
  if (raw_ == nullptr) {
    raw_bytes_ = ring_->segment()->bytes();
    raw_ = mmap(nullptr, raw_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, ring_->segment()->fd(), 0);
  }
  return {static_cast<std::byte*>(raw_), raw_bytes_};
}

shm::Handle RawSession::Slab(uint64_t size) {
  auto a = arena().Allocate(size, id());
  return a.ok() ? a->handle : shm::Handle();
}

v1::Submit RawSession::Echo(uint32_t seq, const std::string& text) {
  v1::Submit s;
  s.set_seq(seq);
  s.set_type("echo");
  auto slab = arena().Allocate(text.size(), id());
  if (!slab.ok()) return s;  // no slab: the agent refuses the size without one
  std::memcpy(slab->data.data(), text.data(), text.size());
  s.mutable_request()->set_handle(slab->handle.bits());
  s.mutable_request()->set_size(text.size());
  return s;
}

bool RawSession::Push(const v1::ClientMessage& m) {
  absl::StatusOr<bool> ok = ring_->TrySend(m);
  ring_->WakeAgent();
  return ok.ok() && *ok;
}

bool RawSession::Send(const v1::Submit& s) {
  v1::ClientMessage m;
  *m.mutable_submit() = s;
  return Push(m);
}

bool RawSession::SendRecord(const v1::Submit& s) {
  const wire::SubmitFixed fixed{.seq = s.seq(),
                                .request = {s.request().handle(), s.request().size()},
                                .shared = {s.shared().handle(), s.shared().size()},
                                .timeout_ms = s.timeout_ms(),
                                .client_sent_ns = s.stamps().client_sent_ns(),
                                .policy = s.policy(),
                                .priority = s.priority(),
                                .retry_max_attempts = s.retry().max_attempts(),
                                .retry_backoff_ms = s.retry().backoff_ms(),
                                .retry_handler_errors = s.retry().retry_handler_errors()};
  absl::StatusOr<bool> ok = ring_->TrySendSubmit(fixed, s.type(), s.context());
  ring_->WakeAgent();
  return ok.ok() && *ok;
}

bool RawSession::PushBytes(std::span<const std::byte> bytes) {
  absl::StatusOr<bool> ok = ring_->slot().up.TryPush(bytes);
  ring_->WakeAgent();
  return ok.ok() && *ok;
}

std::optional<v1::AgentMessage> RawSession::PopDown(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    v1::AgentMessage m;
    absl::StatusOr<bool> got = ring_->TryReceive(m);
    if (got.ok() && *got) return m;
    ring_->Wait([&] { return ring_->HasData(); }, absl::Milliseconds(20));
  }
  return std::nullopt;
}

v1::Completion RawSession::Read(absl::Duration timeout) {
  std::optional<v1::AgentMessage> m = PopDown(timeout);
  return m.has_value() ? m->completion() : v1::Completion();
}

v1::Completion RawSession::Submit(const v1::Submit& s, bool as_record) {
  if (!(as_record ? SendRecord(s) : Send(s))) return {};
  return Read();
}

bool RawSession::StreamEnds(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  // A started call's deadline cannot be moved: a watchdog cancels it instead.
  absl::Notification ended;
  std::thread watchdog([&] {
    if (!ended.WaitForNotificationWithDeadline(until)) ctx_.TryCancel();
  });
  v1::AgentMessage m;
  while (stream_->Read(&m)) {
  }
  ended.Notify();
  watchdog.join();
  return absl::Now() < until;
}

std::string RawSession::ResponseText(const v1::Completion& c) {
  auto view = arena().Resolve(shm::Handle::FromBits(c.response().handle()), c.response().size());
  if (!view.ok()) return "<bad handle>";
  return {reinterpret_cast<const char*>(view->data()), view->size()};
}

}  // namespace jobd::testing
