// Start-multi for systems that cannot share a piece: every job of the batch carries it, all at
// once (one connection each), and every answer must be the piece's length plus its request's.
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/testworker/bench_handler.h"

namespace jobd::bench {

// One job of the batch: sends the piece and the request, returns the answer.
using CarriedJob = std::function<absl::StatusOr<std::string>(std::string_view shared, std::string_view request)>;

inline absl::Status RunCarriedBatch(std::string_view shared, const std::vector<std::string_view>& requests,
                                    const CarriedJob& job) {
  std::vector<absl::Status> results(requests.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::string> answer = job(shared, requests[i]);
      results[i] = answer.ok() ? CheckLength(shared.size() + requests[i].size(), *answer) : answer.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// A carried job as one byte string, for queues that carry only bytes: the piece's length
// (8 bytes), the piece, the request.
inline std::string PackCarried(std::string_view shared, std::string_view request) {
  std::string out(8, '\0');
  const uint64_t n = shared.size();
  std::memcpy(out.data(), &n, 8);
  out.reserve(8 + shared.size() + request.size());
  out.append(shared).append(request);
  return out;
}

// The answer a worker gives to a packed job; false when the packing is malformed.
inline bool AnswerPacked(std::string_view payload, uint64_t* sink, std::string* answer) {
  uint64_t shared = 0;
  if (payload.size() < 8) return false;
  std::memcpy(&shared, payload.data(), 8);
  if (shared > payload.size() - 8) return false;
  *answer = MultiAnswer(payload.substr(8, shared), payload.substr(8 + shared), sink);
  return true;
}

}  // namespace jobd::bench
