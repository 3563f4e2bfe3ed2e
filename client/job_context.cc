#include "client/job_context.h"

#include <algorithm>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "shm/status_macros.h"
#include "shm/wall_clock.h"

namespace jobd::client {

// How long a handler waits for memory to write its response in before the job fails with
// RESOURCE_EXHAUSTED (see ResponseBuffer).
constexpr absl::Duration kResponseMemoryWait = absl::Seconds(1);

ABSL_ATTRIBUTE_HOT
absl::Status JobContext::Respond(std::span<const std::byte> bytes) {
  JOBD_ASSIGN_OR_RETURN(std::span<std::byte> buffer, ResponseBuffer(bytes.size()));
  if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
  return CommitResponse(bytes.size());
}

ABSL_ATTRIBUTE_HOT
absl::Status JobContext::Respond(std::string_view bytes) {
  return Respond(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

ABSL_ATTRIBUTE_HOT
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
      std::clamp(deadline_ - shm::WallNow(), absl::ZeroDuration(), kResponseMemoryWait);
  JOBD_ASSIGN_OR_RETURN(shm::Allocation slab, arena_->AllocateWait(capacity, owner_, wait));
  response_ = slab.handle;
  response_buffer_ = slab.data;
  return response_buffer_.first(capacity);
}

ABSL_ATTRIBUTE_HOT
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

}  // namespace jobd::client
