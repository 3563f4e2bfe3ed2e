#include "agent/wake_plan.h"

#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

const absl::Time t0 = absl::FromUnixSeconds(1000);

TEST(WakePlanTest, OnlyATimerSoonerThanThePlanWakesHousekeeping) {
  WakePlan plan;
  plan.SleepingUntil(t0 + absl::Seconds(60));
  EXPECT_FALSE(plan.MaySooner(t0 + absl::Seconds(60)));
  EXPECT_FALSE(plan.Lower(t0 + absl::Seconds(61)));
  EXPECT_TRUE(plan.MaySooner(t0 + absl::Seconds(5)));
  EXPECT_TRUE(plan.Lower(t0 + absl::Seconds(5)));
  // The plan now says 5 s: a stream of later deadlines costs no more wake-ups.
  EXPECT_FALSE(plan.Lower(t0 + absl::Seconds(6)));
  EXPECT_FALSE(plan.Lower(t0 + absl::Seconds(5)));
  EXPECT_TRUE(plan.Lower(t0 + absl::Seconds(4)));
}

TEST(WakePlanTest, AwakeHousekeepingNeedsNoWake) {
  WakePlan plan;
  plan.Awake();
  EXPECT_FALSE(plan.MaySooner(t0));
  EXPECT_FALSE(plan.Lower(t0));
}

TEST(WakePlanTest, BeforeHousekeepingFirstSleepsAnyTimerWakesIt) {
  WakePlan plan;
  EXPECT_TRUE(plan.Lower(t0 + absl::Hours(1000)));
}

}  // namespace
}  // namespace jobd::agent
