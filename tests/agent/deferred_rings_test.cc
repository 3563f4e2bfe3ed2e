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
  {
    DeferredRings pass;
    DeferredRings::Ring(&a.bell, nullptr);
    DeferredRings::Ring(&b.bell, nullptr);
    DeferredRings::Ring(&a.bell, nullptr);
    DeferredRings::Ring(&a.bell, nullptr);
    EXPECT_EQ(a.rings(), 0u) << "a peer woken mid-pass would take the agent's CPU";
    EXPECT_EQ(b.rings(), 0u);
    EXPECT_EQ(pass.pending(), 2u);
  }
  EXPECT_EQ(a.rings(), 1u) << "three messages, one wake-up";
  EXPECT_EQ(b.rings(), 1u);
  DeferredRings::Ring(&a.bell, nullptr);
  EXPECT_EQ(a.rings(), 2u) << "after the pass, rings are immediate again";
}

TEST(DeferredRingsTest, ABellWithNobodyAsleepCostsNoWakeAtThePassEnd) {
  shm::Doorbell awake{};
  {
    DeferredRings pass;
    DeferredRings::Ring(&awake, nullptr);
  }
  EXPECT_EQ(awake.seq.load(), 0u);
}

TEST(DeferredRingsTest, ThePassKeepsTheBellsMemoryUntilItRings) {
  auto memory = std::make_shared<SleepingBell>();
  std::weak_ptr<SleepingBell> watch = memory;
  {
    DeferredRings pass;
    DeferredRings::Ring(&memory->bell, memory);
    memory.reset();  // the peer ended during the pass
    ASSERT_FALSE(watch.expired());
    EXPECT_EQ(watch.lock()->rings(), 0u);
  }
  EXPECT_TRUE(watch.expired()) << "released once rung";
}

TEST(DeferredRingsTest, AnInnerPassRingsAtItsEndAndTheOuterOneStaysOpen) {
  SleepingBell a, b;
  {
    DeferredRings outer;
    {
      DeferredRings inner;
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
  DeferredRings pass;
  std::thread other([&] { DeferredRings::Ring(&a.bell, nullptr); });
  other.join();
  EXPECT_EQ(a.rings(), 1u);
}

}  // namespace
}  // namespace jobd::agent
