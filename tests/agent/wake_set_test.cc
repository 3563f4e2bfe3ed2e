#include "agent/wake_set.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

TEST(WakeSetTest, NothingToSayTimesOut) {
  absl::StatusOr<std::unique_ptr<WakeSet>> set = WakeSet::Create();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE((*set)->Wait(0).empty());
  EXPECT_TRUE((*set)->Wait(10).empty());
}

TEST(WakeSetTest, AWakeFromAnotherThreadEndsTheWait) {
  std::unique_ptr<WakeSet> set = *WakeSet::Create();
  std::thread waker([&] {
    absl::SleepFor(absl::Milliseconds(20));
    set->Wake();
  });
  const std::span<const WakeSet::Event> events = set->Wait(-1);
  waker.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tag, WakeSet::Tag::kWoken);
  EXPECT_TRUE(set->Wait(0).empty());  // drained: no second wake-up
}

TEST(WakeSetTest, WakesBeforeAWaitAreOneEventAndAreDrained) {
  std::unique_ptr<WakeSet> set = *WakeSet::Create();
  set->Wake();
  set->Wake();
  const std::span<const WakeSet::Event> events = set->Wait(1000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tag, WakeSet::Tag::kWoken);
  EXPECT_TRUE(set->Wait(0).empty());
}

TEST(WakeSetTest, APeersEventfdComesBackWithItsTagAndIsDrainedUntilRemoved) {
  std::unique_ptr<WakeSet> set = *WakeSet::Create();
  const int peer = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(peer, 0);
  ASSERT_TRUE(set->Add(WakeSet::Tag::kPeer, peer));
  const uint64_t one = 1;
  ASSERT_EQ(write(peer, &one, sizeof one), 8);
  std::span<const WakeSet::Event> events = set->Wait(1000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tag, WakeSet::Tag::kPeer);
  EXPECT_EQ(events[0].fd, peer);
  EXPECT_TRUE(set->Wait(0).empty());
  set->Remove(peer);
  ASSERT_EQ(write(peer, &one, sizeof one), 8);
  EXPECT_TRUE(set->Wait(0).empty());  // not watched any more
  close(peer);
}

TEST(WakeSetTest, AClosedDescriptorCannotBeAdded) {
  std::unique_ptr<WakeSet> set = *WakeSet::Create();
  const int fd = eventfd(0, EFD_CLOEXEC);
  close(fd);
  EXPECT_FALSE(set->Add(WakeSet::Tag::kPeer, fd));
}

}  // namespace
}  // namespace jobd::agent
