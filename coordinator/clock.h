// Time as the coordinator sees it: injected, so tests can drive it.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace jobd::coordinator {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace jobd::coordinator
