// IdlePool: which idle worker a job of a type gets, and that leaving the pool is exact.
#include "coordinator/internal/idle_pool.h"

#include "gtest/gtest.h"

namespace jobd::coordinator::internal {
namespace {

using Types = absl::flat_hash_set<std::string>;

TEST(IdlePoolTest, AJobGetsTheMostRecentlyIdleWorkerOfItsType) {
  IdlePool pool;
  const uint64_t t1 = pool.Add(1, Types{"echo", "resize"});
  pool.Add(2, Types{"echo"});
  pool.Add(3, Types{"resize"});
  EXPECT_EQ(pool.size(), 3u);
  EXPECT_EQ(pool.Pick("echo"), 2u);
  EXPECT_EQ(pool.Pick("resize"), 3u);
  EXPECT_EQ(pool.Pick("other"), 0u);
  // Worker 1 busy and idle again: now the most recent of both its types.
  pool.Remove(1, Types{"echo", "resize"}, t1);
  EXPECT_EQ(pool.size(), 2u);
  pool.Add(1, Types{"echo", "resize"});
  EXPECT_EQ(pool.Pick("echo"), 1u);
  EXPECT_EQ(pool.Pick("resize"), 1u);
}

TEST(IdlePoolTest, RemovingTakesOnlyThatTicketAndAStaleTicketChangesNothing) {
  IdlePool pool;
  const uint64_t a = pool.Add(7, Types{"echo"});
  const uint64_t b = pool.Add(8, Types{"echo"});
  pool.Remove(8, Types{"echo"}, b);
  EXPECT_EQ(pool.Pick("echo"), 7u);
  pool.Remove(8, Types{"echo"}, b);  // again: not there
  pool.Remove(7, Types{"echo"}, b);  // another worker's ticket
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.Pick("echo"), 7u);
  pool.Remove(7, Types{"echo"}, a);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.Pick("echo"), 0u);
  // Emptied, the type's list takes workers again.
  pool.Add(9, Types{"echo"});
  EXPECT_EQ(pool.Pick("echo"), 9u);
}

TEST(IdlePoolTest, ManyWorkersComeAndGoInAnyOrder) {
  IdlePool pool;
  std::vector<uint64_t> tickets;
  for (WorkerId w = 1; w <= 100; ++w) tickets.push_back(pool.Add(w, Types{"echo"}));
  for (WorkerId w = 100; w >= 51; --w) pool.Remove(w, Types{"echo"}, tickets[w - 1]);
  EXPECT_EQ(pool.Pick("echo"), 50u);
  for (WorkerId w = 1; w <= 49; ++w) pool.Remove(w, Types{"echo"}, tickets[w - 1]);
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.Pick("echo"), 50u);
}

}  // namespace
}  // namespace jobd::coordinator::internal
