#include "client/job_client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/peer_channel.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"
#include "shm/status_macros.h"

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
  absl::CondVar* waiter = nullptr;  // guarded by Shared::mu: the thread waiting for this job
};

struct JobFuture::Shared {
  std::shared_ptr<shm::Arena> arena;
  uint32_t session_id = 0;
  uint32_t workers = 0;
  uint64_t max_payload = 0;
  std::string socket_path;

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Jobd::Stub> stub;
  grpc::ClientContext stream_context;
  std::unique_ptr<grpc::ClientReaderWriter<pb::ClientMessage, pb::AgentMessage>> stream;
  std::thread reader;
  std::atomic<bool> connected{false};
  std::atomic<uint32_t> next_seq{1};

  // The fast path (null: the stream carries everything). One waiter at a time drains its down
  // ring (`consuming`), completing other threads' futures as well as its own, so a completion
  // costs no hand-off through a reader thread.
  std::unique_ptr<PeerChannel> ring;
  std::atomic<uint64_t> stream_events{0};  // completions or a disconnect that came by the stream

  absl::Mutex write_mu;
  absl::Mutex mu;
  absl::flat_hash_map<uint32_t, std::shared_ptr<State>> pending ABSL_GUARDED_BY(mu);
  bool consuming ABSL_GUARDED_BY(mu) = false;
  // Threads waiting while another drains the ring. Each sleeps on its own condition variable
  // and is woken alone (its job done, or the drainer leaving): with many waiters, a shared
  // Mutex condition would be re-evaluated for every one of them on every unlock.
  std::vector<absl::CondVar*> followers ABSL_GUARDED_BY(mu);
  JobClient::BeforeStartHook before_start;

  // Allocates, writes and submits one job; the heart of every Start variant.
  absl::StatusOr<std::shared_ptr<State>> Submit(std::string_view type, size_t size, const JobClient::SlabWriter& write,
                                                const StartOptions& options, pb::Policy policy,
                                                const std::shared_ptr<SharedPiece>& piece, uint64_t piece_size);

  // Opens a session with the agent at `socket` (hello, welcome, arena); starts the reader.
  static absl::StatusOr<std::shared_ptr<Shared>> Open(const ClientOptions& options);
  // Ends the stream and joins the reader; pending jobs fail as disconnected.
  void Close();

