// The submit SDK: what a service links to hand jobs to the agent.
//
//   auto client = jobd::client::JobClient::Connect();          // JOBD_SOCKET or the default
//   if (!client.ok()) { /* no agent: run locally (see LocalFallback) */ }
//   auto future = (*client)->Start("resize", bytes, {.timeout = absl::Seconds(2)});
//   if (!future.ok()) { /* could not start: future.status() says why */ }
//   absl::StatusOr<Response> r = future->Wait();                // a view into the arena
//
// One JobClient is one session with the agent. It is thread-safe: many threads may start and
// wait at once. The request is written once, straight into a slab; the response is read in
// place. Responses must not outlive their JobClient.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/job_error.h"
#include "client/job_timings.h"
#include "client/response.h"

namespace jobd::client {

using Context = std::map<std::string, std::string>;

enum class Priority { kInteractive = 0, kBatch = 1 };

// KPHP's policies for jobs with a future. NoReply jobs have no future: see StartNoReply.
enum class Policy {
  kSimple,         // the future resolves when the handler returns
  kManualRespond,  // the future resolves at the handler's RespondEarly(); the handler keeps working
};

struct RetryOptions {
  uint32_t max_attempts = 1;  // 1: no retry; worker deaths and timeouts are retried
  absl::Duration backoff = absl::Milliseconds(10);
  bool retry_handler_errors = false;
};

struct StartOptions {
  absl::Duration timeout = absl::ZeroDuration();  // queue wait + run; zero: the agent default
  Policy policy = Policy::kSimple;
  Priority priority = Priority::kInteractive;
  Context context;  // restored in the worker before the handler runs
  RetryOptions retry;
  absl::Duration slab_wait = absl::ZeroDuration();  // wait up to this for a free slab
};

struct ClientOptions {
  std::string socket_path;  // empty: DefaultSocketPath()
  std::string client_name;  // shown in logs
  absl::Duration connect_timeout = absl::Seconds(2);
  // After the agent goes away, reconnect in the background with a backoff growing to this.
  // Zero: never reconnect.
  absl::Duration max_reconnect_backoff = absl::Seconds(2);
  // The window a thread waiting for an answer spins in (yielding the CPU) before it sleeps; past
  // it, up to ten windows only while its yields run other processes (shm::SpinGoesOn). The
  // agent tells each session its window (`--client-spin-us`); this caps it for this process,
  // whose container the spin is charged to (under a CPU limit below about two CPUs, zero).
  // Unset: $JOBD_CLIENT_SPIN_US (microseconds, 0 to 10000) when set, else the agent's window.
  std::optional<absl::Duration> max_spin;
};

class JobClient;
class Launcher;
namespace internal {
class CompletionQueue;
}

// The pending result of one job. Move-only; Wait() hands out the response once.
class JobFuture {
 public:
  JobFuture() = default;
  JobFuture(JobFuture&&) noexcept = default;
  JobFuture& operator=(JobFuture&&) noexcept = default;
  ~JobFuture();

  // The job's id in the agent (for status queries and logs).
  uint64_t id() const;
  bool valid() const { return state_ != nullptr; }
  // True once the job ended (or was answered, for ManualRespond).
  bool Ready() const;
  // Where the job's time went (stamps from the client, the agent and the worker); complete
  // once Wait() has returned.
  JobTimings timings() const;

  // Blocks until the job ends or `timeout` passes (then DEADLINE_EXCEEDED with outcome
  // kDeadlineExceeded; the job goes on and a later Wait may still succeed).
  absl::StatusOr<Response> Wait(absl::Duration timeout = absl::InfiniteDuration());

  // Event-driven completion (docs/sdk.md, "Event-driven services"): hands the job's result to
  // `callback`, called exactly once, and leaves this future empty (hence `&&`:
  // `std::move(*job).OnDone(...)`). The callback runs:
  //   - at once, on this thread, if the job has already ended (or ran locally);
  //   - else on the client's completion thread (started on first use; one thread, so
  //     callbacks of one client never run concurrently with each other);
  //   - or, once JobClient::completion_fd() was called, inside JobClient::Poll() on the
  //     thread that calls it.
  // Never under an SDK lock: a callback may start jobs, register callbacks, even Wait. An
  // exception it throws is caught and logged to stderr, never rethrown. If the connection is
  // lost, it gets UNAVAILABLE with outcome kDisconnected; callbacks still pending when the
  // JobClient is destroyed run (with that error) before the destructor returns.
  using DoneCallback = absl::AnyInvocable<void(absl::StatusOr<Response>)>;
  void OnDone(DoneCallback callback) &&;

  struct State;
  struct Shared;

 private:
  friend class JobClient;
  friend class Launcher;
  friend std::vector<absl::StatusOr<Response>> WaitMulti(std::span<JobFuture> futures,
                                                         absl::Duration timeout);
  friend absl::StatusOr<size_t> WaitAny(std::span<JobFuture> futures, absl::Duration timeout);
  JobFuture(std::shared_ptr<Shared> shared, std::shared_ptr<State> state)
      : shared_(std::move(shared)), state_(std::move(state)) {}

  static JobFuture Local(absl::StatusOr<std::string> result);

