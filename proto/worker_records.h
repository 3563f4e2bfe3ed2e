// The job records of a worker's own channel (its segment's ring pair), between the agent and the
// SDK's worker, beside the protobuf messages of the same rings:
//   AssignmentRecord  agent -> worker: a job to run, every field an Assignment has that the agent
//                     sets; only to a worker whose hello asked for them (WorkerHello.job_records)
//   ResultRecord      worker -> agent: how it ended, every field a JobResult has
// Each starts with a 0 byte, as the session's records do (proto/session_records.h), so one pop
// tells a record from a message. Why not protobuf: with more sessions than workers every job takes
// these two hops, and building, serializing, parsing and destroying the two messages was about a
// microsecond per job of the agent's and the worker's CPU (docs/benchmarks.md, "Fixed records on
// a worker's channel").
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/lane_records.h"
#include "proto/record_io.h"

namespace jobd::wire {

// Where a job has been, in each process's monotonic nanoseconds (0: not stamped).
struct JobStamps {
  int64_t client_sent_ns = 0;
  int64_t agent_received_ns = 0;
  int64_t agent_dispatched_ns = 0;
  int64_t worker_received_ns = 0;
  int64_t worker_done_ns = 0;
};

struct AssignmentRecord {
  uint64_t job_id = 0;
  uint32_t segment = 0;  // the session whose segment holds the request and takes the response
  uint32_t attempt = 0;
  LaneSlab request;
  LaneSlab shared;  // start-multi's piece
  int64_t deadline_unix_us = 0;
  JobStamps stamps;  // up to agent_dispatched_ns
  std::string type;
  std::vector<std::pair<std::string, std::string>> context;
};

struct ResultRecord {
  uint64_t job_id = 0;
  int32_t code = 0;  // absl::StatusCode on the wire; 0: OK
  bool early = false;  // ManualRespond: the answer; the handler keeps running
  LaneSlab response;   // the worker's until the agent takes it
  JobStamps stamps;    // the assignment's, plus the worker's own
  std::string message;
};

namespace worker_internal {

inline constexpr uint32_t kAssignmentMagic = 0x41576a00;  // "\0jWA"
inline constexpr uint32_t kResultMagic = 0x52576a00;      // "\0jWR"

struct AssignmentHead {
  uint32_t magic;
  uint32_t segment;
  uint64_t job_id;
  uint64_t request_handle;
  uint64_t request_size;
  uint64_t shared_handle;
  uint64_t shared_size;
  int64_t deadline_unix_us;
  int64_t client_sent_ns;
  int64_t agent_received_ns;
  int64_t agent_dispatched_ns;
  uint32_t attempt;
  uint32_t type_bytes;
  uint32_t context_entries;
  uint32_t reserved;
};

struct ResultHead {
  uint32_t magic;
  int32_t code;
  uint64_t job_id;
  uint64_t response_handle;
  uint64_t response_size;
  int64_t client_sent_ns;
  int64_t agent_received_ns;
  int64_t agent_dispatched_ns;
  int64_t worker_received_ns;
  int64_t worker_done_ns;
  uint32_t early;  // 0 or 1
  uint32_t message_bytes;
};

}  // namespace worker_internal

// The bytes EncodeAssignmentRecord writes for a job of this type and context.
template <typename Context>
uint64_t AssignmentRecordBytes(absl::string_view type, const Context& context) {
  return sizeof(worker_internal::AssignmentHead) + record_io::TypeAndContextBytes(type, context);
}

// Into `out`, exactly AssignmentRecordBytes(type, context) long; `a`'s own type and context are
// not read (the agent encodes straight from its dispatch). `context`: pairs of strings (a map).
template <typename Context>
void EncodeAssignmentRecord(const AssignmentRecord& a, absl::string_view type, const Context& context,
                            std::span<std::byte> out) {
  worker_internal::AssignmentHead head{};
  head.magic = worker_internal::kAssignmentMagic;
  head.segment = a.segment;
  head.job_id = a.job_id;
  head.request_handle = a.request.handle;
  head.request_size = a.request.size;
  head.shared_handle = a.shared.handle;
  head.shared_size = a.shared.size;
  head.deadline_unix_us = a.deadline_unix_us;
  head.client_sent_ns = a.stamps.client_sent_ns;
  head.agent_received_ns = a.stamps.agent_received_ns;
  head.agent_dispatched_ns = a.stamps.agent_dispatched_ns;
  head.attempt = a.attempt;
  head.type_bytes = static_cast<uint32_t>(type.size());
  head.context_entries = static_cast<uint32_t>(context.size());
  record_io::PutTypeAndContext(record_io::Put(out.data(), &head, sizeof head), type, context);
}

inline bool IsAssignmentRecord(std::span<const std::byte> bytes) {
  return record_io::HasMagic(bytes, worker_internal::kAssignmentMagic);
}

// False unless `bytes` is one whole AssignmentRecord and nothing more (what the encoder writes
// for it). `out` is reused (its strings keep their capacity); on false it holds whatever was
// read. The worker's stamps are left as they were (0 from the agent).
inline bool DecodeAssignmentRecord(std::span<const std::byte> bytes, AssignmentRecord& out) {
  record_io::Reader in(bytes);
  worker_internal::AssignmentHead head;
  if (!in.Copy(head) || head.magic != worker_internal::kAssignmentMagic || head.reserved != 0) return false;
  out.job_id = head.job_id;
  out.segment = head.segment;
  out.attempt = head.attempt;
  out.request = {head.request_handle, head.request_size};
  out.shared = {head.shared_handle, head.shared_size};
  out.deadline_unix_us = head.deadline_unix_us;
  out.stamps = JobStamps{.client_sent_ns = head.client_sent_ns,
                         .agent_received_ns = head.agent_received_ns,
                         .agent_dispatched_ns = head.agent_dispatched_ns};
  return record_io::ReadTypeAndContext(in, bytes.size(), head.type_bytes, head.context_entries, out.type,
                                       out.context) &&
         in.done();
}

// The bytes EncodeResultRecord writes, its message cut to `max_bytes` in all.
inline uint64_t ResultRecordBytes(const ResultRecord& r, uint64_t max_bytes) {
  constexpr uint64_t kHead = sizeof(worker_internal::ResultHead);
  const uint64_t room = max_bytes > kHead ? max_bytes - kHead : 0;
  return kHead + std::min<uint64_t>(r.message.size(), room);
}

// Into `out`, exactly ResultRecordBytes(r, out.size()) long: a message that does not fit is cut
// (a job's end must reach the agent; the ring bounds what one record can be).
inline void EncodeResultRecord(const ResultRecord& r, std::span<std::byte> out) {
  worker_internal::ResultHead head{};
  head.magic = worker_internal::kResultMagic;
  head.code = r.code;
  head.job_id = r.job_id;
  head.response_handle = r.response.handle;
  head.response_size = r.response.size;
  head.client_sent_ns = r.stamps.client_sent_ns;
  head.agent_received_ns = r.stamps.agent_received_ns;
  head.agent_dispatched_ns = r.stamps.agent_dispatched_ns;
  head.worker_received_ns = r.stamps.worker_received_ns;
  head.worker_done_ns = r.stamps.worker_done_ns;
  head.early = r.early ? 1 : 0;
  head.message_bytes = static_cast<uint32_t>(out.size() - sizeof head);
  std::byte* at = record_io::Put(out.data(), &head, sizeof head);
  record_io::Put(at, r.message.data(), head.message_bytes);
}

inline bool IsResultRecord(std::span<const std::byte> bytes) {
  return record_io::HasMagic(bytes, worker_internal::kResultMagic);
}

// False unless `bytes` is one whole ResultRecord and nothing more. The message may be any bytes:
// the agent quotes it (agent/log_text.h) before it passes it on.
inline bool DecodeResultRecord(std::span<const std::byte> bytes, ResultRecord& out) {
  record_io::Reader in(bytes);
  worker_internal::ResultHead head;
  if (!in.Copy(head) || head.magic != worker_internal::kResultMagic || head.early > 1) return false;
  out.job_id = head.job_id;
  out.code = head.code;
  out.early = head.early == 1;
  out.response = {head.response_handle, head.response_size};
  out.stamps = JobStamps{.client_sent_ns = head.client_sent_ns,
                         .agent_received_ns = head.agent_received_ns,
                         .agent_dispatched_ns = head.agent_dispatched_ns,
                         .worker_received_ns = head.worker_received_ns,
                         .worker_done_ns = head.worker_done_ns};
  return in.String(head.message_bytes, out.message) && in.done();
}

}  // namespace jobd::wire
