#include "client/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/peer_channel.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"
#include "shm/monotonic.h"
#include "shm/status_macros.h"

namespace jobd::client {

namespace pb = ::jobd::v1;

// How long a handler waits for memory to write its response in before the job fails with
// RESOURCE_EXHAUSTED (see ResponseBuffer).
constexpr absl::Duration kResponseMemoryWait = absl::Seconds(1);

absl::Status JobContext::Respond(std::span<const std::byte> bytes) {
  JOBD_ASSIGN_OR_RETURN(std::span<std::byte> buffer, ResponseBuffer(bytes.size()));
  if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
  return CommitResponse(bytes.size());
}

absl::Status JobContext::Respond(std::string_view bytes) {
  return Respond(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

absl::StatusOr<std::span<std::byte>> JobContext::ResponseBuffer(uint64_t capacity) {
  if (committed_ || responded_early_) return absl::FailedPreconditionError("the response was already sent");
  if (arena_ == nullptr) {  // local fallback: ordinary memory
    local_response_.resize(capacity);
    response_buffer_ = std::as_writable_bytes(std::span(local_response_.data(), local_response_.size()));
    return response_buffer_;
  }
  if (!response_.is_null()) {
    if (response_buffer_.size() >= capacity) return response_buffer_.first(capacity);
    (void)arena_->Free(response_, owner_);
    response_ = shm::Handle();
  }
  // The caller's segment may be full of its other jobs' requests for a moment: wait briefly for
  // memory rather than fail the answer. Not longer: the memory may be responses the caller holds
  // and will not release while it waits for this job, and a blocked worker runs nothing else.
  const absl::Duration wait =
      std::clamp(deadline_ - absl::Now(), absl::ZeroDuration(), kResponseMemoryWait);
  JOBD_ASSIGN_OR_RETURN(shm::Allocation slab, arena_->AllocateWait(capacity, owner_, wait));
  response_ = slab.handle;
  response_buffer_ = slab.data;
  return response_buffer_.first(capacity);
}

absl::Status JobContext::CommitResponse(uint64_t size) {
  if (committed_ || responded_early_) return absl::FailedPreconditionError("the response was already sent");
  if (size > response_buffer_.size()) {
    return absl::OutOfRangeError(absl::StrCat("response of ", size, " bytes exceeds its buffer of ",
                                              response_buffer_.size(), " bytes"));
  }
  response_size_ = size;
  committed_ = true;
  if (arena_ == nullptr) local_response_.resize(size);
  return absl::OkStatus();
}

absl::Status JobContext::RespondEarly(std::span<const std::byte> bytes) {
  JOBD_RETURN_IF_ERROR(Respond(bytes));
  if (!send_early_) return absl::OkStatus();  // local fallback: the response is returned at the end
  const shm::Handle h = response_;
  response_ = shm::Handle();  // the agent owns it now
  responded_early_ = true;
  return send_early_(h, response_size_);
}

absl::Status JobContext::RespondEarly(std::string_view bytes) {
  return RespondEarly(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

Worker::Worker() = default;
Worker::~Worker() = default;

void Worker::Handle(std::string type, Handler handler) { handlers_[std::move(type)] = std::move(handler); }

namespace {

absl::Status RunHandler(const Handler& handler, JobContext& ctx) {
  try {
    return handler(ctx);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("handler threw a non-standard exception");
  }
}

// What the reader threads share with the handler thread: cancels, and the session segments
// that arrive on the side socket.
struct Inbox {
  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint64_t running ABSL_GUARDED_BY(mu) = 0;
  // Cancels that came before their job left the ring.
  absl::flat_hash_set<uint64_t> cancelled_early ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint32_t, std::shared_ptr<shm::Segment>> segments ABSL_GUARDED_BY(mu);
  std::atomic<bool> cancelled{false};
  // Set when the agent goes away: the handler thread, asleep on the channel's doorbell, looks.
  std::atomic<bool> signal{false};
};

// The side socket: session segments ('X' + session id, one descriptor) and cancels ('C' + job
// id) from the agent, until the agent closes it.
void ReadSide(int side, const shm::SegmentShape& shape, Inbox& inbox, PeerChannel& ring) {
  for (;;) {
    // Shutting the socket down ends this wait, so it need not wake up to look.
    absl::StatusOr<shm::Record> r = shm::ReceiveRecord(side, absl::Minutes(1));
    if (r.status().code() == absl::StatusCode::kDeadlineExceeded) {
      absl::MutexLock lock(&inbox.mu);
      if (inbox.closed) return;
      continue;
    }
    if (!r.ok()) break;
    if (r->bytes.size() == 5 && r->bytes[0] == std::byte{'X'} && r->fds.size() == 1) {
      uint32_t id;
      std::memcpy(&id, r->bytes.data() + 1, 4);
      absl::StatusOr<std::unique_ptr<shm::Segment>> seg = shm::Segment::Attach(std::move(r->fds[0]), shape);
      absl::MutexLock lock(&inbox.mu);
      // A segment that does not attach is left out: the job that needs it fails with that.
      if (seg.ok()) inbox.segments[id] = std::move(*seg);
    } else if (r->bytes.size() == 9 && r->bytes[0] == std::byte{'C'}) {
      uint64_t id;
      std::memcpy(&id, r->bytes.data() + 1, 8);
      absl::MutexLock lock(&inbox.mu);
      if (id == inbox.running) {
        inbox.cancelled.store(true);
      } else {
        inbox.cancelled_early.insert(id);
      }
    }
  }
  {
    absl::MutexLock lock(&inbox.mu);
    inbox.closed = true;
  }
  inbox.signal.store(true);
  ring.Wake();
}

}  // namespace

absl::StatusOr<std::string> Worker::RunLocally(std::string_view type, std::string_view request,
                                               const std::map<std::string, std::string>& context) {
  auto it = handlers_.find(std::string(type));
  if (it == handlers_.end()) {
    return absl::NotFoundError(absl::StrCat("no local handler for job type '", std::string(type), "'"));
  }
  JobContext ctx;
  ctx.type_ = std::string(type);
  ctx.request_ = std::as_bytes(std::span(request.data(), request.size()));
  ctx.deadline_ = absl::InfiniteFuture();
  ctx.context_ = context;
  ctx.env_ = &env_;
  if (before_handle_) before_handle_(ctx);
  absl::Status status = RunHandler(it->second, ctx);
  if (after_handle_) after_handle_(ctx);
  JOBD_RETURN_IF_ERROR(status);
  if (!ctx.committed_) return std::string();
  return std::move(ctx.local_response_);
}

absl::Status Worker::Run(WorkerOptions options) {
  const std::string socket = options.socket_path.empty() ? DefaultSocketPath() : options.socket_path;
  std::string token = options.token;
  if (token.empty()) {
    const char* t = std::getenv("JOBD_WORKER_TOKEN");
    if (t == nullptr) {
      return absl::FailedPreconditionError("JOBD_WORKER_TOKEN is not set: workers are started by jobd");
    }
    token = t;
  }
  auto channel = grpc::CreateChannel(GrpcAddress(socket), grpc::InsecureChannelCredentials());
  auto stub = pb::Jobd::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Work(&context);

  pb::WorkerMessage hello;
  hello.mutable_hello()->set_token(token);
  hello.mutable_hello()->set_pid(getpid());
  for (const auto& [type, handler] : handlers_) hello.mutable_hello()->add_types(type);
  pb::AgentToWorker in;
  if (!stream->Write(hello) || !stream->Read(&in) || !in.has_welcome()) {
    grpc::Status st = stream->Finish();
    return absl::UnavailableError(absl::StrCat("jobd at ", socket, " refused the worker: ", st.error_message()));
  }
  const pb::WorkerWelcome& welcome = in.welcome();
  const shm::OwnerId owner = welcome.owner_id();
  shm::SegmentShape session_shape;
  JOBD_ASSIGN_OR_RETURN(session_shape.classes, shm::ParseSizeClasses(welcome.session_classes()));
  session_shape.ring_capacity = welcome.session_ring_capacity();
  // The agent sends assignments down this worker's own channel, so a worker that cannot pick it
  // up must not pretend to serve.
  JOBD_ASSIGN_OR_RETURN(PickedUp picked, PickUpSegment(welcome.segment()));
  shm::UniqueFd side = std::move(picked.side);
  auto ring = std::make_unique<PeerChannel>(std::move(picked), absl::Microseconds(welcome.segment().spin_us()));

  Inbox inbox;
  std::thread side_reader([&] { ReadSide(side.get(), session_shape, inbox, *ring); });
  // The stream carries nothing after the welcome: its end says the agent is gone.
  std::thread stream_reader([&] {
    pb::AgentToWorker msg;
    while (stream->Read(&msg)) {
    }
    {
      absl::MutexLock lock(&inbox.mu);
      inbox.closed = true;
    }
    inbox.signal.store(true);
    ring->Wake();
  });
  auto stop_readers = [&] {
    context.TryCancel();
    stream_reader.join();
    {
      absl::MutexLock lock(&inbox.mu);
      inbox.closed = true;
    }
    shutdown(side.get(), SHUT_RDWR);
    side_reader.join();
  };

  absl::Mutex write_mu;
  // A full ring means the agent is behind by a few hundred messages; it catches up quickly.
  auto write = [&](const pb::WorkerMessage& m) {
    absl::MutexLock lock(&write_mu);
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    for (;;) {
      absl::StatusOr<bool> sent = ring->TrySend(m);
      if (sent.ok() && *sent) return true;
      if (!sent.ok() || absl::Now() > give_up || inbox.signal.load()) return false;
      absl::SleepFor(absl::Microseconds(20));
    }
  };
  // The next assignment from the channel; false when the agent is gone.
  auto next = [&](pb::Assignment& a) -> absl::StatusOr<bool> {
    for (;;) {
      pb::AgentToWorker m;
      absl::StatusOr<bool> got = ring->TryReceive(m);
      if (!got.ok()) return got.status();
      if (*got) {
        if (m.has_forget()) {
          absl::MutexLock lock(&inbox.mu);
          inbox.segments.erase(m.forget().segment());
          continue;
        }
        if (!m.has_assignment()) continue;
        a = std::move(*m.mutable_assignment());
        absl::MutexLock lock(&inbox.mu);
        inbox.running = a.job_id();
        inbox.cancelled.store(inbox.cancelled_early.erase(a.job_id()) > 0);
        return true;
      }
      if (inbox.signal.load()) return false;
      // No timeout needed: the agent going away sets `signal` and rings this doorbell.
      ring->Wait([&] { return ring->HasData() || inbox.signal.load(); }, absl::Minutes(1));
    }
  };
  // The segment of the job's session: sent on the side socket before the job's assignment.
  auto segment_of = [&](uint32_t id) -> std::shared_ptr<shm::Segment> {
    absl::MutexLock lock(&inbox.mu);
    auto has = [&] { return inbox.segments.contains(id) || inbox.closed; };
    inbox.mu.AwaitWithTimeout(absl::Condition(&has), absl::Seconds(10));
    auto it = inbox.segments.find(id);
    return it == inbox.segments.end() ? nullptr : it->second;
  };
  bool stream_ok = true;
  while (stream_ok) {
    pb::Assignment a;
    absl::StatusOr<bool> got = next(a);
    if (!got.ok()) {
      stop_readers();
      return absl::DataLossError(absl::StrCat("channel to jobd broken: ", got.status().message()));
    }
    if (!*got) break;
    const int64_t received_ns = shm::MonotonicNanos();
    env_.Expire();
    pb::WorkerMessage out;
    pb::JobResult* result = out.mutable_result();
    result->set_job_id(a.job_id());

    std::shared_ptr<shm::Segment> segment = segment_of(a.segment());
    shm::Arena* arena = segment != nullptr ? segment->arena() : nullptr;
    JobContext ctx;
    ctx.arena_ = arena;
    ctx.owner_ = owner;
    ctx.job_id_ = a.job_id();
    ctx.type_ = a.type();
    ctx.attempt_ = a.attempt();
    ctx.deadline_ = absl::FromUnixMicros(a.deadline_unix_us());
    ctx.context_.insert(a.context().begin(), a.context().end());
    ctx.cancelled_ = &inbox.cancelled;
    ctx.env_ = &env_;
    ctx.send_early_ = [&, id = a.job_id()](shm::Handle h, uint64_t size) -> absl::Status {
      pb::WorkerMessage early;
      early.mutable_result()->set_job_id(id);
      early.mutable_result()->set_early(true);
      early.mutable_result()->mutable_response()->set_handle(h.bits());
      early.mutable_result()->mutable_response()->set_size(size);
      if (!write(early)) return absl::UnavailableError("connection to jobd lost");
      return absl::OkStatus();
    };

    absl::Status status;
    if (arena == nullptr) {
      status = absl::FailedPreconditionError(
          absl::StrCat("the shared memory of session ", a.segment(), " never reached this worker"));
    } else if (a.request().handle() != 0) {
      auto view = arena->Resolve(shm::Handle::FromBits(a.request().handle()), a.request().size());
      if (view.ok()) ctx.request_ = *view; else status = view.status();
    }
    if (status.ok() && arena != nullptr && a.shared().handle() != 0) {
      auto view = arena->Resolve(shm::Handle::FromBits(a.shared().handle()), a.shared().size());
      if (view.ok()) ctx.shared_ = *view; else status = view.status();
    }
    if (status.ok()) {
      auto it = handlers_.find(a.type());
      if (it == handlers_.end()) {
        status = absl::NotFoundError(absl::StrCat("this worker has no handler for job type '", a.type(), "'"));
      } else {
        if (before_handle_) before_handle_(ctx);
        status = RunHandler(it->second, ctx);
        if (after_handle_) after_handle_(ctx);
      }
    }
    if (status.ok() && ctx.committed_ && !ctx.response_.is_null()) {
      result->mutable_response()->set_handle(ctx.response_.bits());
      result->mutable_response()->set_size(ctx.response_size_);
    } else {
      if (!ctx.response_.is_null()) (void)arena->Free(ctx.response_, owner);
      if (!status.ok()) {
        result->set_code(static_cast<int>(status.code()));
        result->set_message(std::string(status.message()));
      }
    }
    {
      absl::MutexLock lock(&inbox.mu);
      inbox.running = 0;
    }
    *result->mutable_stamps() = a.stamps();
    result->mutable_stamps()->set_worker_received_ns(received_ns);
    result->mutable_stamps()->set_worker_done_ns(shm::MonotonicNanos());
    stream_ok = write(out);
  }
  stop_readers();
  grpc::Status st = stream->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
    return absl::UnavailableError(absl::StrCat("connection to jobd lost: ", st.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace jobd::client
