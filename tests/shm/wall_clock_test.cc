// shm::WallNow is the wall clock a job's path reads instead of absl::Now(): it must be the same
// clock, to the nanosecond field (deadlines travel as Unix microseconds between processes).
#include "shm/wall_clock.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace jobd::shm {
namespace {

TEST(WallClockTest, ReadsTheSameClockAsAbslNow) {
  for (int i = 0; i < 100; ++i) {
    const absl::Time before = absl::Now();
    const absl::Time ours = WallNow();
    const absl::Time after = absl::Now();
    // absl::Now() may lag the kernel's clock a little (it interpolates between samples).
    EXPECT_GE(ours, before - absl::Milliseconds(5));
    EXPECT_LE(ours, after + absl::Milliseconds(5));
  }
}

TEST(WallClockTest, KeepsTheFractionOfTheSecond) {
  bool fraction = false;
  for (int i = 0; i < 10 && !fraction; ++i) fraction = absl::ToUnixNanos(WallNow()) % 1'000'000'000 != 0;
  EXPECT_TRUE(fraction) << "ten readings all on a whole second: tv_nsec is being dropped";
}

}  // namespace
}  // namespace jobd::shm