  void ReaderLoop();
  void Complete(const pb::Completion& c);
  // Sends up the channel (waiting a little for room) or else on the stream. Needs write_mu.
  bool SendLocked(const pb::ClientMessage& msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu);
  // Completes whatever waits in the down ring. Only the consumer calls it.
  void DrainRing();
  // Blocks (mu held) until `cond()` or `deadline`; meanwhile one waiter drains the ring.
  // `watched`: the jobs whose completion may satisfy `cond`.
  bool AwaitLocked(const std::function<bool()>& cond, std::span<State* const> watched, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void WakeLocked(State& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (state.waiter != nullptr) state.waiter->Signal();
  }
  // Drains the ring now if no waiter is doing it (for Ready()).
  void PollRing();
  void FailAll(const absl::Status& status);
  void FreeQuietly(shm::Handle h) {
    if (!h.is_null()) (void)arena->Free(h, session_id);
  }
};

namespace {

JobOutcome FromProto(pb::Outcome o) {
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

absl::Status Unavailable(const std::string& msg) {
  return WithOutcome(absl::UnavailableError(msg), JobOutcome::kRejected);
}

}  // namespace

void JobFuture::Shared::Complete(const pb::Completion& c) {
  const shm::Handle response = shm::Handle::FromBits(c.response().handle());
  std::shared_ptr<State> state;
  {
    absl::MutexLock lock(&mu);
    auto it = pending.find(c.seq());
    if (it == pending.end()) {
      // Nobody will read it: a duplicate or a job whose future was dropped and already erased.
      FreeQuietly(response);
      return;
    }
    state = std::move(it->second);
    pending.erase(it);
    state->done = true;
    const pb::Stamps& st = c.stamps();
    state->timings.agent_received_ns = st.agent_received_ns();
    state->timings.agent_dispatched_ns = st.agent_dispatched_ns();
    state->timings.worker_received_ns = st.worker_received_ns();
    state->timings.worker_done_ns = st.worker_done_ns();
    state->timings.agent_result_ns = st.agent_result_ns();
    state->timings.agent_sent_ns = st.agent_sent_ns();
    state->timings.client_received_ns = MonotonicNanos();
    if (c.outcome() == pb::OUTCOME_OK) {
      state->status = absl::OkStatus();
      state->response = response;
      state->response_size = c.response().size();
    } else {
      state->status = WithOutcome(
          absl::Status(static_cast<absl::StatusCode>(c.code()), c.message()), FromProto(c.outcome()));
      FreeQuietly(response);
    }
    if (c.outcome() == pb::OUTCOME_REJECTED) {
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
    WakeLocked(*state);
  }
}

void JobFuture::Shared::FailAll(const absl::Status& status) {
  absl::MutexLock lock(&mu);
  for (auto& [seq, state] : pending) {
    state->done = true;
    state->status = status;
    WakeLocked(*state);
  }
  pending.clear();
}

void JobFuture::Shared::ReaderLoop() {
  pb::AgentMessage msg;
  while (stream->Read(&msg)) {
    if (msg.has_completion()) Complete(msg.completion());
    if (ring != nullptr) {
      stream_events.fetch_add(1);
      ring->Wake();
    }
  }
  FailAll(WithOutcome(absl::UnavailableError(absl::StrCat("connection to jobd at ", socket_path,
                                                          " lost while the job was pending")),
                      JobOutcome::kDisconnected));
  connected.store(false);  // last: the reconnector may replace this session once it reads false
  if (ring != nullptr) {
    stream_events.fetch_add(1);
    ring->Wake();
  }
}

bool JobFuture::Shared::SendLocked(const pb::ClientMessage& msg) {
  if (ring != nullptr) {
    // A full ring means the agent is behind by a few hundred messages: it catches up within
    // microseconds, so waiting briefly keeps submits and cancels in order.
    const absl::Time give_up = absl::Now() + absl::Seconds(1);
    for (;;) {
      absl::StatusOr<bool> sent = ring->TrySend(msg);
      if (sent.ok() && *sent) return true;
      if (!sent.ok() || !connected.load() || absl::Now() > give_up) break;
      absl::SleepFor(absl::Microseconds(20));
    }
  }
  return stream->Write(msg);
}

void JobFuture::Shared::DrainRing() {
  pb::AgentMessage msg;
  for (;;) {
    absl::StatusOr<bool> got = ring->TryReceive(msg);
    if (!got.ok()) {
      // The agent never writes a broken ring: end the session rather than guess.
      stream_context.TryCancel();
      return;
    }
    if (!*got) return;
    if (msg.has_completion()) Complete(msg.completion());
  }
}

bool JobFuture::Shared::AwaitLocked(const std::function<bool()>& cond, std::span<State* const> watched,
                                     absl::Time deadline) {
  while (!cond()) {
    const absl::Time now = absl::Now();
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
      consuming = false;
      if (!followers.empty()) followers.front()->Signal();  // the next drainer
      continue;
    }
    absl::CondVar cv;
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
    absl::MutexLock lock(&mu);
    if (consuming) return;
    consuming = true;
  }
  DrainRing();
  absl::MutexLock lock(&mu);
  consuming = false;
}

void JobFuture::Shared::Close() {
  {
    absl::MutexLock lock(&write_mu);
    if (connected.load()) stream->WritesDone();
  }
  stream_context.TryCancel();
  if (reader.joinable()) reader.join();
  (void)stream->Finish();
}

JobFuture JobFuture::Local(absl::StatusOr<std::string> result) {
  auto state = std::make_shared<State>();
  state->done = true;
  if (result.ok()) {
    state->local = std::make_shared<const std::string>(std::move(*result));
  } else {
    state->status = WithOutcome(result.status(), JobOutcome::kHandlerError);
  }
  return JobFuture(nullptr, std::move(state));
}

JobFuture::~JobFuture() {
  if (state_ == nullptr || shared_ == nullptr) return;
  absl::MutexLock lock(&shared_->mu);
  if (!state_->done) {
    state_->abandoned = true;
  } else if (!state_->taken) {
    shared_->FreeQuietly(state_->response);
    state_->response = shm::Handle();
  }
}

uint64_t JobFuture::id() const { return state_ ? state_->job_id : 0; }

JobTimings JobFuture::timings() const {
  if (state_ == nullptr) return {};
  if (shared_ == nullptr) return state_->timings;
  absl::MutexLock lock(&shared_->mu);
  return state_->timings;
}

bool JobFuture::Ready() const {
  if (state_ == nullptr) return false;
  if (shared_ == nullptr) return true;
  shared_->PollRing();
  absl::MutexLock lock(&shared_->mu);
  return state_->done;
}

absl::StatusOr<Response> JobFuture::Wait(absl::Duration timeout) {
  if (state_ == nullptr) return absl::FailedPreconditionError("Wait on an empty JobFuture");
  if (shared_ == nullptr) {  // ran locally: already done
    if (!state_->status.ok()) return state_->status;
    if (state_->taken) return absl::FailedPreconditionError("the response was already taken");
    state_->taken = true;
    return Response(std::move(state_->local));
  }
  absl::MutexLock lock(&shared_->mu);
  State* state = state_.get();
  State* const watched[] = {state};
  if (!shared_->AwaitLocked([state]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return state->done; }, watched,
                            absl::Now() + timeout)) {
    return WithOutcome(absl::DeadlineExceededError(absl::StrCat(
                           "job ", state_->job_id, " not finished after ", absl::FormatDuration(timeout))),
                       JobOutcome::kDeadlineExceeded);
  }
  if (!state_->status.ok()) return state_->status;
  if (state_->taken) return absl::FailedPreconditionError("the response was already taken");
  state_->taken = true;
  state_->timings.client_woken_ns = MonotonicNanos();
  std::span<const std::byte> bytes;
  if (!state_->response.is_null()) {
    auto view = shared_->arena->Resolve(state_->response, state_->response_size, shared_->session_id);
    if (!view.ok()) return view.status();
    bytes = *view;
  }
  return Response(shared_->arena, shared_->session_id, state_->response, bytes);
}

std::vector<absl::StatusOr<Response>> WaitMulti(std::span<JobFuture> futures, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<absl::StatusOr<Response>> out;
  out.reserve(futures.size());
  for (JobFuture& f : futures) {
    const absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
    out.push_back(f.Wait(timeout == absl::InfiniteDuration() ? timeout : left));
  }
  return out;
}

absl::StatusOr<size_t> WaitAny(std::span<JobFuture> futures, absl::Duration timeout) {
  if (futures.empty()) return absl::InvalidArgumentError("WaitAny on no futures");
  JobFuture::Shared* shared = nullptr;
  for (size_t i = 0; i < futures.size(); ++i) {
    if (futures[i].valid() && futures[i].shared_ == nullptr) return i;  // local: done already
  }
  for (const JobFuture& f : futures) {
    if (!f.valid()) return absl::InvalidArgumentError("WaitAny on an empty JobFuture");
    if (shared == nullptr) shared = f.shared_.get();
    if (shared != f.shared_.get()) {
      return absl::InvalidArgumentError("WaitAny needs futures of one JobClient");
    }
  }
  size_t ready = futures.size();
  auto any_done = [&]() {
    for (size_t i = 0; i < futures.size(); ++i) {
      if (futures[i].state_->done) {
        ready = i;
        return true;
      }
    }
    return false;
  };
  std::vector<JobFuture::State*> watched;
  for (JobFuture& f : futures) watched.push_back(f.state_.get());
  absl::MutexLock lock(&shared->mu);
  if (!shared->AwaitLocked(any_done, watched, absl::Now() + timeout)) {
    return WithOutcome(absl::DeadlineExceededError("no job finished in time"),
                       JobOutcome::kDeadlineExceeded);
  }
  return ready;
}

JobClient::JobClient(ClientOptions options, std::shared_ptr<JobFuture::Shared> shared)
    : options_(std::move(options)), shared_(std::move(shared)) {
  if (options_.max_reconnect_backoff > absl::ZeroDuration()) reconnector_ = std::thread([this] { ReconnectLoop(); });
}

JobClient::~JobClient() {
  closing_.Notify();
  if (reconnector_.joinable()) reconnector_.join();
  Current()->Close();
}

std::shared_ptr<JobFuture::Shared> JobClient::Current() const {
  absl::MutexLock lock(&mu_);
  return shared_;
}

void JobClient::ReconnectLoop() {
  absl::Duration backoff = absl::Milliseconds(50);
  while (!closing_.WaitForNotificationWithTimeout(Current()->connected.load() ? absl::Milliseconds(50) : backoff)) {
    std::shared_ptr<JobFuture::Shared> old = Current();
    if (old->connected.load()) {
      backoff = absl::Milliseconds(50);
      continue;
    }
    auto fresh = JobFuture::Shared::Open(options_);
    if (!fresh.ok()) {
      backoff = std::min(backoff * 2, options_.max_reconnect_backoff);
      continue;
    }
    (*fresh)->before_start = before_start_;
    {
      absl::MutexLock lock(&mu_);
      shared_ = *fresh;
      ++reconnects_;
    }
    old->Close();  // its reader has ended; futures and responses still holding it stay valid
    backoff = absl::Milliseconds(50);
  }
}

absl::StatusOr<std::shared_ptr<JobFuture::Shared>> JobFuture::Shared::Open(const ClientOptions& options) {
  auto shared = std::make_shared<JobFuture::Shared>();
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
  hello.mutable_hello()->set_wants_channel(true);
  pb::AgentMessage welcome;
  if (!shared->stream->Write(hello) || !shared->stream->Read(&welcome) || !welcome.has_welcome()) {
    grpc::Status st = shared->stream->Finish();
    return Unavailable(absl::StrCat("jobd at ", shared->socket_path,
                                    " refused the session: ", st.error_message()));
  }
  const pb::SessionWelcome& w = welcome.welcome();
  auto arena = shm::Arena::Attach(w.arena_path());
  if (!arena.ok()) {
    shared->stream_context.TryCancel();
    (void)shared->stream->Finish();
    return Unavailable(absl::StrCat("cannot map the jobd arena: ", arena.status().message()));
  }
  shared->arena = std::move(*arena);
  shared->session_id = w.session_id();
  shared->workers = w.workers();
  shared->max_payload = w.max_payload();
  if (w.has_channel()) {
    // The agent now sends completions down this channel: a client that cannot map it must not
    // start a session that would never hear back.
    auto ring = PeerChannel::Open(w.channel());
    if (!ring.ok()) {
      shared->stream_context.TryCancel();
      (void)shared->stream->Finish();
      return Unavailable(absl::StrCat("cannot map the jobd channel file: ", ring.status().message()));
    }
    shared->ring = std::move(*ring);
  }
  shared->connected.store(true);
  JobFuture::Shared* raw = shared.get();
  shared->reader = std::thread([raw] { raw->ReaderLoop(); });
  return shared;
}

absl::StatusOr<std::unique_ptr<JobClient>> JobClient::Connect(ClientOptions options) {
  auto shared = JobFuture::Shared::Open(options);
  if (!shared.ok()) return shared.status();
  return std::unique_ptr<JobClient>(new JobClient(std::move(options), std::move(*shared)));
}

bool JobClient::enabled() const { return Current()->connected.load(); }
uint32_t JobClient::workers() const { return Current()->workers; }
uint64_t JobClient::max_payload() const { return Current()->max_payload; }
uint32_t JobClient::session_id() const { return Current()->session_id; }
uint64_t JobClient::reconnects() const {
  absl::MutexLock lock(&mu_);
  return reconnects_;
}

absl::StatusOr<JobFuture> JobClient::Start(std::string_view type, std::span<const std::byte> request,
                                           const StartOptions& options) {
  return StartWith(
      type, request.size(),
      [&](std::span<std::byte> slab) -> absl::StatusOr<size_t> {
        if (!request.empty()) std::memcpy(slab.data(), request.data(), request.size());
        return request.size();
      },
      options);
}

absl::StatusOr<JobFuture> JobClient::Start(std::string_view type, std::string_view request,
                                           const StartOptions& options) {
  return Start(type, std::as_bytes(std::span(request.data(), request.size())), options);
}

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
  state->job_id = (uint64_t{session_id} << 32) | state->seq;
  state->type = std::string(type);
  state->piece = piece;

