#include "agent/lane_watch.h"

#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

const absl::Time kDeadline = absl::FromUnixSeconds(1000);
const absl::Duration kGrace = absl::Seconds(2);

TEST(LaneWatchTest, BeforeItsDeadlineAJobIsLeftAloneUntilTheDeadline) {
  const LaneVerdict v = JudgeLaneJob(kDeadline, false, kDeadline - absl::Milliseconds(1), kGrace);
  EXPECT_EQ(v.action, LaneAction::kNone);
  EXPECT_EQ(v.next_look, kDeadline);
}

TEST(LaneWatchTest, AtItsDeadlineTheSessionIsToldOnceThenTheWorkerKilledAfterTheGrace) {
  LaneVerdict v = JudgeLaneJob(kDeadline, false, kDeadline, kGrace);
  EXPECT_EQ(v.action, LaneAction::kTellDeadline);
  EXPECT_EQ(v.next_look, kDeadline + kGrace);
  // Told; within the grace: nothing more yet.
  v = JudgeLaneJob(kDeadline, true, kDeadline + kGrace - absl::Milliseconds(1), kGrace);
  EXPECT_EQ(v.action, LaneAction::kNone);
  EXPECT_EQ(v.next_look, kDeadline + kGrace);
  v = JudgeLaneJob(kDeadline, true, kDeadline + kGrace, kGrace);
  EXPECT_EQ(v.action, LaneAction::kKill);
  EXPECT_EQ(v.next_look, absl::InfiniteFuture());
}

TEST(LaneWatchTest, AJobFoundLongPastItsDeadlineIsToldBeforeItIsKilled) {
  // The agent may look late (it sleeps between ticks): the session still hears first.
  const LaneVerdict v = JudgeLaneJob(kDeadline, false, kDeadline + 10 * kGrace, kGrace);
  EXPECT_EQ(v.action, LaneAction::kTellDeadline);
}

}  // namespace
}  // namespace jobd::agent
