#include "agent/deferred_rings.h"

#include <memory>
#include <thread>

#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

// A bell whose peer is asleep: a ring that reaches it bumps `seq` (shm/doorbell.h).
struct SleepingBell {
  SleepingBell() { bell.sleepers.store(1); }
  uint32_t rings() const { return bell.seq.load(); }
  shm::Doorbell bell{};
};

TEST(DeferredRingsTest, WithoutAPassARingWakesAtOnce) {
  SleepingBell a;
  DeferredRings::Ring(&a.bell, nullptr);
  EXPECT_EQ(a.rings(), 1u);
  DeferredRings::Ring(&a.bell, nullptr);
  EXPECT_EQ(a.rings(), 2u);
}

TEST(DeferredRingsTest, InAPassEachBellRingsOnceAtItsEnd) {
  SleepingBell a, b;
  DeferredRings rings;
  {
    DeferredRings::Pass pass(rings);
    DeferredRings::Ring(&a.bell, nullptr);
    DeferredRings::Ring(&b.bell, nullptr);
    DeferredRings::Ring(&a.bell, nullptr);
    DeferredRings::Ring(&a.bell, nullptr);
    EXPECT_EQ(a.rings(), 0u) << "a peer woken mid-pass would take the agent's CPU";
    EXPECT_EQ(b.rings(), 0u);
    EXPECT_EQ(rings.pending(), 2u);
  }
  EXPECT_EQ(a.rings(), 1u) << "three messages, one wake-up";
  EXPECT_EQ(b.rings(), 1u);
  EXPECT_EQ(rings.pending(), 0u);
  DeferredRings::Ring(&a.bell, nullptr);
  EXPECT_EQ(a.rings(), 2u) << "after the pass, rings are immediate again";
  {
    DeferredRings::Pass again(rings);  // the same buffer, the next pass
    DeferredRings::Ring(&b.bell, nullptr);
    EXPECT_EQ(b.rings(), 1u);
  }
  EXPECT_EQ(b.rings(), 2u);
}

TEST(DeferredRingsTest, ABellWithNobodyAsleepCostsNoWakeAtThePassEnd) {
  shm::Doorbell awake{};
  DeferredRings rings;
  {
    DeferredRings::Pass pass(rings);
    DeferredRings::Ring(&awake, nullptr);
  }
  EXPECT_EQ(awake.seq.load(), 0u);
}

TEST(DeferredRingsTest, ThePassKeepsTheBellsMemoryUntilItRings) {
  auto memory = std::make_shared<SleepingBell>();
  std::weak_ptr<SleepingBell> watch = memory;
  DeferredRings rings;
  {
    DeferredRings::Pass pass(rings);
    DeferredRings::Ring(&memory->bell, memory);
    memory.reset();  // the peer ended during the pass
    ASSERT_FALSE(watch.expired());
    EXPECT_EQ(watch.lock()->rings(), 0u);
  }
  EXPECT_TRUE(watch.expired()) << "released once rung";
}

TEST(DeferredRingsTest, AnInnerPassRingsAtItsEndAndTheOuterOneStaysOpen) {
  SleepingBell a, b;
  DeferredRings outer_rings, inner_rings;
  {
    DeferredRings::Pass outer(outer_rings);
    {
      DeferredRings::Pass inner(inner_rings);
      DeferredRings::Ring(&a.bell, nullptr);
    }
    EXPECT_EQ(a.rings(), 1u);
    DeferredRings::Ring(&b.bell, nullptr);
    EXPECT_EQ(b.rings(), 0u);
  }
  EXPECT_EQ(b.rings(), 1u);
}

TEST(DeferredRingsTest, APassOnOneThreadDoesNotHoldAnotherThreadsRings) {
  SleepingBell a;
  DeferredRings rings;
  DeferredRings::Pass pass(rings);
  std::thread other([&] { DeferredRings::Ring(&a.bell, nullptr); });
  other.join();
  EXPECT_EQ(a.rings(), 1u);
}

}  // namespace
}  // namespace jobd::agent