  pb::ClientMessage msg;
  pb::Submit* submit = msg.mutable_submit();
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
    submit->mutable_request()->set_handle(slab->handle.bits());
    submit->mutable_request()->set_size(*written);
  }
  if (piece != nullptr) {
    submit->mutable_shared()->set_handle(piece->handle.bits());
    submit->mutable_shared()->set_size(piece_size);
  }
  submit->set_seq(state->seq);
  submit->set_type(std::string(type));
  submit->set_policy(policy);
  submit->set_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(options.timeout)));
  submit->set_priority(options.priority == Priority::kBatch ? pb::PRIORITY_BATCH : pb::PRIORITY_INTERACTIVE);
  Context context = options.context;
  if (before_start) before_start(type, context);
  for (const auto& [k, v] : context) (*submit->mutable_context())[k] = v;
  if (options.retry.max_attempts > 1) {
    submit->mutable_retry()->set_max_attempts(options.retry.max_attempts);
    submit->mutable_retry()->set_backoff_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(options.retry.backoff)));
    submit->mutable_retry()->set_retry_handler_errors(options.retry.retry_handler_errors);
  }
  {
    absl::MutexLock lock(&mu);
    pending[state->seq] = state;
  }
  bool sent;
  {
    absl::MutexLock lock(&write_mu);
    state->timings.client_sent_ns = MonotonicNanos();
    submit->mutable_stamps()->set_client_sent_ns(state->timings.client_sent_ns);
    sent = SendLocked(msg);
  }
  if (!sent) {
    absl::MutexLock lock(&mu);
    pending.erase(state->seq);
    FreeQuietly(state->request);
    return Unavailable(absl::StrCat("connection to jobd at ", socket_path, " is lost"));
  }
  return state;
}

