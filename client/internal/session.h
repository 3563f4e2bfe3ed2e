// Internal to client/: one session with the agent (the stream, the channel, the pending jobs)
// and the state behind a JobFuture. JobClient holds the current session; futures and
// responses keep theirs alive after a reconnect.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "client/internal/plain_mutex.h"
#include "client/internal/completion_queue.h"
#include "client/job_client.h"
#include "client/peer_channel.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"
#include "proto/lane_records.h"
#include "proto/session_records.h"

namespace jobd::client {

namespace pb = ::jobd::v1;

// The one slab a start-multi batch shares, held by every job of the batch until it answers.
// The agent holds the slab while jobs of the batch run and gives it back to the session when
// the last of them ends, so when the last answer drops this the slab is the session's again
// and is freed here (a job that never reached the agent leaves it with the session too).
struct SharedPiece {
  std::shared_ptr<shm::Arena> arena;
  shm::OwnerId owner = shm::kNoOwner;
  shm::Handle handle;
  ~SharedPiece() {
    if (!handle.is_null()) (void)arena->Free(handle, owner);
  }
};

// What a job's Submit says besides its seq, type, request slab and shared piece (those are in
// the State). A lane job's Submit is built from it only if the lease ends before the leased
// worker takes the job: on the lane the job travels as a fixed record, and building a protobuf
// message it does not need costs the job's path a handful of allocations.
struct SubmitFields {
  uint64_t request_size = 0;
  uint64_t piece_size = 0;
  pb::Policy policy = pb::POLICY_SIMPLE;
  uint64_t timeout_ms = 0;
  pb::Priority priority = pb::PRIORITY_INTERACTIVE;
  Context context;
  RetryOptions retry;
};

// How a job ended, as Complete reads it: from the agent's CompletionRecord or straight from a
// lane answer, neither of which touches protobuf code (a cold page of generated code per
// job at 100 jobs/s: docs/benchmarks.md, "Cold code on a paced job's path").
struct JobEnd {
  uint32_t seq = 0;
  pb::Outcome outcome = pb::OUTCOME_OK;
  int32_t code = 0;
  std::string_view message;
  shm::Handle response;
  uint64_t response_size = 0;
  int64_t agent_received_ns = 0;
  int64_t agent_dispatched_ns = 0;
  int64_t worker_received_ns = 0;
  int64_t worker_done_ns = 0;
  int64_t agent_result_ns = 0;
  int64_t agent_sent_ns = 0;
};

struct JobFuture::State {
  uint32_t seq = 0;
  uint64_t job_id = 0;
  shm::Handle request;  // ours again if the agent rejects the job
  // Guarded by Shared::mu.
  bool done = false;
  bool abandoned = false;  // the future was dropped before the job ended
  bool taken = false;
  absl::Status status;
  shm::Handle response;
  uint64_t response_size = 0;
  std::shared_ptr<const std::string> local;  // the local fallback's result
  std::shared_ptr<SharedPiece> piece;        // start-multi
  JobTimings timings;
  std::string type;
  // Guarded by Shared::mu: the job went up the lane to the leased worker; its request stays
  // the session's, and a Submit of `lane_fields` goes to the agent if the lease ends before the
  // worker takes it.
  bool lane = false;
  SubmitFields lane_fields;
  // Guarded by Shared::mu: the thread waiting for this job (its own condition variable, which the
  // waker keeps alive to signal it after releasing mu).
  std::shared_ptr<internal::PlainCondVar> waiter;
  // Guarded by Shared::mu: set by OnDone on a pending job, handed to the completion queue
  // with the result when the job ends.
  internal::CompletionQueue::Callback callback;
};

struct JobFuture::Shared {
  std::shared_ptr<shm::Arena> arena;
  uint32_t session_id = 0;
  uint32_t workers = 0;
  uint64_t max_payload = 0;
  absl::Duration spin_window;  // the agent's window, capped by the client's own
  std::string socket_path;

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Jobd::Stub> stub;
  grpc::ClientContext stream_context;
  std::unique_ptr<grpc::ClientReaderWriter<pb::ClientMessage, pb::AgentMessage>> stream;
  std::thread reader;
  std::atomic<bool> connected{false};
  std::atomic<uint32_t> next_seq{1};

