// A protobuf message, or a lane record, through a shared-memory ring (shm/message_ring.h), one
// way for the agent and the SDK alike. A push serializes straight into the ring: the one copy of
// the bytes. A protobuf pop from a ring that another process may rewrite while we read (any
// peer's up ring, as the agent sees it) copies the bytes out before parsing, so the parser never
// reads memory that changes under it; a pop from a ring only trusted peers write parses in
// place. A lane record needs no copy: its decoder reads each length once (proto/lane_records.h).
// A MessageRing is a view of the shared memory (its index and its bytes): passed by value.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "proto/lane_records.h"
#include "proto/session_records.h"
#include "proto/worker_records.h"
#include "shm/message_ring.h"

namespace jobd::wire {

// False when the ring has no room for it now; an error when the ring is broken or the message
// is larger than the ring takes.
inline absl::StatusOr<bool> PushMessage(shm::MessageRing ring, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  return ring.TryPushWith(size, [&](std::span<std::byte> out) {
    message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data()));
  });
}

// Pops one record into `decode` (bytes -> bool). False when nothing waits; DataLoss naming
// `what` when `decode` refuses the bytes (the record is consumed); the ring's own error when it
// is broken.
template <typename Decode>
absl::StatusOr<bool> PopDecoded(shm::MessageRing ring, Decode decode, absl::string_view what) {
  bool decoded = true;
  absl::StatusOr<bool> popped = ring.TryPop([&](std::span<const std::byte> bytes) { decoded = decode(bytes); });
  if (popped.ok() && *popped && !decoded) return absl::DataLossError(what);
  return popped;
}

// `scratch`: copy out first (the writer may be an adversary); null: parse in place.
inline bool ParseMessage(std::span<const std::byte> bytes, google::protobuf::MessageLite& out, std::string* scratch) {
  if (scratch == nullptr) return out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  scratch->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return out.ParseFromString(*scratch);
}

inline absl::StatusOr<bool> PopMessage(shm::MessageRing ring, google::protobuf::MessageLite& out,
                                       std::string* scratch, absl::string_view what) {
  return PopDecoded(ring, [&](std::span<const std::byte> bytes) { return ParseMessage(bytes, out, scratch); }, what);
}

// A session's lane carries fixed records (proto/lane_records.h), not protobuf.
// Up the lane: the job a Submit describes (only the fields a lane job has). False when the ring
// has no room now.
template <typename Context>
absl::StatusOr<bool> PushLaneJob(shm::MessageRing ring, uint32_t seq, absl::string_view type, LaneSlab request,
                                 uint64_t timeout_ms, int64_t client_sent_ns, const Context& context) {
  return ring.TryPushWith(LaneJobBytes(type, context), [&](std::span<std::byte> out) {
    EncodeLaneJob(seq, type, request, timeout_ms, client_sent_ns, context, out);
  });
}

// Down the lane; a message longer than the ring takes is cut.
inline absl::StatusOr<bool> PushLaneAnswer(shm::MessageRing ring, const LaneAnswer& answer) {
  return ring.TryPushWith(LaneAnswerBytes(answer, ring.max_message()),
                          [&](std::span<std::byte> out) { EncodeLaneAnswer(answer, out); });
}

// Up a worker's own ring, beside its protobuf messages. False when the ring has no room now.
inline absl::StatusOr<bool> PushLaneReport(shm::MessageRing ring, const LaneReport& report) {
  return ring.TryPushWith(LaneReportBytes(report), [&](std::span<std::byte> out) { EncodeLaneReport(report, out); });
}

// A ring that carries fixed records beside protobuf messages: a record (`*is_record` true, when
// `is(bytes)` says it claims to be one, decoded by `decode` with no copy first) or a message
// (`scratch` as in ParseMessage).
template <typename Record, typename Is, typename Decode>
absl::StatusOr<bool> PopMessageOrRecord(shm::MessageRing ring, google::protobuf::MessageLite& out, Record& record,
                                        bool* is_record, std::string* scratch, absl::string_view what, Is is,
                                        Decode decode) {
  return PopDecoded(
      ring,
      [&](std::span<const std::byte> bytes) {
        *is_record = is(bytes);
        return *is_record ? decode(bytes, record) : ParseMessage(bytes, out, scratch);
      },
      what);
}

