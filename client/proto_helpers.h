// Typed helpers: a protobuf message is serialized straight into the request slab and parsed
// in place from the response slab. No intermediate buffers.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "client/worker.h"
#include "google/protobuf/message_lite.h"

namespace jobd::client {

// Starts a job whose request is `message`, serialized once, into the slab.
inline absl::StatusOr<JobFuture> StartMessage(JobClient& client, std::string_view type,
                                              const google::protobuf::MessageLite& message,
                                              const StartOptions& options = {}) {
  const size_t size = message.ByteSizeLong();
  return client.StartWith(
      type, size,
      [&](std::span<std::byte> slab) -> absl::StatusOr<size_t> {
        if (!message.SerializeToArray(slab.data(), static_cast<int>(size))) {
          return absl::InvalidArgumentError(absl::StrCat("cannot serialize ", message.GetTypeName()));
        }
        return size;
      },
      options);
}

// Parses bytes (a response or a request) into a message.
template <typename M>
absl::StatusOr<M> ParseMessage(std::span<const std::byte> bytes) {
  M message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("cannot parse ", bytes.size(), " bytes as ",
                                            message.GetTypeName()));
  }
  return message;
}

// Waits for a job and parses its response as M.
template <typename M>
absl::StatusOr<M> WaitMessage(JobFuture& future, absl::Duration timeout = absl::InfiniteDuration()) {
  absl::StatusOr<Response> response = future.Wait(timeout);
  if (!response.ok()) return response.status();
  return ParseMessage<M>(response->bytes());
}

// In a handler: serializes `message` straight into the response slab.
inline absl::Status RespondMessage(JobContext& job, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  absl::StatusOr<std::span<std::byte>> buffer = job.ResponseBuffer(size);
  if (!buffer.ok()) return buffer.status();
  if (!message.SerializeToArray(buffer->data(), static_cast<int>(size))) {
    return absl::InternalError(absl::StrCat("cannot serialize ", message.GetTypeName()));
  }
  return job.CommitResponse(size);
}

}  // namespace jobd::client
