// One session with the agent: opening and closing it, sending jobs and cancels up its channel,
// and the stream's reader, which fails every pending job when the agent goes. How jobs end
// (draining the channel, completing futures, waiting) is in session_receive.cc.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/internal/session.h"
#include "client/internal/spin_cap.h"
#include "client/socket_path.h"
#include "proto/job_id.h"
#include "shm/status_macros.h"

namespace jobd::client {

using internal::Unavailable;

void JobFuture::Shared::FailAll(const absl::Status& status) {
  std::vector<std::shared_ptr<internal::PlainCondVar>> waiters;
  {
    internal::PlainMutexLock lock(&mu);
    for (auto& [seq, state] : pending) {
      state->done = true;
      state->status = status;
      if (std::shared_ptr<internal::PlainCondVar> waiter = EndedLocked(*state)) waiters.push_back(std::move(waiter));
    }
    pending.clear();
  }
  for (const std::shared_ptr<internal::PlainCondVar>& waiter : waiters) waiter->Signal();
}

void JobFuture::Shared::ReaderLoop() {
  pthread_setname_np(pthread_self(), "jobd-reader");
  pb::AgentMessage msg;
  // After the welcome the agent writes nothing on the stream (completions come through the
  // ring); its end is what this thread waits for.
  while (stream->Read(&msg)) {
    if (ring != nullptr) {
      stream_events.fetch_add(1);
      ring->Wake();
    }
  }
  // First `connected`, then FailAll, both seen under `mu` by Submit: a job is either refused
  // at Submit or in `pending` when FailAll runs, whatever the interleaving.
  std::function<void()> disconnected;
  {
    internal::PlainMutexLock lock(&mu);
    connected.store(false);
    disconnected = std::exchange(on_disconnect, nullptr);
  }
  FailAll(WithOutcome(absl::UnavailableError(absl::StrCat("connection to jobd at ", socket_path,
                                                          " lost while the job was pending")),
                      JobOutcome::kDisconnected));
  if (ring != nullptr) {
    stream_events.fetch_add(1);
    ring->Wake();
  }
  if (disconnected) disconnected();
}

namespace {

// A full ring means the agent is behind by a few hundred messages: it catches up within
// microseconds, so waiting keeps submits and cancels in order. The channel is the only way up;
// the stream carries nothing after the hello. `push`: () -> StatusOr<bool>, false when full.
template <typename Push>
bool PushWaitingForRoom(const std::atomic<bool>& connected, Push push) {
  absl::StatusOr<bool> sent = push();
  if (sent.ok() && *sent) return true;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (;;) {
    if (!sent.ok() || !connected.load() || absl::Now() > give_up) return false;
    absl::SleepFor(absl::Microseconds(20));
    sent = push();
    if (sent.ok() && *sent) return true;
  }
}

}  // namespace

bool JobFuture::Shared::SendLocked(const pb::ClientMessage& msg) {
  return PushWaitingForRoom(connected, [&] { return ring->TrySend(msg); });
}

ABSL_ATTRIBUTE_HOT
bool JobFuture::Shared::SendSubmitLocked(const State& state, const SubmitFields& f) {
  wire::SubmitFixed fixed{.seq = state.seq,
                          .timeout_ms = f.timeout_ms,
                          .client_sent_ns = state.timings.client_sent_ns,
                          .policy = f.policy,
                          .priority = f.priority};
  if (!state.request.is_null()) fixed.request = {state.request.bits(), f.request_size};
  if (state.piece != nullptr) fixed.shared = {state.piece->handle.bits(), f.piece_size};
  if (f.retry.max_attempts > 1) {
    fixed.retry_max_attempts = f.retry.max_attempts;
    fixed.retry_backoff_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(f.retry.backoff));
    fixed.retry_handler_errors = f.retry.retry_handler_errors;
  }
  return PushWaitingForRoom(connected, [&] { return ring->TrySendSubmit(fixed, state.type, f.context); });
}

void JobFuture::Shared::Close() {
  {
    internal::PlainMutexLock lock(&write_mu);
    if (connected.load()) stream->WritesDone();
  }
  stream_context.TryCancel();
  if (reader.joinable()) reader.join();
  // The reader has failed whatever was pending, so the watcher has nothing left to watch.
  {
    internal::PlainMutexLock lock(&mu);
    watcher_stop = true;
    watcher_cv.Signal();
  }
  watcher_stopping.store(true);
  if (ring != nullptr) ring->Wake();
  if (watcher.joinable()) watcher.join();
  (void)stream->Finish();
}