absl::StatusOr<JobFuture> JobClient::StartWith(std::string_view type, size_t size, const SlabWriter& write,
                                               const StartOptions& options) {
  const pb::Policy policy =
      options.policy == Policy::kManualRespond ? pb::POLICY_MANUAL_RESPOND : pb::POLICY_SIMPLE;
  std::shared_ptr<JobFuture::Shared> conn = Current();
  auto state = conn->Submit(type, size, write, options, policy, nullptr, 0);
  if (!state.ok()) return state.status();
  return JobFuture(std::move(conn), std::move(*state));
}

namespace {

JobClient::SlabWriter CopyOf(std::string_view bytes) {
  return [bytes](std::span<std::byte> slab) -> absl::StatusOr<size_t> {
    if (!bytes.empty()) std::memcpy(slab.data(), bytes.data(), bytes.size());
    return bytes.size();
  };
}

}  // namespace

absl::Status JobClient::StartNoReply(std::string_view type, std::string_view request, const StartOptions& options) {
  std::shared_ptr<JobFuture::Shared> conn = Current();
  auto state = conn->Submit(type, request.size(), CopyOf(request), options, pb::POLICY_NO_REPLY, nullptr, 0);
  if (!state.ok()) return state.status();
  // The agent acknowledges a NoReply job as soon as it is queued; that is all there is to wait for.
  JobFuture ack(std::move(conn), std::move(*state));
  absl::StatusOr<Response> r = ack.Wait(absl::Seconds(10));
  return r.status();
}

