#include "agent/housekeeping_thread.h"

#include <unistd.h>

#include <atomic>

#include "gtest/gtest.h"
#include "tests/fakes/eventually.h"

namespace jobd::agent {
namespace {

bool Reaches(const std::atomic<int>& rounds, int n) {
  return testing::Eventually([&] { return rounds.load() >= n; });
}

TEST(HousekeepingThreadTest, ItSleepsUntilWokenWhenNothingIsDue) {
  std::atomic<int> rounds{0};
  std::unique_ptr<HousekeepingThread> t = *HousekeepingThread::Create({});
  t->Run([&] {
    ++rounds;
    return absl::Now() + absl::Hours(1);
  });
  ASSERT_TRUE(Reaches(rounds, 1));  // the first round runs at once
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(rounds.load(), 1);  // and nothing more until woken
  t->Wake();
  EXPECT_TRUE(Reaches(rounds, 2));
  // A signal handler's wake: 8 bytes written to the eventfd.
  const uint64_t one = 1;
  ASSERT_EQ(write(t->wake_fd(), &one, sizeof one), 8);
  EXPECT_TRUE(Reaches(rounds, 3));
}

TEST(HousekeepingThreadTest, ARoundRunsWhenTheTimeItAskedForComes) {
  std::atomic<int> rounds{0};
  std::unique_ptr<HousekeepingThread> t = *HousekeepingThread::Create({});
  const absl::Time started = absl::Now();
  t->Run([&] {
    ++rounds;
    return absl::Now() + absl::Milliseconds(50);
  });
  EXPECT_TRUE(Reaches(rounds, 4));
  EXPECT_GE(absl::Now() - started, absl::Milliseconds(150));  // three sleeps of 50 ms at least
}

TEST(HousekeepingThreadTest, AWakeBeforeRunIsKeptAndStopJoins) {
  std::atomic<int> rounds{0};
  std::unique_ptr<HousekeepingThread> t = *HousekeepingThread::Create({});
  t->Wake();
  t->Run([&] {
    ++rounds;
    return absl::Now() + absl::Hours(1);
  });
  // The kept wake makes a second round right after the first.
  EXPECT_TRUE(Reaches(rounds, 2));
  t->Stop();
  const int after_stop = rounds.load();
  t->Wake();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(rounds.load(), after_stop);
  t.reset();  // a second stop (in the destructor) is harmless
}

}  // namespace
}  // namespace jobd::agent
