#include "coordinator/stats.h"

#include <algorithm>
#include <cmath>

namespace jobd::coordinator {
namespace {

// Bucket i holds durations up to 10^(i/10) microseconds: ten buckets a decade, so a quantile
// read from a bucket bound is within 26% of the truth (and usually much closer).
// In nanoseconds: the last, 10^15.9 us, is 7.9e18 ns, within int64.
template <size_t N>
const std::array<int64_t, N>& BucketBoundsNs() {
  static const std::array<int64_t, N> bounds = [] {
    std::array<int64_t, N> b;
    for (size_t i = 0; i < N; ++i) b[i] = std::llround(std::pow(10.0, static_cast<double>(i) / 10.0) * 1000.0);
    return b;
  }();
  return bounds;
}

}  // namespace

void LatencyHistogram::Record(absl::Duration d) {
  const std::array<int64_t, kBuckets>& bounds = BucketBoundsNs<kBuckets>();
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  // The first bucket whose bound is at or above `ns`: anything up to 1 us lands in bucket 0,
  // anything past the last bound in the last.
  const auto at = std::lower_bound(bounds.begin(), bounds.end(), ns);
  ++buckets_[at == bounds.end() ? kBuckets - 1 : at - bounds.begin()];
  ++count_;
  sum_ns_ += static_cast<double>(ns);
}

absl::Duration LatencyHistogram::Mean() const {
  if (count_ == 0) return absl::ZeroDuration();
  return absl::Nanoseconds(sum_ns_ / static_cast<double>(count_));
}

absl::Duration LatencyHistogram::Quantile(double q) const {
  const std::array<int64_t, kBuckets>& bounds = BucketBoundsNs<kBuckets>();
  if (count_ == 0) return absl::ZeroDuration();
  const uint64_t target = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= target) return absl::Nanoseconds(bounds[i]);
  }
  return absl::Nanoseconds(bounds[kBuckets - 1]);
}

}  // namespace jobd::coordinator
