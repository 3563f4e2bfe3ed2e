// Polls a condition that another thread or process makes true, with a generous timeout: tests
// wait for state, never for a fixed time.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace jobd::testing {

template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return pred();
}

}  // namespace jobd::testing