absl::StatusOr<std::shared_ptr<JobFuture::Shared>> JobFuture::Shared::Open(
    const ClientOptions& options, std::shared_ptr<internal::CompletionQueue> completions) {
  absl::StatusOr<std::optional<absl::Duration>> spin_cap =
      internal::SpinCap(options.max_spin, std::getenv("JOBD_CLIENT_SPIN_US"));
  if (!spin_cap.ok()) return spin_cap.status();
  auto shared = std::make_shared<JobFuture::Shared>();
  shared->completions = std::move(completions);
  shared->socket_path = options.socket_path.empty() ? DefaultSocketPath() : options.socket_path;
  if (access(shared->socket_path.c_str(), F_OK) != 0) {
    return Unavailable(absl::StrCat("no jobd agent: ", shared->socket_path,
                                    " does not exist (start jobd, or set JOBD_SOCKET)"));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  shared->channel = grpc::CreateCustomChannel(GrpcAddress(shared->socket_path),
                                              grpc::InsecureChannelCredentials(), args);
  if (!shared->channel->WaitForConnected(absl::ToChronoTime(absl::Now() + options.connect_timeout))) {
    return Unavailable(absl::StrCat("no jobd agent answers at ", shared->socket_path));
  }
  shared->stub = pb::Jobd::NewStub(shared->channel);
  shared->stream = shared->stub->Session(&shared->stream_context);
  pb::ClientMessage hello;
  hello.mutable_hello()->set_client_name(options.client_name);
  hello.mutable_hello()->set_pid(getpid());
  hello.mutable_hello()->set_lanes(true);
  hello.mutable_hello()->set_completion_records(true);
  pb::AgentMessage welcome;
  // A synchronous stream has no deadline per read, and a deadline on the context would end the
  // whole session: an agent that accepts the stream but never welcomes it (wedged, or not jobd
  // at all) is cut off by cancelling the stream after connect_timeout instead.
  bool welcomed = false;
  {
    absl::Notification answered;
    std::atomic<bool> timed_out{false};
    std::thread watchdog([&] {
      if (!answered.WaitForNotificationWithTimeout(options.connect_timeout)) {
        timed_out.store(true);
        shared->stream_context.TryCancel();
      }
    });
    welcomed = shared->stream->Write(hello) && shared->stream->Read(&welcome) && welcome.has_welcome();
    answered.Notify();
    watchdog.join();
    if (timed_out.load()) {
      (void)shared->stream->Finish();
      return Unavailable(absl::StrCat("jobd at ", shared->socket_path, " did not welcome the session within ",
                                      absl::FormatDuration(options.connect_timeout), " (connect_timeout)"));
    }
  }
  if (!welcomed) {
    grpc::Status st = shared->stream->Finish();
    return Unavailable(absl::StrCat("jobd at ", shared->socket_path,
                                    " refused the session: ", st.error_message()));
  }
  const pb::SessionWelcome& w = welcome.welcome();
  // The agent sends completions down this session's own segment: a client that cannot pick it
  // up must not start a session that would never hear back.
  absl::StatusOr<PickedUp> picked = PickUpSegment(w.segment());
  if (!picked.ok() || picked->segment->arena() == nullptr) {
    shared->stream_context.TryCancel();
    (void)shared->stream->Finish();
    return Unavailable(absl::StrCat("cannot pick up this session's shared memory from jobd: ",
                                    picked.ok() ? "it has no slabs" : picked.status().message()));
  }
  picked->side.Reset();  // a session needs nothing more from the side socket
  // The arena lives as long as the segment: the aliasing pointer keeps the segment mapped.
  std::shared_ptr<shm::Segment> segment = picked->segment;
  shared->arena = std::shared_ptr<shm::Arena>(segment, segment->arena());
  shared->session_id = w.session_id();
  shared->workers = w.workers();
  shared->max_payload = w.max_payload();
  shared->spin_window = internal::SpinWindow(absl::Microseconds(w.segment().spin_us()), *spin_cap);
  shared->ring = std::make_unique<PeerChannel>(std::move(*picked), shared->spin_window);
  shared->connected.store(true);
  JobFuture::Shared* raw = shared.get();
  shared->reader = std::thread([raw] { raw->ReaderLoop(); });
  return shared;
}


ABSL_ATTRIBUTE_HOT
absl::StatusOr<std::shared_ptr<JobFuture::State>> JobFuture::Shared::Submit(
    std::string_view type, size_t size, const JobClient::SlabWriter& write, const StartOptions& options,
    pb::Policy policy, const std::shared_ptr<SharedPiece>& piece, uint64_t piece_size) {
  if (!connected.load()) return Unavailable(absl::StrCat("connection to jobd at ", socket_path, " is lost"));
  if (size > max_payload) {
    return WithOutcome(absl::InvalidArgumentError(absl::StrCat("request of ", size,
                                                               " bytes exceeds the largest slab (", max_payload,
                                                               " bytes)")),
                       JobOutcome::kRejected);
  }
  if (options.timeout < absl::ZeroDuration()) {
    return WithOutcome(absl::InvalidArgumentError("timeout must not be negative"), JobOutcome::kRejected);
  }
  auto state = std::make_shared<JobFuture::State>();
  state->timings.client_start_ns = MonotonicNanos();
  state->seq = next_seq.fetch_add(1, std::memory_order_relaxed);
  if (state->seq == 0) state->seq = next_seq.fetch_add(1, std::memory_order_relaxed);
  state->job_id = MakeJobId(session_id, state->seq);
  state->type = std::string(type);
  state->piece = piece;

  SubmitFields f;
  if (size > 0) {
    auto slab = arena->AllocateWait(size, session_id, options.slab_wait);
    if (!slab.ok()) return WithOutcome(slab.status(), JobOutcome::kRejected);
    auto written = write(slab->data.first(size));
    if (!written.ok() || *written > size) {
      (void)arena->Free(slab->handle, session_id);
      if (!written.ok()) return WithOutcome(written.status(), JobOutcome::kRejected);
      return WithOutcome(absl::InvalidArgumentError("the writer reported more bytes than the slab holds"),
                         JobOutcome::kRejected);
    }
    state->request = slab->handle;
    f.request_size = *written;
  }
  if (piece != nullptr) f.piece_size = piece_size;
  f.policy = policy;
  f.timeout_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(options.timeout));
  f.priority = options.priority == Priority::kBatch ? pb::PRIORITY_BATCH : pb::PRIORITY_INTERACTIVE;
  f.context = options.context;
  if (before_start) before_start(type, f.context);
  f.retry = options.retry;
  // The lane takes simple jobs while the leased worker is free; otherwise the agent queues
  // them for any worker (the leased one is busy, and another may be idle).
  const bool lane_kind = policy == pb::POLICY_SIMPLE && piece == nullptr && options.retry.max_attempts <= 1;
  bool sent;
  {
    internal::PlainMutexLock wlock(&write_mu);
    bool via_lane = false;
    {
      internal::PlainMutexLock lock(&mu);
      if (!connected.load()) {
        FreeQuietly(state->request);
        return Unavailable(absl::StrCat("connection to jobd at ", socket_path, " is lost"));
      }
      pending[state->seq] = state;
      // Over the slab quota the agent refuses the job, with the quota named.
      if (lane_kind && lane_id != 0 && lane_inflight == 0 && lane_types.contains(state->type) &&
          (lane_max_slabs == 0 || arena->CountOwnedBy(session_id) <= lane_max_slabs)) {
        via_lane = true;
        state->lane = true;
        ++lane_inflight;
      }
      if (completions->poll_mode()) {
        // The event loop may never call Wait: someone must watch the ring for this job.
        StartWatcherLocked();
        watcher_cv.Signal();
      }
    }
    state->timings.client_sent_ns = MonotonicNanos();
    if (via_lane) {
      const wire::LaneSlab request{state->request.is_null() ? 0 : state->request.bits(), f.request_size};
      absl::StatusOr<bool> pushed = ring->TrySendLane(state->seq, state->type, request, f.timeout_ms,
                                                      state->timings.client_sent_ns, f.context);
      via_lane = pushed.ok() && *pushed;
      if (via_lane) {
        // Kept for the agent in case the lease ends before the worker takes it. CloseLane,
        // the only reader, needs write_mu, which we hold.
        state->lane_fields = std::move(f);
      } else {
        internal::PlainMutexLock lock(&mu);
        state->lane = false;
        if (lane_inflight > 0) --lane_inflight;
      }
    }
    sent = via_lane || SendSubmitLocked(*state, f);
  }
  if (!sent) {
    internal::PlainMutexLock lock(&mu);
    pending.erase(state->seq);
    FreeQuietly(state->request);
    return Unavailable(absl::StrCat("connection to jobd at ", socket_path, " is lost"));
  }
  return state;
}


}  // namespace jobd::client