  // The session's channel in its own segment. One waiter at a time drains its down ring
  // (`consuming`), completing other threads' futures as well as its own, so a completion costs
  // no hand-off through a reader thread.
  std::unique_ptr<PeerChannel> ring;
  std::atomic<uint64_t> stream_events{0};  // a message or the end that came by the stream

  // Lock order: write_mu before mu (a lane submit decides and pushes under both, so a lease
  // that ends in between cannot leave a job in the lane that the agent also runs).
  internal::PlainMutex write_mu;
  internal::PlainMutex mu;
  // The lease of a worker to this session (LaneOpen .. LaneClosed); lane_id 0: none.
  uint32_t lane_id ABSL_GUARDED_BY(mu) = 0;
  shm::OwnerId lane_answer_owner ABSL_GUARDED_BY(mu) = shm::kNoOwner;
  absl::flat_hash_set<std::string> lane_types ABSL_GUARDED_BY(mu);
  uint32_t lane_inflight ABSL_GUARDED_BY(mu) = 0;
  uint32_t lane_max_slabs ABSL_GUARDED_BY(mu) = 0;  // the agent's --max_slabs_per_session
  absl::flat_hash_map<uint32_t, std::shared_ptr<State>> pending ABSL_GUARDED_BY(mu);
  bool consuming ABSL_GUARDED_BY(mu) = false;
  // Threads waiting while another drains the ring. Each sleeps on its own condition variable
  // and is woken alone (its job done, or the drainer leaving): with many waiters, a shared
  // Mutex condition would be re-evaluated for every one of them on every unlock.
  // Plain pointers: signalled under mu, and each follower leaves the list before its wait ends.
  std::vector<internal::PlainCondVar*> followers ABSL_GUARDED_BY(mu);
  JobClient::BeforeStartHook before_start;
  // Run once by the reader when the stream ends (the JobClient's reconnector sleeps until then).
  std::function<void()> on_disconnect ABSL_GUARDED_BY(mu);

  // Event-driven use. The client's queue, shared by all its sessions.
  std::shared_ptr<internal::CompletionQueue> completions;
  // Pending jobs with a callback: while there are any (or, in poll mode, any pending job at
  // all), the watcher sleeps on the doorbell and drains the ring when no waiter does, so
  // completions arrive without a thread blocked in Wait.
  uint32_t async_pending ABSL_GUARDED_BY(mu) = 0;
  bool watcher_started ABSL_GUARDED_BY(mu) = false;
  bool watcher_stop ABSL_GUARDED_BY(mu) = false;
  std::atomic<bool> watcher_stopping{false};  // for the doorbell's predicate, which runs unlocked
  internal::PlainCondVar watcher_cv;
  std::thread watcher;

  // Allocates, writes and submits one job; the heart of every Start variant.
  absl::StatusOr<std::shared_ptr<State>> Submit(std::string_view type, size_t size, const JobClient::SlabWriter& write,
                                                const StartOptions& options, pb::Policy policy,
                                                const std::shared_ptr<SharedPiece>& piece, uint64_t piece_size);

  // Opens a session with the agent at `socket` (hello, welcome, arena); starts the reader.
  static absl::StatusOr<std::shared_ptr<Shared>> Open(const ClientOptions& options,
                                                      std::shared_ptr<internal::CompletionQueue> completions);
  // Ends the stream and joins the reader; pending jobs fail as disconnected.
  void Close();