std::vector<absl::StatusOr<JobFuture>> JobClient::StartMulti(std::string_view type, std::string_view shared,
                                                             std::span<const std::string_view> requests,
                                                             const StartOptions& options) {
  std::vector<absl::StatusOr<JobFuture>> out;
  std::shared_ptr<JobFuture::Shared> conn = Current();
  std::shared_ptr<SharedPiece> piece;
  if (!shared.empty()) {
    auto slab = conn->arena->AllocateWait(shared.size(), conn->session_id, options.slab_wait);
    if (!slab.ok()) {
      for (size_t i = 0; i < requests.size(); ++i) out.push_back(WithOutcome(slab.status(), JobOutcome::kRejected));
      return out;
    }
    std::memcpy(slab->data.data(), shared.data(), shared.size());
    piece = std::make_shared<SharedPiece>();
    piece->arena = conn->arena;
    piece->owner = conn->session_id;
    piece->handle = slab->handle;
  }
  const pb::Policy policy =
      options.policy == Policy::kManualRespond ? pb::POLICY_MANUAL_RESPOND : pb::POLICY_SIMPLE;
  for (std::string_view request : requests) {
    auto state = conn->Submit(type, request.size(), CopyOf(request), options, policy, piece, shared.size());
    if (!state.ok()) {
      out.push_back(state.status());
    } else {
      out.push_back(JobFuture(conn, std::move(*state)));
    }
  }
  return out;
}

