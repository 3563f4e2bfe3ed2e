#include "client/chunking.h"

#include <numeric>

#include "gtest/gtest.h"

namespace jobd::client {
namespace {

TEST(ChunkingTest, SplitsIntoAsManyChunksAsWorkersWithSizesDifferingByAtMostOne) {
  std::vector<int> items(300);
  std::iota(items.begin(), items.end(), 0);
  auto chunks = SplitForWorkers(std::span(items), 3);
  ASSERT_EQ(chunks.size(), 3u);
  for (const auto& c : chunks) EXPECT_EQ(c.size(), 100u);
  auto uneven = SplitForWorkers(std::span(items).first(10), 4);
  ASSERT_EQ(uneven.size(), 4u);
  size_t total = 0;
  int next = 0;
  for (const auto& c : uneven) {
    EXPECT_GE(c.size(), 2u);
    EXPECT_LE(c.size(), 3u);
    for (int v : c) EXPECT_EQ(v, next++) << "chunks must be contiguous and in order";
    total += c.size();
  }
  EXPECT_EQ(total, 10u);
}

TEST(ChunkingTest, NeverMakesChunksSmallerThanTheMinimum) {
  EXPECT_EQ(ChunkCount(50, 8, 20), 2u);
  EXPECT_EQ(ChunkCount(10, 8, 20), 1u);
  EXPECT_EQ(ChunkCount(0, 8, 20), 0u);
  EXPECT_EQ(ChunkCount(1000, 0, 1), 1u) << "zero workers still means one chunk";
}

}  // namespace
}  // namespace jobd::client