  void ReaderLoop();
  // `from_lane`: the leased worker's answer, whose slab is taken from it first.
  void Complete(const JobEnd& end, bool from_lane = false);
  // A record's outcome is range-checked first (KnownOutcome): a peer's number, not an enum yet.
  static JobEnd EndOf(const wire::CompletionRecord& c);
  static JobEnd EndOf(const wire::LaneAnswer& a);
  static bool KnownOutcome(int32_t outcome) { return outcome >= pb::Outcome_MIN && outcome <= pb::Outcome_MAX; }
  // Completes whatever the leased worker answered down the lane. Only the consumer calls it.
  void DrainLane();
  wire::LaneAnswer lane_answer;  // DrainLane's, reused: its message keeps its memory
  pb::AgentMessage drained;        // DrainRing's, reused, for the same reason and its cold code
  wire::CompletionRecord drained_record;  // likewise
  void OpenLane(const pb::LaneOpen& open);
  // The lease ended: lane jobs the worker never took go to the agent instead.
  void CloseLane(const pb::LaneClosed& closed);
  // A done job's result, taken once (the response view, or its error). Needs mu.
  absl::StatusOr<Response> TakeLocked(State& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // A job ended: queues its callback, or tells the poll fd, and returns its waiter, which the
  // caller signals once it has released mu (signalled under mu, the waiter would wake only to
  // sleep again on the mutex).
  [[nodiscard]] std::shared_ptr<internal::PlainCondVar> EndedLocked(State& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Registers `callback` for `state`, or runs it now (here, no lock held) if the job ended.
  void OnDone(const std::shared_ptr<State>& state, internal::CompletionQueue::Callback callback);
  bool WatchWantedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return async_pending > 0 || (completions->poll_mode() && !pending.empty());
  }
  void StartWatcherLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void WatcherLoop();
  // The ring's drainer is leaving: hands the ring on to the next waiter and to the watcher.
  // Signalled under mu, unlike a job's waiter (EndedLocked): moving this one out measured no
  // gain, as the leaving drainer holds mu only a moment longer.
  void ReleaseConsumerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    consuming = false;
    if (!followers.empty()) followers.front()->Signal();
    if (watcher_started) watcher_cv.Signal();
  }
  // Sends up the channel, waiting a little for room; false when the session is lost. Needs
  // write_mu.
  bool SendLocked(const pb::ClientMessage& msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu);
  // The same for a job whose seq, type, request, piece and sent stamp `state` holds, as a
  // SubmitRecord (proto/session_records.h).
  bool SendSubmitLocked(const State& state, const SubmitFields& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu);
  // Completes whatever waits in the down ring. Only the consumer calls it.
  void DrainRing();
  // Blocks (mu held) until one of `watched` is done or `deadline` passes (false); meanwhile one
  // waiter drains the ring.
  bool AwaitLocked(std::span<State* const> watched, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Drains the ring now if no waiter is doing it (for Ready()).
  void PollRing();
  void FailAll(const absl::Status& status);
  void FreeQuietly(shm::Handle h) {
    if (!h.is_null()) (void)arena->Free(h, session_id);
  }
};

namespace internal {

inline JobOutcome FromProto(pb::Outcome o) {
  switch (o) {
    case pb::OUTCOME_OK: return JobOutcome::kOk;
    case pb::OUTCOME_REJECTED: return JobOutcome::kRejected;
    case pb::OUTCOME_DEADLINE_EXCEEDED: return JobOutcome::kDeadlineExceeded;
    case pb::OUTCOME_WORKER_DIED: return JobOutcome::kWorkerDied;
    case pb::OUTCOME_HANDLER_ERROR: return JobOutcome::kHandlerError;
    case pb::OUTCOME_CANCELLED: return JobOutcome::kCancelled;
    default: return JobOutcome::kRejected;
  }
}

inline absl::Status Unavailable(const std::string& msg) {
  return WithOutcome(absl::UnavailableError(msg), JobOutcome::kRejected);
}

}  // namespace internal

}  // namespace jobd::client
