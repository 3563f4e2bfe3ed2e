// A status on the wire, the one mapping every side uses: a completion (agent or leased worker
// to client) and a ResultRecord (worker to agent) carry an absl::StatusCode value and a message.
// The reader never trusts the number: a code outside absl's range reads as UNKNOWN, and a
// failure that claims code 0 (OK) reads as UNKNOWN too, so a peer cannot turn an error into a
// success by its code alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "proto/worker_records.h"

namespace jobd::wire {

inline int CodeOnWire(const absl::Status& status) { return static_cast<int>(status.code()); }

// The status a failure's code and message stand for. `message` is cut to `max_message` bytes.
inline absl::Status FailureFromWire(int64_t code, std::string_view message, size_t max_message = 4096) {
  const bool known = code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated);
  const absl::StatusCode c = known ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown;
  if (message.empty()) message = "(no message)";
  message = message.substr(0, max_message);
  return absl::Status(c, absl::string_view(message.data(), message.size()));
}

// A worker's answer: OK (nothing set), or the handler's failure. The agent reads it back with
// FailureFromWire, which bounds the message.
inline void SetFailure(ResultRecord& result, const absl::Status& status) {
  if (status.ok()) return;
  result.code = CodeOnWire(status);
  result.message = std::string(status.message());
}

}  // namespace jobd::wire
