// The job records of a session's own channel (its segment's first ring pair), between the SDK
// and the agent, beside the protobuf messages of the same rings:
//   SubmitRecord      client -> agent: a job, every field a v1::Submit has
//   CompletionRecord  agent -> client: how it ended, every field a v1::Completion has; only to a
//                     session whose hello asked for them (SessionHello.completion_records)
// Each starts with a 0 byte, which starts no protobuf message (field number 0 does not exist),
// so one pop tells a record from a message. The rest is as in proto/lane_records.h: a fixed
// head, then the strings, in the host's byte order. Why not protobuf: with more sessions than
// workers every job takes these two records, and building, serializing, parsing and destroying
// the two messages was a fifth of the client's CPU per job (docs/benchmarks.md, "Fixed records on
// the session's channel").
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/lane_records.h"
#include "proto/record_io.h"

namespace jobd::wire {

// A Submit's fields other than its strings.
struct SubmitFixed {
  uint32_t seq = 0;
  LaneSlab request;
  LaneSlab shared;          // start-multi's piece
  uint64_t timeout_ms = 0;  // 0: the agent's default
  int64_t client_sent_ns = 0;
  int32_t policy = 0;    // v1::Policy, checked by the agent as for a Submit
  int32_t priority = 0;  // v1::Priority, likewise
  uint32_t retry_max_attempts = 0;
  uint32_t retry_backoff_ms = 0;
  bool retry_handler_errors = false;
};

struct SubmitRecord {
  SubmitFixed fixed;
  std::string type;
  std::vector<std::pair<std::string, std::string>> context;
};

struct CompletionRecord {
  uint32_t seq = 0;
  int32_t outcome = 0;  // v1::Outcome
  int32_t code = 0;     // absl::StatusCode on the wire
  LaneSlab response;
  uint64_t queue_wait_us = 0;
  uint64_t run_us = 0;
  uint32_t attempts = 0;
  bool early = false;
  int64_t client_sent_ns = 0;
  int64_t agent_received_ns = 0;
  int64_t agent_dispatched_ns = 0;
  int64_t worker_received_ns = 0;
  int64_t worker_done_ns = 0;
  int64_t agent_result_ns = 0;
  int64_t agent_sent_ns = 0;
  std::string message;
};

namespace session_internal {

inline constexpr uint32_t kSubmitMagic = 0x53536a00;      // "\0jSS"
inline constexpr uint32_t kCompletionMagic = 0x43536a00;  // "\0jSC"

struct SubmitHead {
  uint32_t magic;
  uint32_t seq;
  uint64_t request_handle;
  uint64_t request_size;
  uint64_t shared_handle;
  uint64_t shared_size;
  uint64_t timeout_ms;
  int64_t client_sent_ns;
  int32_t policy;
  int32_t priority;
  uint32_t retry_max_attempts;
  uint32_t retry_backoff_ms;
  uint32_t retry_handler_errors;  // 0 or 1
  uint32_t type_bytes;
  uint32_t context_entries;
  uint32_t reserved;
};

struct CompletionHead {
  uint32_t magic;
  uint32_t seq;
  int32_t outcome;
  int32_t code;
  uint64_t response_handle;
  uint64_t response_size;
  uint64_t queue_wait_us;
  uint64_t run_us;
  uint32_t attempts;
  uint32_t early;  // 0 or 1
  int64_t client_sent_ns;
  int64_t agent_received_ns;
  int64_t agent_dispatched_ns;
  int64_t worker_received_ns;
  int64_t worker_done_ns;
  int64_t agent_result_ns;
  int64_t agent_sent_ns;
  uint32_t message_bytes;
  uint32_t reserved;
};

}  // namespace session_internal

// The bytes EncodeSubmitRecord writes for a job of this type and context.
template <typename Context>
uint64_t SubmitRecordBytes(absl::string_view type, const Context& context) {
  return sizeof(session_internal::SubmitHead) + record_io::TypeAndContextBytes(type, context);
}

// Into `out`, exactly SubmitRecordBytes(type, context) long. `context`: pairs of strings (a map).
template <typename Context>
void EncodeSubmitRecord(const SubmitFixed& f, absl::string_view type, const Context& context,
                        std::span<std::byte> out) {
  session_internal::SubmitHead head{};
  head.magic = session_internal::kSubmitMagic;
  head.seq = f.seq;
  head.request_handle = f.request.handle;
  head.request_size = f.request.size;
  head.shared_handle = f.shared.handle;
  head.shared_size = f.shared.size;
  head.timeout_ms = f.timeout_ms;
  head.client_sent_ns = f.client_sent_ns;
  head.policy = f.policy;
  head.priority = f.priority;
  head.retry_max_attempts = f.retry_max_attempts;
  head.retry_backoff_ms = f.retry_backoff_ms;
  head.retry_handler_errors = f.retry_handler_errors ? 1 : 0;
  head.type_bytes = static_cast<uint32_t>(type.size());
  head.context_entries = static_cast<uint32_t>(context.size());
  record_io::PutTypeAndContext(record_io::Put(out.data(), &head, sizeof head), type, context);
}

// Whether `bytes` claim to be a SubmitRecord; only DecodeSubmitRecord says whether they are one.
inline bool IsSubmitRecord(std::span<const std::byte> bytes) {
  return record_io::HasMagic(bytes, session_internal::kSubmitMagic);
}

// False unless `bytes` is one whole SubmitRecord and nothing more (what the encoder writes for
// it) whose strings are UTF-8, as a Submit's would have to be: the agent passes the type and the
// context on to a worker in protobuf. `out` is reused (its strings keep their capacity); on false
// it holds whatever was read.
inline bool DecodeSubmitRecord(std::span<const std::byte> bytes, SubmitRecord& out) {
  record_io::Reader in(bytes);
  session_internal::SubmitHead head;
  if (!in.Copy(head) || head.magic != session_internal::kSubmitMagic || head.retry_handler_errors > 1 ||
      head.reserved != 0) {
    return false;
  }
  SubmitFixed& f = out.fixed;
  f.seq = head.seq;
  f.request = {head.request_handle, head.request_size};
  f.shared = {head.shared_handle, head.shared_size};
  f.timeout_ms = head.timeout_ms;
  f.client_sent_ns = head.client_sent_ns;
  f.policy = head.policy;
  f.priority = head.priority;
  f.retry_max_attempts = head.retry_max_attempts;
  f.retry_backoff_ms = head.retry_backoff_ms;
  f.retry_handler_errors = head.retry_handler_errors == 1;
  if (!record_io::ReadTypeAndContext(in, bytes.size(), head.type_bytes, head.context_entries, out.type,
                                     out.context) ||
      !in.done() || !record_io::ValidUtf8(out.type)) {
    return false;
  }
  for (const auto& [key, value] : out.context) {
    if (!record_io::ValidUtf8(key) || !record_io::ValidUtf8(value)) return false;
  }
  return true;
}

// The bytes EncodeCompletionRecord writes, its message cut to `max_bytes` in all.
inline uint64_t CompletionRecordBytes(const CompletionRecord& c, uint64_t max_bytes) {
  constexpr uint64_t kHead = sizeof(session_internal::CompletionHead);
  const uint64_t room = max_bytes > kHead ? max_bytes - kHead : 0;
  return kHead + std::min<uint64_t>(c.message.size(), room);
}

// Into `out`, exactly CompletionRecordBytes(c, out.size()) long: a message that does not fit is
// cut (an answer must reach its client; the ring bounds what one record can be).
inline void EncodeCompletionRecord(const CompletionRecord& c, std::span<std::byte> out) {
  session_internal::CompletionHead head{};
  head.magic = session_internal::kCompletionMagic;
  head.seq = c.seq;
  head.outcome = c.outcome;
  head.code = c.code;
  head.response_handle = c.response.handle;
  head.response_size = c.response.size;
  head.queue_wait_us = c.queue_wait_us;
  head.run_us = c.run_us;
  head.attempts = c.attempts;
  head.early = c.early ? 1 : 0;
  head.client_sent_ns = c.client_sent_ns;
  head.agent_received_ns = c.agent_received_ns;
  head.agent_dispatched_ns = c.agent_dispatched_ns;
  head.worker_received_ns = c.worker_received_ns;
  head.worker_done_ns = c.worker_done_ns;
  head.agent_result_ns = c.agent_result_ns;
  head.agent_sent_ns = c.agent_sent_ns;
  head.message_bytes = static_cast<uint32_t>(out.size() - sizeof head);
  std::byte* at = record_io::Put(out.data(), &head, sizeof head);
  record_io::Put(at, c.message.data(), head.message_bytes);
}

inline bool IsCompletionRecord(std::span<const std::byte> bytes) {
  return record_io::HasMagic(bytes, session_internal::kCompletionMagic);
}

// False unless `bytes` is one whole CompletionRecord and nothing more.
inline bool DecodeCompletionRecord(std::span<const std::byte> bytes, CompletionRecord& out) {
  record_io::Reader in(bytes);
  session_internal::CompletionHead head;
  if (!in.Copy(head) || head.magic != session_internal::kCompletionMagic || head.early > 1 || head.reserved != 0) {
    return false;
  }
  out.seq = head.seq;
  out.outcome = head.outcome;
  out.code = head.code;
  out.response = {head.response_handle, head.response_size};
  out.queue_wait_us = head.queue_wait_us;
  out.run_us = head.run_us;
  out.attempts = head.attempts;
  out.early = head.early == 1;
  out.client_sent_ns = head.client_sent_ns;
  out.agent_received_ns = head.agent_received_ns;
  out.agent_dispatched_ns = head.agent_dispatched_ns;
  out.worker_received_ns = head.worker_received_ns;
  out.worker_done_ns = head.worker_done_ns;
  out.agent_result_ns = head.agent_result_ns;
  out.agent_sent_ns = head.agent_sent_ns;
  return in.String(head.message_bytes, out.message) && in.done();
}

}  // namespace jobd::wire
