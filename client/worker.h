// The worker SDK: a handler registry by job type and a serve loop.
//
//   jobd::client::Worker worker;
//   worker.Handle("square", [](jobd::client::JobContext& job) -> absl::Status {
//     ... job.request() is the payload, read in place ...
//     return job.Respond(bytes);          // or job.ResponseBuffer(n) + job.CommitResponse(m)
//   });
//   return worker.Run().ok() ? 0 : 1;      // in a process the agent started
//
// A handler's error status, or an exception it throws, becomes the job's error with its
// message. One job at a time per process, as in KPHP.
//
// ManualRespond jobs answer early with RespondEarly() and keep working; the caller wakes at the
// answer, the worker stays busy until the handler returns. Cancellation (by the caller, or
// because the caller went away) shows in cancelled(); a handler that ignores it is killed after
// the agent's grace period.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/worker_env.h"
#include "shm/arena.h"

namespace jobd::client {

class JobContext {
 public:
  uint64_t job_id() const { return job_id_; }
  const std::string& type() const { return type_; }
  uint32_t attempt() const { return attempt_; }
  absl::Time deadline() const { return deadline_; }
  // The caller's context, restored for this job only.
  const std::map<std::string, std::string>& context() const { return context_; }

  // The request, in place in the arena (no copy).
  std::span<const std::byte> request() const { return request_; }
  std::string_view request_view() const {
    return {reinterpret_cast<const char*>(request_.data()), request_.size()};
  }
  // The read-only piece shared by a batch (start-multi); empty when there is none.
  std::span<const std::byte> shared() const { return shared_; }

  // Copies `bytes` once into a response slab.
  absl::Status Respond(std::span<const std::byte> bytes);
  absl::Status Respond(std::string_view bytes);
  // Zero-copy: a slab of at least `capacity` bytes to write the response into, then
  // CommitResponse(bytes actually written).
  absl::StatusOr<std::span<std::byte>> ResponseBuffer(uint64_t capacity);
  absl::Status CommitResponse(uint64_t size);

  // ManualRespond: sends the response now; the handler keeps running. A second response (early
  // or not) is FailedPrecondition.
  absl::Status RespondEarly(std::span<const std::byte> bytes);
  absl::Status RespondEarly(std::string_view bytes);

  // True once the job was cancelled; long handlers should check it and return.
  bool cancelled() const { return cancelled_ != nullptr && cancelled_->load(std::memory_order_relaxed); }

  // Values that persist between jobs in this worker process.
  WorkerEnv& env() { return *env_; }

 private:
  friend class Worker;
  shm::Arena* arena_ = nullptr;
  shm::OwnerId owner_ = shm::kNoOwner;
  uint64_t job_id_ = 0;
  std::string type_;
  uint32_t attempt_ = 1;
  absl::Time deadline_;
  std::map<std::string, std::string> context_;
  std::span<const std::byte> request_;
  std::span<const std::byte> shared_;
  shm::Handle response_;
  std::span<std::byte> response_buffer_;
  uint64_t response_size_ = 0;
  bool committed_ = false;
  bool responded_early_ = false;
  std::string local_response_;  // the local fallback's response buffer
  const std::atomic<bool>* cancelled_ = nullptr;
  WorkerEnv* env_ = nullptr;
  std::function<absl::Status(shm::Handle, uint64_t)> send_early_;
};

using Handler = std::function<absl::Status(JobContext& job)>;
// Runs before every handler (restore what the caller saved in the context) and after it
// (reset it, so nothing leaks into the next job on this worker).
using HandleHook = std::function<void(const JobContext& job)>;

struct WorkerOptions {
  std::string socket_path;  // empty: DefaultSocketPath()
  std::string token;        // empty: $JOBD_WORKER_TOKEN
};

class Worker {
 public:
  Worker();
  ~Worker();

  // Registers the handler for one job type; a later call for the same type replaces it.
  void Handle(std::string type, Handler handler);
  void SetBeforeHandle(HandleHook hook) { before_handle_ = std::move(hook); }
  void SetAfterHandle(HandleHook hook) { after_handle_ = std::move(hook); }

  // Connects to the agent and serves jobs until the agent closes the stream (then OK) or the
  // connection fails (UNAVAILABLE). A worker whose agent is gone exits rather than linger.
  absl::Status Run(WorkerOptions options = {});

  // Runs the handler for `type` here, in this process, as the local fallback does: the same
  // JobContext and hooks, with the request and the response in ordinary memory.
  // NotFound when no handler is registered for the type.
  absl::StatusOr<std::string> RunLocally(std::string_view type, std::string_view request,
                                         const std::map<std::string, std::string>& context = {});
  bool Handles(std::string_view type) const { return handlers_.count(std::string(type)) > 0; }

 private:
  std::map<std::string, Handler> handlers_;
  HandleHook before_handle_;
  HandleHook after_handle_;
  WorkerEnv env_;
};

}  // namespace jobd::client
