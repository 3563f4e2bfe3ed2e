// A clock that moves only when the test says so.
#pragma once

#include "coordinator/clock.h"

namespace jobd::testing {

class FakeClock final : public coordinator::Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

}  // namespace jobd::testing
