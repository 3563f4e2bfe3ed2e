#include "coordinator/stats.h"

#include <algorithm>
#include <cmath>

namespace jobd::coordinator {
namespace {

// Bucket i holds durations up to 10^(i/10) microseconds: ten buckets a decade, so a quantile
// read from a bucket bound is within 26% of the truth (and usually much closer).
double BucketBoundUs(int i) { return std::pow(10.0, i / 10.0); }

}  // namespace

void LatencyHistogram::Record(absl::Duration d) {
  const double us = std::max(1.0, absl::ToDoubleMicroseconds(d));
  int i = static_cast<int>(std::ceil(10.0 * std::log10(us) - 1e-9));
  i = std::clamp(i, 0, kBuckets - 1);
  ++buckets_[i];
  ++count_;
  sum_us_ += absl::ToDoubleMicroseconds(d);
}

absl::Duration LatencyHistogram::Mean() const {
  if (count_ == 0) return absl::ZeroDuration();
  return absl::Microseconds(sum_us_ / static_cast<double>(count_));
}

absl::Duration LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return absl::ZeroDuration();
  const uint64_t target = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= target) return absl::Microseconds(BucketBoundUs(i));
  }
  return absl::Microseconds(BucketBoundUs(kBuckets - 1));
}

}  // namespace jobd::coordinator
