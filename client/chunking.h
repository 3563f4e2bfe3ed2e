// KPHP's advice on chunking, made easy: split an input into as many jobs as there are workers,
// but never into chunks smaller than is worth a job.
//
//   for (auto chunk : jobd::client::SplitForWorkers(std::span(posts), launcher->workers(), 20)) ...
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace jobd::client {

// How many chunks `items` should become: at most `workers`, each at least `min_per_chunk`
// items (and at least one chunk for a non-empty input).
inline size_t ChunkCount(size_t items, uint32_t workers, size_t min_per_chunk = 1) {
  if (items == 0) return 0;
  const size_t by_size = std::max<size_t>(1, items / std::max<size_t>(1, min_per_chunk));
  return std::max<size_t>(1, std::min<size_t>(std::max<uint32_t>(1, workers), by_size));
}

// Contiguous, nearly equal chunks (sizes differ by at most one), in order.
template <typename T>
std::vector<std::span<T>> SplitForWorkers(std::span<T> items, uint32_t workers, size_t min_per_chunk = 1) {
  const size_t n = ChunkCount(items.size(), workers, min_per_chunk);
  std::vector<std::span<T>> chunks;
  size_t begin = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t end = items.size() * (i + 1) / n;
    chunks.push_back(items.subspan(begin, end - begin));
    begin = end;
  }
  return chunks;
}

}  // namespace jobd::client