absl::Status JobClient::Cancel(const JobFuture& future) {
  if (!future.valid() || future.shared_ == nullptr) {
    return absl::InvalidArgumentError("Cancel takes a future of a job started through the agent");
  }
  JobFuture::Shared& conn = *future.shared_;
  pb::ClientMessage msg;
  msg.mutable_cancel()->set_seq(future.state_->seq);
  absl::MutexLock lock(&conn.write_mu);
  if (!conn.connected.load() || !conn.SendLocked(msg)) return Unavailable("connection to jobd is lost");
  return absl::OkStatus();
}

absl::StatusOr<JobStatusInfo> JobClient::Status(uint64_t job_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  pb::JobStatusRequest request;
  request.set_job_id(job_id);
  pb::JobStatusReply reply;
  std::shared_ptr<JobFuture::Shared> conn = Current();
  grpc::Status st = conn->stub->JobStatus(&ctx, request, &reply);
  if (st.error_code() == grpc::StatusCode::NOT_FOUND && (job_id >> 32) == conn->session_id) {
    // A job of ours may still be on its way up the channel (the submit does not wait for the
    // agent): to the caller it is queued.
    absl::MutexLock lock(&conn->mu);
    auto it = conn->pending.find(static_cast<uint32_t>(job_id));
    if (it != conn->pending.end()) return JobStatusInfo{job_id, it->second->type, "queued", "", 0};
  }
  if (!st.ok()) return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  return JobStatusInfo{reply.job_id(), reply.type(), reply.state(), reply.outcome(), reply.attempt()};
}

void JobClient::SetBeforeStart(BeforeStartHook hook) {
  before_start_ = hook;
  Current()->before_start = std::move(hook);
}

}  // namespace jobd::client
