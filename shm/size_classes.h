// Size classes: how the arena's bytes are cut into slabs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace jobd::shm {

struct SizeClass {
  uint64_t slab_size = 0;  // bytes; a multiple of 64
  uint32_t count = 0;      // slabs of this size; at least 1

  friend bool operator==(const SizeClass&, const SizeClass&) = default;
};

// Parses "4K:1024,64K:256,1M:8" (suffixes K, M, G are powers of 1024; plain numbers are
// bytes). Classes come back sorted by size, strictly increasing. Errors name the bad item:
// an empty list, a size that is 0 or not a multiple of 64, a count of 0, a duplicate size,
// more than 32 classes or more than 2^24 slabs in one class.
absl::StatusOr<std::vector<SizeClass>> ParseSizeClasses(std::string_view spec);

// The default for `workers` worker processes: KPHP's scheme (a budget of 8 MiB per worker
// spread by weights {2,2,2,2,1,1,1,1,1,1} over 128 KiB ... 64 MiB), at least one slab of
// every class so that any payload up to 64 MiB fits, plus small classes (4 KiB, 64 KiB)
// so that an 8-byte answer does not take 128 KiB.
std::vector<SizeClass> DefaultSizeClasses(int workers);

// The classes cut down to at most `budget` bytes in all, for one session's segment: classes
// larger than the budget go, then counts shrink in proportion (each class keeps at least one
// slab), then the largest classes go until the rest fits. InvalidArgument when not even one
// slab of the smallest class fits.
absl::StatusOr<std::vector<SizeClass>> FitSizeClasses(const std::vector<SizeClass>& classes, uint64_t budget);

// "4K:1024,64K:256,1M:8": the inverse of ParseSizeClasses.
std::string FormatSizeClasses(const std::vector<SizeClass>& classes);

// A human table, one line per class (size, count, bytes), and a total; printed at start.
std::string DescribeSizeClasses(const std::vector<SizeClass>& classes);

// "4 KiB", "64 MiB", "1536 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace jobd::shm
