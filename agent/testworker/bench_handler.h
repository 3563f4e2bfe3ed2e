// The benchmark's handler, shared by jobd-testworker and by the workers of every system the
// comparison suite (tests/bench/suite/) runs, so that each does exactly the same work:
//   bench:       up to 64 KiB: echo; larger: read every byte, answer the length (8 bytes, LE)
//   bench-multi: read every byte of the shared piece and the request, answer their total length
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace jobd::bench {

inline constexpr size_t kEchoLimit = 64 * 1024;

// Reads every byte (8 at a time), so no system gets away without touching the payload.
inline uint64_t Touch(std::string_view bytes) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    sum += w;
  }
  for (; i < bytes.size(); ++i) sum += static_cast<unsigned char>(bytes[i]);
  return sum;
}

inline std::string LengthAnswer(uint64_t n) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out;
}

// The answer to a "bench" request; `sink` keeps the read from being optimised away.
inline std::string BenchAnswer(std::string_view request, uint64_t* sink) {
  if (request.size() <= kEchoLimit) return std::string(request);
  *sink += Touch(request);
  return LengthAnswer(request.size());
}

inline std::string MultiAnswer(std::string_view shared, std::string_view request, uint64_t* sink) {
  *sink += Touch(shared) + Touch(request);
  return LengthAnswer(shared.size() + request.size());
}

inline absl::Status CheckLength(uint64_t expected, std::string_view answer) {
  uint64_t n = 0;
  if (answer.size() == 8) std::memcpy(&n, answer.data(), 8);
  if (answer.size() == 8 && n == expected) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("expected the length ", expected, ", got ", answer.size(), " bytes"));
}

// What the caller checks: an echo equal to the request, or the right length.
inline absl::Status CheckBenchAnswer(std::string_view request, std::string_view answer) {
  if (request.size() <= kEchoLimit) {
    if (answer == request) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat("echo of ", request.size(), " bytes came back as ", answer.size(),
                                            " different bytes"));
  }
  return CheckLength(request.size(), answer);
}

}  // namespace jobd::bench
