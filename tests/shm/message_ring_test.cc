#include "shm/message_ring.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace jobd::shm {
namespace {

class MessageRingTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kCapacity = 256;
  RingIndex index_{};
  std::vector<std::byte> data_ = std::vector<std::byte>(kCapacity);
  MessageRing ring_{&index_, data_.data(), kCapacity};

  absl::StatusOr<bool> Push(const std::string& s) {
    return ring_.TryPush(std::as_bytes(std::span(s.data(), s.size())));
  }
  absl::StatusOr<std::string> Pop() {
    std::string out = "<empty>";
    absl::StatusOr<bool> got = ring_.TryPop([&](std::span<const std::byte> b) {
      out.assign(reinterpret_cast<const char*>(b.data()), b.size());
    });
    if (!got.ok()) return got.status();
    return out;
  }
};

TEST_F(MessageRingTest, MessagesComeOutInOrderWithTheirBytes) {
  ASSERT_TRUE(*Push("one"));
  ASSERT_TRUE(*Push(""));
  ASSERT_TRUE(*Push("three!!"));
  EXPECT_EQ(*Pop(), "one");
  EXPECT_EQ(*Pop(), "");
  EXPECT_EQ(*Pop(), "three!!");
  EXPECT_EQ(*Pop(), "<empty>");
  EXPECT_FALSE(ring_.HasData());
}

TEST_F(MessageRingTest, FullRingRefusesUntilTheConsumerMakesRoom) {
  const std::string m(60, 'x');  // 64-byte records: four fill the ring
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(*Push(m)) << i;
  EXPECT_FALSE(*Push(m));
  EXPECT_EQ(*Pop(), m);
  EXPECT_TRUE(*Push(m));
}

TEST_F(MessageRingTest, RecordsThatWouldCrossTheEndWrapToTheStartIntact) {
  // Sizes chosen so records straddle the end of the buffer many times over, yet two always fit.
  for (int round = 0; round < 500; ++round) {
    const std::string a(static_cast<size_t>(round % 41), static_cast<char>('a' + round % 26));
    const std::string b(static_cast<size_t>((round * 7) % 23), static_cast<char>('A' + round % 26));
    ASSERT_TRUE(*Push(a)) << round;
    ASSERT_TRUE(*Push(b)) << round;
    ASSERT_EQ(*Pop(), a) << round;
    ASSERT_EQ(*Pop(), b) << round;
  }
}

TEST_F(MessageRingTest, MessageOverHalfTheRingIsInvalidArgument) {
  absl::StatusOr<bool> r = Push(std::string(kCapacity / 2, 'x'));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("exceeds the ring's limit"), std::string::npos);
  EXPECT_FALSE(ring_.HasData()) << "nothing was published";
}

TEST_F(MessageRingTest, ImpossibleHeadIsDataLossNotARead) {
  index_.head.store(kCapacity * 3);  // more than a whole ring ahead of the tail
  EXPECT_EQ(Pop().status().code(), absl::StatusCode::kDataLoss);
  index_.head.store(5);  // unaligned, and shorter than any record
  EXPECT_EQ(Pop().status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(MessageRingTest, RecordLongerThanWhatWasPublishedIsDataLoss) {
  ASSERT_TRUE(*Push("abc"));
  const uint32_t lie = 200;
  std::memcpy(data_.data(), &lie, 4);  // the length now runs past the head
  absl::StatusOr<std::string> r = Pop();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(index_.tail.load(), 0u) << "a bad record is not consumed";
}

TEST_F(MessageRingTest, ImpossibleTailIsDataLossForTheProducer) {
  index_.tail.store(64);  // ahead of the head
  EXPECT_EQ(Push("x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(index_.head.load(), 0u);
}

}  // namespace
}  // namespace jobd::shm
