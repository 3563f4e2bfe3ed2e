// The records of a lane job (shm/segment.h), one format for the SDK's client that writes jobs
// up a session's lane, the leased worker that answers down it, and the agent it reports to:
//   LaneJob     client -> worker: a simple job (no NoReply, ManualRespond, shared piece or retry:
//               the format cannot say them)
//   LaneAnswer  worker -> client: its outcome
//   LaneReport  worker -> agent, up the worker's own ring beside its protobuf messages: a lane
//               job started or ended, read when the agent next wakes. Its first byte is 0, which
//               starts no protobuf message (field number 0 does not exist), so one pop tells them
//               apart. The "started" one is pushed before the handler runs, on the job's path.
// A fixed head and the strings after it, in the host's byte order (both ends are on one host).
// Not protobuf: on the lane these are the only bytes a job's path encodes and parses, and a
// process that slept between jobs meets protobuf's parser cold (lane parse, build and serialize:
// 27.5 µs p50 with the caches flushed against 1.4 for fixed records; docs/benchmarks.md).
// A decoder reads from memory the writer may rewrite while it reads: each head and each length
// is copied once and only the copy is checked and used, so a rewrite can garble the record's
// strings but never move a read outside the bytes it was given.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/record_io.h"

namespace jobd::wire {

struct LaneSlab {
  uint64_t handle = 0;  // 0: none (an empty payload)
  uint64_t size = 0;
};

struct LaneJob {
  uint32_t seq = 0;
  std::string type;
  LaneSlab request;
  uint64_t timeout_ms = 0;  // 0: the lease's default
  int64_t client_sent_ns = 0;
  std::vector<std::pair<std::string, std::string>> context;
};

struct LaneAnswer {
  uint32_t seq = 0;
  int32_t outcome = 0;  // v1::Outcome
  int32_t code = 0;     // absl::StatusCode on the wire
  LaneSlab response;
  uint64_t run_us = 0;
  int64_t client_sent_ns = 0;
  int64_t worker_received_ns = 0;
  int64_t worker_done_ns = 0;
  std::string message;
};

struct LaneReport {
  uint32_t session = 0;
  uint64_t job_id = 0;
  bool started = false;          // true: the job started; false: it ended
  int64_t deadline_unix_us = 0;  // when started
  int32_t outcome = 0;           // when ended: v1::Outcome
  uint64_t run_us = 0;           // when ended
  std::string type;
};

namespace lane_internal {

inline constexpr uint32_t kJobMagic = 0x314a4c6a;     // "jLJ1"
inline constexpr uint32_t kAnswerMagic = 0x31414c6a;  // "jLA1"
inline constexpr uint32_t kReportMagic = 0x524c6a00;  // "\0jLR": no protobuf message starts with 0

struct JobHead {
  uint32_t magic;
  uint32_t seq;
  uint64_t request_handle;
  uint64_t request_size;
  uint64_t timeout_ms;
  int64_t client_sent_ns;
  uint32_t type_bytes;
  uint32_t context_entries;
};
struct AnswerHead {
  uint32_t magic;
  uint32_t seq;
  int32_t outcome;
  int32_t code;
  uint64_t response_handle;
  uint64_t response_size;
  uint64_t run_us;
  int64_t client_sent_ns;
  int64_t worker_received_ns;
  int64_t worker_done_ns;
  uint32_t message_bytes;
  uint32_t reserved;
};

struct ReportHead {
  uint32_t magic;
  uint32_t session;
  uint64_t job_id;
  int64_t deadline_unix_us;
  uint64_t run_us;
  int32_t outcome;
  uint32_t started;  // 0 or 1
  uint32_t type_bytes;
  uint32_t reserved;
};

}  // namespace lane_internal

// The bytes EncodeLaneJob writes for a job of this type and context.
template <typename Context>
uint64_t LaneJobBytes(absl::string_view type, const Context& context) {
  return sizeof(lane_internal::JobHead) + record_io::TypeAndContextBytes(type, context);
}

// Into `out`, exactly LaneJobBytes(type, context) long. `context`: pairs of strings (a map).
template <typename Context>
void EncodeLaneJob(uint32_t seq, absl::string_view type, LaneSlab request, uint64_t timeout_ms,
                   int64_t client_sent_ns, const Context& context, std::span<std::byte> out) {
  lane_internal::JobHead head{};
  head.magic = lane_internal::kJobMagic;
  head.seq = seq;
  head.request_handle = request.handle;
  head.request_size = request.size;
  head.timeout_ms = timeout_ms;
  head.client_sent_ns = client_sent_ns;
  head.type_bytes = static_cast<uint32_t>(type.size());
  head.context_entries = static_cast<uint32_t>(context.size());
  record_io::PutTypeAndContext(record_io::Put(out.data(), &head, sizeof head), type, context);
}

// False unless `bytes` is one whole LaneJob and nothing more (what the encoder writes for it).
// `out` is reused (its strings keep their capacity); on false it holds whatever was read.
inline bool DecodeLaneJob(std::span<const std::byte> bytes, LaneJob& out) {
  record_io::Reader in(bytes);
  lane_internal::JobHead head;
  if (!in.Copy(head) || head.magic != lane_internal::kJobMagic) return false;
  out.seq = head.seq;
  out.request = {head.request_handle, head.request_size};
  out.timeout_ms = head.timeout_ms;
  out.client_sent_ns = head.client_sent_ns;
  return record_io::ReadTypeAndContext(in, bytes.size(), head.type_bytes, head.context_entries, out.type,
                                       out.context) &&
         in.done();
}

// The bytes EncodeLaneAnswer writes, its message cut to `max_bytes` in all.
inline uint64_t LaneAnswerBytes(const LaneAnswer& answer, uint64_t max_bytes) {
  const uint64_t room = max_bytes > sizeof(lane_internal::AnswerHead) ? max_bytes - sizeof(lane_internal::AnswerHead) : 0;
  return sizeof(lane_internal::AnswerHead) + std::min<uint64_t>(answer.message.size(), room);
}

// Into `out`, exactly LaneAnswerBytes(answer, out.size()) long: a message that does not fit is
// cut (an answer must reach its client; the ring bounds what one record can be).
inline void EncodeLaneAnswer(const LaneAnswer& answer, std::span<std::byte> out) {
  lane_internal::AnswerHead head{};
  head.magic = lane_internal::kAnswerMagic;
  head.seq = answer.seq;
  head.outcome = answer.outcome;
  head.code = answer.code;
  head.response_handle = answer.response.handle;
  head.response_size = answer.response.size;
  head.run_us = answer.run_us;
  head.client_sent_ns = answer.client_sent_ns;
  head.worker_received_ns = answer.worker_received_ns;
  head.worker_done_ns = answer.worker_done_ns;
  head.message_bytes = static_cast<uint32_t>(out.size() - sizeof head);
  std::byte* at = record_io::Put(out.data(), &head, sizeof head);
  record_io::Put(at, answer.message.data(), head.message_bytes);
}

// False unless `bytes` is one whole LaneAnswer and nothing more (what the encoder writes for it).
inline bool DecodeLaneAnswer(std::span<const std::byte> bytes, LaneAnswer& out) {
  record_io::Reader in(bytes);
  lane_internal::AnswerHead head;
  if (!in.Copy(head) || head.magic != lane_internal::kAnswerMagic || head.reserved != 0) return false;
  out.seq = head.seq;
  out.outcome = head.outcome;
  out.code = head.code;
  out.response = {head.response_handle, head.response_size};
  out.run_us = head.run_us;
  out.client_sent_ns = head.client_sent_ns;
  out.worker_received_ns = head.worker_received_ns;
  out.worker_done_ns = head.worker_done_ns;
  return in.String(head.message_bytes, out.message) && in.done();
}

// The bytes EncodeLaneReport writes for `report`.
inline uint64_t LaneReportBytes(const LaneReport& report) {
  return sizeof(lane_internal::ReportHead) + report.type.size();
}

// Into `out`, exactly LaneReportBytes(report) long.
inline void EncodeLaneReport(const LaneReport& report, std::span<std::byte> out) {
  lane_internal::ReportHead head{};
  head.magic = lane_internal::kReportMagic;
  head.session = report.session;
  head.job_id = report.job_id;
  head.deadline_unix_us = report.deadline_unix_us;
  head.run_us = report.run_us;
  head.outcome = report.outcome;
  head.started = report.started ? 1 : 0;
  head.type_bytes = static_cast<uint32_t>(report.type.size());
  std::byte* at = record_io::Put(out.data(), &head, sizeof head);
  record_io::Put(at, report.type.data(), report.type.size());
}

// Whether `bytes` claim to be a LaneReport (its magic), not a protobuf message; only
// DecodeLaneReport says whether they are one.
inline bool IsLaneReport(std::span<const std::byte> bytes) {
  return record_io::HasMagic(bytes, lane_internal::kReportMagic);
}

// False unless `bytes` is one whole LaneReport and nothing more (what the encoder writes for it).
inline bool DecodeLaneReport(std::span<const std::byte> bytes, LaneReport& out) {
  record_io::Reader in(bytes);
  lane_internal::ReportHead head;
  if (!in.Copy(head) || head.magic != lane_internal::kReportMagic || head.started > 1 || head.reserved != 0) {
    return false;
  }
  out.session = head.session;
  out.job_id = head.job_id;
  out.started = head.started == 1;
  out.deadline_unix_us = head.deadline_unix_us;
  out.outcome = head.outcome;
  out.run_us = head.run_us;
  return in.String(head.type_bytes, out.type) && in.done();
}

}  // namespace jobd::wire
