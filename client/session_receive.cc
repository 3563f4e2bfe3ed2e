// How a session's jobs end, on the receiving side: one waiter at a time drains the session's
// channel and its lane, completing every pending job's future (its own and other threads');
// the rest wait their turn, or a watcher thread drains for callbacks and the poll fd. Lanes open
// and close here too: their news comes down the same channel.
#include <pthread.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/internal/session.h"
#include "proto/wire_status.h"
#include "shm/wall_clock.h"

namespace jobd::client {

using internal::FromProto;

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

JobEnd JobFuture::Shared::EndOf(const wire::LaneAnswer& a) {
  return JobEnd{.seq = a.seq,
                .outcome = static_cast<pb::Outcome>(a.outcome),
                .code = a.code,
                .message = a.message,
                .response = shm::Handle::FromBits(a.response.handle),
                .response_size = a.response.size,
                .worker_received_ns = a.worker_received_ns,
                .worker_done_ns = a.worker_done_ns};
}

ABSL_ATTRIBUTE_HOT
void JobFuture::Shared::Complete(const JobEnd& end, bool from_lane) {
  const shm::Handle response = end.response;
  std::shared_ptr<State> state;
  std::shared_ptr<internal::PlainCondVar> waiter;
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
    waiter = EndedLocked(*state);
  }
  if (waiter != nullptr) waiter->Signal();
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
std::shared_ptr<internal::PlainCondVar> JobFuture::Shared::EndedLocked(State& state) {
  if (state.callback != nullptr) {
    --async_pending;
    completions->Push(std::move(state.callback), TakeLocked(state));
    state.callback = nullptr;
    return nullptr;
  }
  if (completions->poll_mode()) completions->Notify();  // inline check: the Wait path pays one load
  return state.waiter;
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

ABSL_ATTRIBUTE_HOT
void JobFuture::Shared::DrainRing() {
  pb::AgentMessage& msg = drained;
  for (;;) {
    // The lane first: a lane job's answer is there before anything the agent says about it.
    DrainLane();
    bool is_record = false;
    absl::StatusOr<bool> got = ring->TryReceiveOrCompletion(msg, drained_record, &is_record);
    if (got.ok() && *got && is_record && !KnownOutcome(drained_record.outcome)) {
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
      // This session's hello asked for CompletionRecords: an agent that sends a Completion
      // message instead breaks the protocol, and a job must not wait for an answer it dropped.
      case pb::AgentMessage::kCompletion: stream_context.TryCancel(); return;
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
    if (got.ok() && *got && !KnownOutcome(answer.outcome)) got = absl::DataLossError("an answer's outcome is unknown");
    if (!got.ok()) {
      stream_context.TryCancel();
      return;
    }
    if (!*got) return;
    Complete(EndOf(answer), /*from_lane=*/true);
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

namespace {

// A waiting thread's condition variable, one per thread for all its waits: a job's waker copies
// it under mu and signals it after releasing mu, when the thread may have stopped waiting (a
// timeout, a spurious wake-up that found the job done) or even ended. A signal it was not
// waiting for is a spurious wake-up of its next wait, which re-checks its condition.
const std::shared_ptr<internal::PlainCondVar>& ThisThreadsCondVar() {
  thread_local const std::shared_ptr<internal::PlainCondVar> cv = std::make_shared<internal::PlainCondVar>();
  return cv;
}

}  // namespace

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
    const std::shared_ptr<internal::PlainCondVar>& cv = ThisThreadsCondVar();
    for (State* st : watched) st->waiter = cv;
    followers.push_back(cv.get());
    cv->WaitWithDeadline(&mu, ring != nullptr ? slice : deadline);
    followers.erase(std::find(followers.begin(), followers.end(), cv.get()));
    for (State* st : watched) {
      if (st->waiter == cv) st->waiter = nullptr;
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

}  // namespace jobd::client
