#include "client/job_client.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "client/internal/session.h"
#include "client/socket_path.h"
#include "shm/status_macros.h"

namespace jobd::client {

using internal::FromProto;
using internal::Unavailable;

struct JobClient::ReconnectWake {
  internal::PlainMutex mu;
  internal::PlainCondVar cv;
  bool closing ABSL_GUARDED_BY(mu) = false;
  void Poke() {
    internal::PlainMutexLock lock(&mu);
    cv.Signal();
  }
};

JobClient::JobClient(ClientOptions options, std::shared_ptr<JobFuture::Shared> shared,
                     std::shared_ptr<internal::CompletionQueue> completions)
    : options_(std::move(options)),
      shared_(std::move(shared)),
      completions_(std::move(completions)),
      wake_(std::make_shared<ReconnectWake>()) {
  if (options_.max_reconnect_backoff > absl::ZeroDuration()) {
    WatchDisconnect(*Current());
    reconnector_ = std::thread([this] { ReconnectLoop(); });
    // Named here, not in the thread: it is there under its name as soon as Connect returns,
    // however late the scheduler first runs it (for top -H, gdb and the idle test).
    pthread_setname_np(reconnector_.native_handle(), "jobd-reconnect");
  }
}

JobClient::~JobClient() {
  {
    internal::PlainMutexLock lock(&wake_->mu);
    wake_->closing = true;
    wake_->cv.Signal();
  }
  if (reconnector_.joinable()) reconnector_.join();
  Current()->Close();
  // The session's jobs have all ended by now (done or failed as disconnected): run the
  // callbacks still queued, so each is called exactly once.
  completions_->Shutdown();
}

std::shared_ptr<JobFuture::Shared> JobClient::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shared_;
}

void JobClient::WatchDisconnect(JobFuture::Shared& session) {
  // The wake outlives this client if the session does (futures hold it).
  std::shared_ptr<ReconnectWake> wake = wake_;
  internal::PlainMutexLock lock(&session.mu);
  session.on_disconnect = [wake] { wake->Poke(); };
}

void JobClient::ReconnectLoop() {
  absl::Duration backoff = absl::Milliseconds(50);
  for (;;) {
    std::shared_ptr<JobFuture::Shared> old = Current();
    {
      internal::PlainMutexLock lock(&wake_->mu);
      // Asleep while connected: the session's reader pokes the wake when its stream ends (under
      // this lock, so the end cannot slip between the check and the wait). The timeout is a
      // backstop, not a poll.
      while (!wake_->closing && old->connected.load()) wake_->cv.WaitWithTimeout(&wake_->mu, absl::Seconds(30));
      // Disconnected: the next attempt after the backoff, so an agent that is restarting gets time.
      if (!wake_->closing) wake_->cv.WaitWithTimeout(&wake_->mu, backoff);
      if (wake_->closing) return;
    }
    auto fresh = JobFuture::Shared::Open(options_, completions_);
    if (!fresh.ok()) {
      backoff = std::min(backoff * 2, options_.max_reconnect_backoff);
      continue;
    }
    (*fresh)->before_start = before_start_;
    WatchDisconnect(**fresh);
    {
      std::lock_guard<std::mutex> lock(mu_);
      shared_ = *fresh;
      ++reconnects_;
    }
    old->Close();  // its reader has ended; futures and responses still holding it stay valid
    backoff = absl::Milliseconds(50);
  }
}

absl::StatusOr<std::unique_ptr<JobClient>> JobClient::Connect(ClientOptions options) {
  auto completions = std::make_shared<internal::CompletionQueue>();
  auto shared = JobFuture::Shared::Open(options, completions);
  if (!shared.ok()) return shared.status();
  return std::unique_ptr<JobClient>(new JobClient(std::move(options), std::move(*shared), std::move(completions)));
}

bool JobClient::enabled() const { return Current()->connected.load(); }
uint32_t JobClient::workers() const { return Current()->workers; }
uint64_t JobClient::max_payload() const { return Current()->max_payload; }
uint32_t JobClient::session_id() const { return Current()->session_id; }
absl::Duration JobClient::spin_window() const { return Current()->spin_window; }
uint64_t JobClient::reconnects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reconnects_;
}

ABSL_ATTRIBUTE_HOT
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

ABSL_ATTRIBUTE_HOT
absl::StatusOr<JobFuture> JobClient::Start(std::string_view type, std::string_view request,
                                           const StartOptions& options) {
  return Start(type, std::as_bytes(std::span(request.data(), request.size())), options);
}


ABSL_ATTRIBUTE_HOT
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
  internal::PlainMutexLock lock(&conn.write_mu);
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
    internal::PlainMutexLock lock(&conn->mu);
    auto it = conn->pending.find(static_cast<uint32_t>(job_id));
    if (it != conn->pending.end()) return JobStatusInfo{job_id, it->second->type, "queued", "", 0};
  }
  if (!st.ok()) return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  return JobStatusInfo{reply.job_id(), reply.type(), reply.state(), reply.outcome(), reply.attempt()};
}

int JobClient::completion_fd() {
  const int fd = completions_->fd();
  // Jobs started before the switch have no watcher yet.
  std::shared_ptr<JobFuture::Shared> conn = Current();
  internal::PlainMutexLock lock(&conn->mu);
  conn->StartWatcherLocked();
  conn->watcher_cv.Signal();
  return fd;
}

size_t JobClient::Poll() {
  // Drain here when nobody does, so a spurious or early Poll still completes what has arrived.
  Current()->PollRing();
  return completions_->RunReady();
}

void JobClient::SetBeforeStart(BeforeStartHook hook) {
  before_start_ = hook;
  Current()->before_start = std::move(hook);
}

}  // namespace jobd::client
