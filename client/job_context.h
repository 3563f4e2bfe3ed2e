// What a handler gets for one job: the request in place, the caller's context, the deadline and
// a cancel flag, and the ways to answer (a copy into a response slab, a slab written in place,
// or an early answer for ManualRespond jobs). Made by Worker for each job it runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
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

}  // namespace jobd::client