  std::shared_ptr<Shared> shared_;  // null for a job run by the local fallback
  std::shared_ptr<State> state_;
};

struct JobStatusInfo {
  uint64_t id = 0;
  std::string type;
  std::string state;    // queued, running, done, failed
  std::string outcome;  // for done and failed: ok, deadline_exceeded, worker_died, ...
  uint32_t attempt = 0;
};

// Waits for all; results in the same order.
std::vector<absl::StatusOr<Response>> WaitMulti(std::span<JobFuture> futures,
                                                absl::Duration timeout = absl::InfiniteDuration());
// Waits until one is ready; returns its index (its Wait() then returns at once).
absl::StatusOr<size_t> WaitAny(std::span<JobFuture> futures,
                               absl::Duration timeout = absl::InfiniteDuration());

class JobClient {
 public:
  // Connects to the agent. UNAVAILABLE (with the socket path) when no agent answers.
  static absl::StatusOr<std::unique_ptr<JobClient>> Connect(ClientOptions options = {});

  ~JobClient();
  JobClient(const JobClient&) = delete;
  JobClient& operator=(const JobClient&) = delete;

  // False while the connection to the agent is lost. The client reconnects in the background
  // (see ClientOptions); jobs pending on a lost connection fail with kDisconnected, and Start
  // says UNAVAILABLE until the new session is up.
  bool enabled() const;
  // The number of worker processes the agent runs.
  uint32_t workers() const;
  // The largest payload a slab can hold.
  uint64_t max_payload() const;
  uint32_t session_id() const;
  // How long a waiting thread spins before it sleeps: the agent's window, capped by
  // ClientOptions::max_spin or $JOBD_CLIENT_SPIN_US.
  absl::Duration spin_window() const;
  // How many times the client has reconnected to an agent.
  uint64_t reconnects() const;

  // Copies `request` once, into a slab, and submits it. Errors here mean "could not start":
  // INVALID_ARGUMENT (too large, bad options), RESOURCE_EXHAUSTED (arena full), UNAVAILABLE
  // (agent gone). Rejections by the agent (unknown type, full queue) arrive through Wait.
  absl::StatusOr<JobFuture> Start(std::string_view type, std::span<const std::byte> request,
                                  const StartOptions& options = {});
  absl::StatusOr<JobFuture> Start(std::string_view type, std::string_view request,
                                  const StartOptions& options = {});

  // Zero-copy start: allocates a slab of `size` bytes and lets `write` fill it in place
  // (`write` returns the number of bytes it wrote, at most `size`, or an error).
  using SlabWriter = std::function<absl::StatusOr<size_t>(std::span<std::byte>)>;
  absl::StatusOr<JobFuture> StartWith(std::string_view type, size_t size, const SlabWriter& write,
                                      const StartOptions& options = {});

  // Fire and forget: OK once the agent has accepted the job (one round trip), else why not.
  // The job runs on after this client goes away; there is nothing to wait for.
  absl::Status StartNoReply(std::string_view type, std::string_view request, const StartOptions& options = {});

  // KPHP's start-multi: `shared` is written once, into one slab, and every job of the batch
  // reads it (JobContext::shared()); it is freed when the last of them ends. One result per
  // request, in order.
  std::vector<absl::StatusOr<JobFuture>> StartMulti(std::string_view type, std::string_view shared,
                                                    std::span<const std::string_view> requests,
                                                    const StartOptions& options = {});

  // Cancels a queued job (it never starts) or a running one (its worker is told, and killed
  // after the agent's grace period if it goes on). The future resolves with CANCELLED.
  absl::Status Cancel(const JobFuture& future);

  // Queued, running, done or failed (the agent remembers the last 10,000 ended jobs).
  absl::StatusOr<JobStatusInfo> Status(uint64_t job_id);

  // Runs before every start: save what the worker should restore (KPHP's saved globals).
  // Set it before starting jobs; it is not synchronised with Start.
  using BeforeStartHook = std::function<void(std::string_view type, Context& context)>;
  void SetBeforeStart(BeforeStartHook hook);

  // For an event loop (epoll, asio): an eventfd that becomes readable when a job of this
  // client ends. Asking for it switches the client to poll mode for good: from then on
  // OnDone callbacks (and coroutines awaiting jobs) run only inside Poll(), and an SDK thread
  // sleeps on the session's doorbell while jobs are pending, so completions arrive with no
  // thread blocked in Wait. The fd stays owned by the client; do not close it. -1 if the
  // kernel gives no eventfd (errno says why).
  int completion_fd();
  // Call when completion_fd() is readable (spurious calls are harmless): completes whatever
  // has arrived, empties the fd and runs the ready callbacks here, on the caller's thread.
  // Returns how many callbacks ran. Does nothing (returns 0) before completion_fd().
  size_t Poll();

 private:
  explicit JobClient(ClientOptions options, std::shared_ptr<JobFuture::Shared> shared,
                     std::shared_ptr<internal::CompletionQueue> completions);
  std::shared_ptr<JobFuture::Shared> Current() const;
  // Has `session`'s reader wake the reconnector when its stream ends.
  void WatchDisconnect(JobFuture::Shared& session);
  void ReconnectLoop();

  const ClientOptions options_;
  // A plain std::mutex (not absl::Mutex, see client/internal/plain_mutex.h), and so without
  // Abseil's lock annotations in this public header: mu_ guards shared_ and reconnects_.
  mutable std::mutex mu_;
  std::shared_ptr<JobFuture::Shared> shared_;
  BeforeStartHook before_start_;
  const std::shared_ptr<internal::CompletionQueue> completions_;
  uint64_t reconnects_ = 0;
  // The reconnector sleeps on this until the session's stream ends or the client closes.
  struct ReconnectWake;
  const std::shared_ptr<ReconnectWake> wake_;
  std::thread reconnector_;
};

}  // namespace jobd::client
