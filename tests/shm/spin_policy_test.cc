// SpinPolicy: which waits teach a waiter to spin. Pure logic: the gaps are given, not timed.
// (Run where the process may use more than one CPU; on one CPU the policy never spins.)
#include "shm/spin_policy.h"

#include "gtest/gtest.h"

namespace jobd::shm {
namespace {

constexpr absl::Duration kWindow = absl::Microseconds(50);

// How many of the next `n` waits would spin, each then reported as `gap` with the spin it did.
int SpinsOver(SpinPolicy& policy, int n, absl::Duration gap, bool exact) {
  int spins = 0;
  for (int i = 0; i < n; ++i) {
    const bool spun = policy.Spin() > absl::ZeroDuration();
    spins += spun;
    // A spin that ends before the message leaves the waiter asleep until it comes.
    const bool slept = !spun || gap > kWindow;
    policy.Waited(gap, spun, slept, exact);
  }
  return spins;
}

class SpinPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SpinningCanHelp()) GTEST_SKIP() << "this process may use one CPU only: the policy never spins here";
  }
};

TEST_F(SpinPolicyTest, AWaiterWhoseSpinsCatchTheirMessagesKeepsSpinning) {
  SpinPolicy policy(kWindow);
  EXPECT_EQ(SpinsOver(policy, 200, absl::Microseconds(10), /*exact=*/true), 200);
}

TEST_F(SpinPolicyTest, MessagesThatComeJustAfterTheWindowStopTheSpinning) {
  // A job every 80 µs (10,000 jobs/s less the job's own time): each spin of 50 µs ends just
  // before the message and the waiter sleeps anyway. Counting that wait as short (it is within
  // twice the window) kept workers spinning 50 µs for nothing before every job.
  SpinPolicy policy(kWindow);
  SpinsOver(policy, 64, absl::Microseconds(80), /*exact=*/true);
  const int spins = SpinsOver(policy, 640, absl::Microseconds(80), /*exact=*/true);
  EXPECT_LE(spins, 640 / 64 + 1) << "only the probes spin";
  EXPECT_GE(spins, 640 / 64 - 1) << "the probes still spin";
}

TEST_F(SpinPolicyTest, AMissedSpinCountsAsAMissWhateverTheGapLooksLike) {
  SpinPolicy policy(kWindow);
  // Without exact stamps an unspun 80 µs gap may be a short gap and a wake-up, but a wait that
  // spun its whole window and then slept is a miss: the spin did not catch it.
  SpinsOver(policy, 64, absl::Microseconds(80), /*exact=*/false);
  EXPECT_LE(SpinsOver(policy, 640, absl::Microseconds(80), /*exact=*/false), 640 / 64 + 1) << "only the probes spin";
}

TEST_F(SpinPolicyTest, LongGapsStopTheSpinningAndShortOnesBringItBack) {
  SpinPolicy policy(kWindow);
  SpinsOver(policy, 64, absl::Milliseconds(10), /*exact=*/true);  // 100 jobs/s
  EXPECT_LE(SpinsOver(policy, 640, absl::Milliseconds(10), /*exact=*/true), 640 / 64 + 1);
  // Messages come fast again: the probes (and then the unspun waits, whose exact gaps are
  // within the window) show it, and the waiter spins again.
  SpinsOver(policy, 128, absl::Microseconds(5), /*exact=*/true);
  EXPECT_EQ(SpinsOver(policy, 100, absl::Microseconds(5), /*exact=*/true), 100);
}

TEST_F(SpinPolicyTest, AnInexactGapThatMayHoldAWakeUpTeachesNothingAndAnExactOneDoes) {
  SpinPolicy inexact(kWindow);
  SpinPolicy exact(kWindow);
  SpinsOver(exact, 64, absl::Milliseconds(10), /*exact=*/true);  // both stop spinning
  SpinsOver(inexact, 64, absl::Milliseconds(10), /*exact=*/false);
  // 90 µs unspun: longer than the window if exact; if not, perhaps a short gap and a wake-up.
  // Neither teaches the inexact policy to spin (only its probes may); the exact one stays off.
  EXPECT_LE(SpinsOver(exact, 640, absl::Microseconds(90), /*exact=*/true), 640 / 64 + 1);
  SpinPolicy fresh(kWindow);  // spinning at the start
  for (int i = 0; i < 63; ++i) fresh.Waited(absl::Microseconds(90), /*spun=*/false, /*slept=*/true, /*exact=*/false);
  EXPECT_GT(fresh.Spin(), absl::ZeroDuration()) << "ambiguous gaps do not stop a spinning waiter";
  for (int i = 0; i < 63; ++i) inexact.Waited(absl::Microseconds(90), /*spun=*/false, /*slept=*/true, /*exact=*/false);
  EXPECT_EQ(inexact.Spin(), absl::ZeroDuration()) << "nor start a stopped one";
  // Past twice the window even a wake-up cannot explain the gap.
  SpinPolicy past(kWindow);
  for (int i = 0; i < 63; ++i) past.Waited(absl::Microseconds(101), /*spun=*/false, /*slept=*/true, /*exact=*/false);
  EXPECT_EQ(past.Spin(), absl::ZeroDuration());
}

TEST_F(SpinPolicyTest, ZeroWindowNeverSpins) {
  SpinPolicy policy(absl::ZeroDuration());
  EXPECT_EQ(SpinsOver(policy, 200, absl::Microseconds(1), /*exact=*/true), 0);
}

}  // namespace
}  // namespace jobd::shm
