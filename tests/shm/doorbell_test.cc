// SpinThenSleep's account of a wait (WaitTrace), which the spin policy learns from: a message
// caught while spinning, a spin that ended in a sleep, and the ringer's stamp after a sleep.
#include "shm/doorbell.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "shm/monotonic.h"

namespace jobd::shm {
namespace {

TEST(DoorbellTest, AMessageCaughtWhileSpinningIsReportedAsNoSleep) {
  Doorbell bell{};
  std::atomic<int> checks{0};
  WaitTrace trace;
  // Ready on the fifth look: inside the spin, however long each look takes.
  const bool got = SpinThenSleep(bell, [&] { return ++checks >= 5; }, absl::Seconds(10), absl::Seconds(10), &trace);
  EXPECT_TRUE(got);
  EXPECT_TRUE(trace.spun);
  EXPECT_FALSE(trace.slept);
}

TEST(DoorbellTest, ASpinThatRunsOutEndsInASleepAndSaysSo) {
  Doorbell bell{};
  WaitTrace trace;
  const bool got = SpinThenSleep(bell, [] { return false; }, absl::Microseconds(20), absl::Milliseconds(5), &trace);
  EXPECT_FALSE(got);
  EXPECT_TRUE(trace.spun);
  EXPECT_TRUE(trace.slept);
}

TEST(DoorbellTest, ASleeperLearnsWhenItWasRungNotWhenItRanAgain) {
  Doorbell bell{};
  std::atomic<bool> ready{false};
  const int64_t start = MonotonicNanos();
  int64_t rang_at = 0;
  std::thread ringer([&] {
    // Ring only once the waiter sleeps, so that the ring is what wakes it.
    while (bell.sleepers.load() == 0) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ready.store(true);
    rang_at = MonotonicNanos();
    bell.Ring();
  });
  WaitTrace trace;
  const bool got = SpinThenSleep(bell, [&] { return ready.load(); }, absl::ZeroDuration(), absl::Seconds(30), &trace);
  const int64_t end = MonotonicNanos();
  ringer.join();
  EXPECT_TRUE(got);
  EXPECT_FALSE(trace.spun);
  EXPECT_TRUE(trace.slept);
  EXPECT_GE(trace.rung_ns, rang_at);
  EXPECT_LE(trace.rung_ns, end);
  EXPECT_GT(trace.rung_ns, start);
}

TEST(DoorbellTest, RingingWithNobodyAsleepLeavesTheStampAlone) {
  Doorbell bell{};
  bell.Ring();
  EXPECT_EQ(bell.rung_ns.load(), 0);
  EXPECT_EQ(bell.seq.load(), 0u);
}

}  // namespace
}  // namespace jobd::shm
