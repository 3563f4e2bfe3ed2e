// The one percentile every case of the suite reports: the sample at rank q * n of the sorted
// samples (no interpolation), so p99 of 300 samples is the 297th.
#pragma once

#include <algorithm>
#include <vector>

namespace jobd::bench {

inline double Percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, static_cast<size_t>(q * static_cast<double>(samples.size())))];
}

}  // namespace jobd::bench
