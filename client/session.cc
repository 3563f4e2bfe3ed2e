// One session with the agent: opening it, sending up the channel or the stream, completing
// futures from either, and waiting while one waiter drains the channel for all.
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
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
#include "proto/wire_status.h"
#include "shm/status_macros.h"
#include "shm/wall_clock.h"

namespace jobd::client {

using internal::FromProto;
using internal::Unavailable;

JobEnd JobFuture::Shared::EndOf(const pb::Completion& c) {
  const pb::Stamps& st = c.stamps();
  return JobEnd{.seq = c.seq(),
                .outcome = c.outcome(),
                .code = c.code(),
                .message = c.message(),
                .response = shm::Handle::FromBits(c.response().handle()),
                .response_size = c.response().size(),
                .agent_received_ns = st.agent_received_ns(),
                .agent_dispatched_ns = st.agent_dispatched_ns(),
                .worker_received_ns = st.worker_received_ns(),
                .worker_done_ns = st.worker_done_ns(),
                .agent_result_ns = st.agent_result_ns(),
                .agent_sent_ns = st.agent_sent_ns()};
}

JobEnd JobFuture::Shared::EndOf(const wire::CompletionRecord& c) {
  return JobEnd{.seq = c.seq,
                .outcome = static_cast<pb::Outcome>(c.outcome),
                .code = c.code,
                .message = c.message,
                .response = shm::Handle::FromBits(c.response.handle),
                .response_size = c.response.size,
                .agent_received_ns = c.agent_received_ns,
                .agent_dispatched_ns = c.agent_dispatched_ns,
                .worker_received_ns = c.worker_received_ns,
                .worker_done_ns = c.worker_done_ns,
                .agent_result_ns = c.agent_result_ns,
                .agent_sent_ns = c.agent_sent_ns};
}

ABSL_ATTRIBUTE_HOT
void JobFuture::Shared::Complete(const JobEnd& end, bool from_lane) {
  const shm::Handle response = end.response;
  std::shared_ptr<State> state;
  {
    internal::PlainMutexLock lock(&mu);
    // The leased worker hands its answer to the lane's own owner before sending it (so that its
    // exit cannot take the answer with it): taking it from there proves it came down the lane,
    // and is none of this session's own live slabs.
    absl::Status taken_over;
    if (from_lane && !response.is_null()) taken_over = arena->Transfer(response, lane_answer_owner, session_id);
    auto it = pending.find(end.seq);
    if (it == pending.end() || (from_lane && !it->second->lane)) {
      // Nobody will read it: a duplicate, a lane answer after the agent ended the job (its
      // deadline), or a job whose future was dropped and already erased.
      if (taken_over.ok()) FreeQuietly(response);
      return;
    }
    state = std::move(it->second);
    pending.erase(it);
    state->done = true;
    state->timings.agent_received_ns = end.agent_received_ns;
    state->timings.agent_dispatched_ns = end.agent_dispatched_ns;
    state->timings.worker_received_ns = end.worker_received_ns;
    state->timings.worker_done_ns = end.worker_done_ns;
    state->timings.agent_result_ns = end.agent_result_ns;
    state->timings.agent_sent_ns = end.agent_sent_ns;
    state->timings.client_received_ns = MonotonicNanos();
    if (end.outcome == pb::OUTCOME_OK && !taken_over.ok()) {
      state->status = WithOutcome(absl::DataLossError(absl::StrCat("the leased worker's answer is not a slab it handed to the lane: ",
                                                                  taken_over.message())),
                                  JobOutcome::kWorkerDied);
    } else if (end.outcome == pb::OUTCOME_OK) {
      state->status = absl::OkStatus();
      state->response = response;
      state->response_size = end.response_size;
    } else {
      state->status = WithOutcome(wire::FailureFromWire(end.code, end.message), FromProto(end.outcome));
      FreeQuietly(response);
    }
    if (state->lane) {
      // A lane job's request never left the session.
      FreeQuietly(state->request);
      state->lane = false;
      if (lane_inflight > 0) --lane_inflight;
    } else if (end.outcome == pb::OUTCOME_REJECTED) {
      // The agent never took the request slab: it is still ours.
      FreeQuietly(state->request);
    }
    state->request = shm::Handle();
    // The agent hands a start-multi piece back once the batch's jobs have ended; the last
    // answer dropping it frees it (SharedPiece).
    state->piece.reset();
    if (state->abandoned) {
      FreeQuietly(state->response);
      state->response = shm::Handle();
    }
    EndedLocked(*state);
  }
}

ABSL_ATTRIBUTE_HOT
absl::StatusOr<Response> JobFuture::Shared::TakeLocked(State& state) {
  if (!state.status.ok()) return state.status;
  if (state.taken) return absl::FailedPreconditionError("the response was already taken");
  state.taken = true;
  state.timings.client_woken_ns = MonotonicNanos();
  std::span<const std::byte> bytes;
  if (!state.response.is_null()) {
    auto view = arena->Resolve(state.response, state.response_size, session_id);
    if (!view.ok()) {
      FreeQuietly(state.response);
      state.response = shm::Handle();
      return view.status();
    }
    bytes = *view;
  }
  return Response(arena, session_id, state.response, bytes);
}

ABSL_ATTRIBUTE_HOT
void JobFuture::Shared::EndedLocked(State& state) {
  if (state.callback != nullptr) {
    --async_pending;
    completions->Push(std::move(state.callback), TakeLocked(state));
    state.callback = nullptr;
    return;
  }
  WakeLocked(state);
  if (completions->poll_mode()) completions->Notify();  // inline check: the Wait path pays one load
}

void JobFuture::Shared::OnDone(const std::shared_ptr<State>& state, internal::CompletionQueue::Callback callback) {
  absl::StatusOr<Response> result;
  {
    internal::PlainMutexLock lock(&mu);
    if (!state->done) {
      state->callback = std::move(callback);
      ++async_pending;
      StartWatcherLocked();
      watcher_cv.Signal();
      return;
    }
    result = TakeLocked(*state);
  }
  internal::CompletionQueue::Invoke(callback, std::move(result));
}

void JobFuture::Shared::StartWatcherLocked() {
  if (watcher_started || watcher_stop || ring == nullptr) return;
  watcher_started = true;
  watcher = std::thread([this] { WatcherLoop(); });
}

void JobFuture::Shared::WatcherLoop() {
  pthread_setname_np(pthread_self(), "jobd-watcher");
  mu.Lock();
  while (!watcher_stop) {
    if (!WatchWantedLocked()) {
      watcher_cv.Wait(&mu);
      continue;
    }
    if (consuming) {
      // A waiter drains for everyone now. The slice bounds how long a hand-off that skipped
      // the watcher (the leaving drainer woke a follower that no longer needed the ring) can
      // leave the ring unwatched.
      watcher_cv.WaitWithTimeout(&mu, absl::Milliseconds(20));
      continue;
    }
    consuming = true;
    mu.Unlock();
    DrainRing();
    const uint64_t events = stream_events.load();
    ring->Wait(
        [&] { return ring->HasData() || stream_events.load() != events || watcher_stopping.load(); },
        absl::Milliseconds(20));
    DrainRing();
    mu.Lock();
    ReleaseConsumerLocked();
  }
  mu.Unlock();
}

void JobFuture::Shared::FailAll(const absl::Status& status) {
  internal::PlainMutexLock lock(&mu);
  for (auto& [seq, state] : pending) {
    state->done = true;
    state->status = status;
    EndedLocked(*state);
  }
  pending.clear();
}

void JobFuture::Shared::ReaderLoop() {
  pthread_setname_np(pthread_self(), "jobd-reader");
  pb::AgentMessage msg;
  while (stream->Read(&msg)) {
    if (msg.has_completion()) Complete(EndOf(msg.completion()));
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

ABSL_ATTRIBUTE_HOT
void JobFuture::Shared::DrainRing() {
  pb::AgentMessage& msg = drained;
  for (;;) {
    // The lane first: a lane job's answer is there before anything the agent says about it.
    DrainLane();
    bool is_record = false;
    absl::StatusOr<bool> got = ring->TryReceiveOrCompletion(msg, drained_record, &is_record);
    if (got.ok() && *got && is_record &&
        (drained_record.outcome < pb::Outcome_MIN || drained_record.outcome > pb::Outcome_MAX)) {
      got = absl::DataLossError("a completion's outcome is unknown");
    }
    if (!got.ok()) {
      // The agent never writes a broken ring: end the session rather than guess.
      stream_context.TryCancel();
      return;
    }
    if (!*got) return;
    if (is_record) {
      Complete(EndOf(drained_record));
      continue;
    }
    switch (msg.msg_case()) {
      case pb::AgentMessage::kCompletion: Complete(EndOf(msg.completion())); break;
      case pb::AgentMessage::kLaneOpen: OpenLane(msg.lane_open()); break;
      case pb::AgentMessage::kLaneClosed: CloseLane(msg.lane_closed()); break;
      default: break;
    }
  }
}

ABSL_ATTRIBUTE_HOT
void JobFuture::Shared::DrainLane() {
  if (!ring->has_lane()) return;
  wire::LaneAnswer& answer = lane_answer;
  for (;;) {
    absl::StatusOr<bool> got = ring->TryReceiveLane(answer);
    // A worker never writes a broken lane either: end the session rather than guess.
    if (got.ok() && *got && (answer.outcome < pb::Outcome_MIN || answer.outcome > pb::Outcome_MAX)) {
      got = absl::DataLossError("an answer's outcome is unknown");
    }
    if (!got.ok()) {
      stream_context.TryCancel();
      return;
    }
    if (!*got) return;
    Complete(JobEnd{.seq = answer.seq,
                    .outcome = static_cast<pb::Outcome>(answer.outcome),
                    .code = answer.code,
                    .message = answer.message,
                    .response = shm::Handle::FromBits(answer.response.handle),
                    .response_size = answer.response.size,
                    .worker_received_ns = answer.worker_received_ns,
                    .worker_done_ns = answer.worker_done_ns},
             /*from_lane=*/true);
  }
}

void JobFuture::Shared::OpenLane(const pb::LaneOpen& open) {
  internal::PlainMutexLock lock(&mu);
  lane_id = open.lane();
  lane_answer_owner = open.answer_owner();
  lane_types.clear();
  lane_types.insert(open.types().begin(), open.types().end());
  lane_max_slabs = open.max_slabs();
  lane_inflight = 0;
}

void JobFuture::Shared::CloseLane(const pb::LaneClosed& closed) {
  DrainLane();
  std::vector<std::shared_ptr<State>> resend;
  internal::PlainMutexLock wlock(&write_mu);
  {
    internal::PlainMutexLock lock(&mu);
    if (closed.lane() != lane_id) return;
    lane_id = 0;
    lane_types.clear();
    lane_inflight = 0;
    for (auto& [seq, state] : pending) {
      if (!state->lane || state->done) continue;
      state->lane = false;  // the agent's job now: it frees the request
      resend.push_back(state);
    }
  }
  for (const std::shared_ptr<State>& state : resend) {
    // lane_fields are read under write_mu, which we hold.
    if (!SendSubmitLocked(*state, state->lane_fields)) {
      stream_context.TryCancel();  // the session is lost: its end fails every pending job
      return;
    }
  }
}

ABSL_ATTRIBUTE_HOT
bool JobFuture::Shared::AwaitLocked(std::span<State* const> watched, absl::Time deadline) {
  // Not a std::function: its handler would be one more out-of-line page on every wait.
  auto cond = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (State* st : watched) {
      if (st->done) return true;
    }
    return false;
  };
  while (!cond()) {
    const absl::Time now = shm::WallNow();
    if (now >= deadline) return false;
    const absl::Time slice = std::min(deadline, now + absl::Milliseconds(20));
    if (ring != nullptr && !consuming) {
      consuming = true;
      mu.Unlock();
      DrainRing();
      mu.Lock();
      const bool done = cond();
      mu.Unlock();
      if (!done) {
        const uint64_t events = stream_events.load();
        ring->Wait([&] { return ring->HasData() || stream_events.load() != events; }, slice - now);
        DrainRing();
      }
      mu.Lock();
      ReleaseConsumerLocked();  // the next drainer
      continue;
    }
    internal::PlainCondVar cv;
    for (State* st : watched) st->waiter = &cv;
    followers.push_back(&cv);
    cv.WaitWithDeadline(&mu, ring != nullptr ? slice : deadline);
    followers.erase(std::find(followers.begin(), followers.end(), &cv));
    for (State* st : watched) {
      if (st->waiter == &cv) st->waiter = nullptr;
    }
  }
  return true;
}

void JobFuture::Shared::PollRing() {
  if (ring == nullptr || !ring->HasData()) return;
  {
    internal::PlainMutexLock lock(&mu);
    if (consuming) return;
    consuming = true;
  }
  DrainRing();
  internal::PlainMutexLock lock(&mu);
  ReleaseConsumerLocked();
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
