// SpinThenSleep's account of a wait (WaitTrace), which the spin policy learns from: a message
// caught while spinning, a spin that ended in a sleep, and the ringer's stamp after a sleep. And
// when a spin outlasts its window: only while its yields hand the CPU to other processes.
#include "shm/doorbell.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
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

constexpr int64_t kNoTimeout = INT64_MAX;

TEST(SpinGoesOnTest, WithinItsWindowASpinGoesOnHoweverFastItsYields) {
  EXPECT_TRUE(SpinGoesOn(0, 50'000, 0, kNoTimeout));
  EXPECT_TRUE(SpinGoesOn(49'999, 50'000, 400, kNoTimeout));
}

TEST(SpinGoesOnTest, PastItsWindowASpinWhoseYieldsReturnAtOnceStops) {
  // Four yields of 1 µs each: nobody else wanted the CPU, so spinning on would only burn it.
  EXPECT_FALSE(SpinGoesOn(50'000, 50'000, 4'000, kNoTimeout));
  EXPECT_FALSE(SpinGoesOn(60'000, 50'000, 4 * kHandedOverNs - 1, kNoTimeout));
}

TEST(SpinGoesOnTest, PastItsWindowASpinWhoseYieldsHandTheCpuOverGoesOnToTenWindows) {
  EXPECT_TRUE(SpinGoesOn(50'000, 50'000, 4 * kHandedOverNs, kNoTimeout));
  EXPECT_TRUE(SpinGoesOn(kSpinStretch * 50'000 - 1, 50'000, 80'000, kNoTimeout));
  EXPECT_FALSE(SpinGoesOn(kSpinStretch * 50'000, 50'000, 80'000, kNoTimeout));
  EXPECT_FALSE(SpinGoesOn(0, 0, 80'000, kNoTimeout));  // no window, no spin to stretch
}

TEST(SpinGoesOnTest, TheStretchEndsAtTheWaitersTimeoutTheWindowDoesNot) {
  EXPECT_TRUE(SpinGoesOn(99'999, 50'000, 80'000, 100'000));
  EXPECT_FALSE(SpinGoesOn(100'000, 50'000, 80'000, 100'000));
  EXPECT_TRUE(SpinGoesOn(40'000, 50'000, 80'000, 30'000));  // as before the stretch
}

// A busy thread that yields every 20 µs shares the spinner's CPU, so each of the spinner's yields
// runs it: the spin goes past its 100 µs window and catches a message that comes at 300 µs
// (the message is a clock reading, so however the threads are scheduled it is there by then).
TEST(DoorbellTest, ASpinWhoseYieldsRunAnotherThreadOutlastsItsWindow) {
  const int cpu = sched_getcpu();
  ASSERT_GE(cpu, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  if (sched_setaffinity(0, sizeof one, &one) != 0) GTEST_SKIP() << "cannot pin this thread";
  std::atomic<bool> stop{false};
  std::atomic<bool> pinned{false};
  std::atomic<bool> started{false};
  std::thread busy([&] {
    pinned.store(sched_setaffinity(0, sizeof one, &one) == 0);
    started.store(true);
    while (!stop.load()) {
      const int64_t until = MonotonicNanos() + 20'000;
      while (MonotonicNanos() < until) {
      }
      sched_yield();
    }
  });
  while (!started.load()) sched_yield();
  if (!pinned.load()) {
    stop.store(true);
    busy.join();
    sched_setaffinity(0, sizeof before, &before);
    GTEST_SKIP() << "cannot pin the busy thread";
  }
  Doorbell bell{};
  WaitTrace trace;
  const int64_t start = MonotonicNanos();
  const bool got = SpinThenSleep(bell, [&] { return MonotonicNanos() - start >= 300'000; }, absl::Microseconds(100),
                                 absl::Seconds(1), &trace);
  stop.store(true);
  busy.join();
  sched_setaffinity(0, sizeof before, &before);
  EXPECT_TRUE(got);
  EXPECT_TRUE(trace.spun);
  EXPECT_FALSE(trace.slept) << "the spin stopped at its window although its yields ran the busy thread";
}

TEST(DoorbellTest, RingingWithNobodyAsleepLeavesTheStampAlone) {
  Doorbell bell{};
  bell.Ring();
  EXPECT_EQ(bell.rung_ns.load(), 0);
  EXPECT_EQ(bell.seq.load(), 0u);
}

}  // namespace
}  // namespace jobd::shm