// What a pop from a worker's up ring gave.
enum class WorkerUp { kMessage, kResult, kLaneReport };

// A worker's up ring (proto/worker_records.h, proto/lane_records.h): a ResultRecord, a
// LaneReport or a protobuf WorkerMessage (`scratch` as in ParseMessage); `*kind` says which.
inline absl::StatusOr<bool> PopWorkerUp(shm::MessageRing ring, google::protobuf::MessageLite& out,
                                        ResultRecord& result, LaneReport& report, WorkerUp* kind,
                                        std::string* scratch, absl::string_view what) {
  return PopDecoded(
      ring,
      [&](std::span<const std::byte> bytes) {
        if (IsResultRecord(bytes)) {
          *kind = WorkerUp::kResult;
          return DecodeResultRecord(bytes, result);
        }
        if (IsLaneReport(bytes)) {
          *kind = WorkerUp::kLaneReport;
          return DecodeLaneReport(bytes, report);
        }
        *kind = WorkerUp::kMessage;
        return ParseMessage(bytes, out, scratch);
      },
      what);
}

// Up a worker's own ring; a message longer than the ring takes is cut. False when the ring has
// no room now.
inline absl::StatusOr<bool> PushResultRecord(shm::MessageRing ring, const ResultRecord& result) {
  return ring.TryPushWith(ResultRecordBytes(result, ring.max_message()),
                          [&](std::span<std::byte> out) { EncodeResultRecord(result, out); });
}

// Down a worker's own ring: an AssignmentRecord or an AgentToWorker.
inline absl::StatusOr<bool> PopMessageOrAssignment(shm::MessageRing ring, google::protobuf::MessageLite& out,
                                                   AssignmentRecord& assignment, bool* is_record,
                                                   std::string* scratch, absl::string_view what) {
  return PopMessageOrRecord(ring, out, assignment, is_record, scratch, what, IsAssignmentRecord,
                            DecodeAssignmentRecord);
}

// A session's channel (proto/session_records.h). Up: a SubmitRecord or a ClientMessage.
inline absl::StatusOr<bool> PopMessageOrSubmit(shm::MessageRing ring, google::protobuf::MessageLite& out,
                                               SubmitRecord& submit, bool* is_record, std::string* scratch,
                                               absl::string_view what) {
  return PopMessageOrRecord(ring, out, submit, is_record, scratch, what, IsSubmitRecord, DecodeSubmitRecord);
}
// Down: a CompletionRecord or an AgentMessage.
inline absl::StatusOr<bool> PopMessageOrCompletion(shm::MessageRing ring, google::protobuf::MessageLite& out,
                                                   CompletionRecord& completion, bool* is_record,
                                                   std::string* scratch, absl::string_view what) {
  return PopMessageOrRecord(ring, out, completion, is_record, scratch, what, IsCompletionRecord,
                            DecodeCompletionRecord);
}

// False when the ring has no room now.
template <typename Context>
absl::StatusOr<bool> PushSubmitRecord(shm::MessageRing ring, const SubmitFixed& fixed, absl::string_view type,
                                      const Context& context) {
  return ring.TryPushWith(SubmitRecordBytes(type, context), [&](std::span<std::byte> out) {
    EncodeSubmitRecord(fixed, type, context, out);
  });
}

// Decoded from the ring's memory without a copy first.
inline absl::StatusOr<bool> PopLaneJob(shm::MessageRing ring, LaneJob& out, absl::string_view what) {
  return PopDecoded(ring, [&](std::span<const std::byte> bytes) { return DecodeLaneJob(bytes, out); }, what);
}
inline absl::StatusOr<bool> PopLaneAnswer(shm::MessageRing ring, LaneAnswer& out, absl::string_view what) {
  return PopDecoded(ring, [&](std::span<const std::byte> bytes) { return DecodeLaneAnswer(bytes, out); }, what);
}

}  // namespace jobd::wire
