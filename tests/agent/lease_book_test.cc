#include "agent/lease_book.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

TEST(LeaseBookTest, LanesAreNumberedFromOneAndLeasesCounted) {
  LeaseBook book;
  EXPECT_EQ(book.out(), 0);
  EXPECT_EQ(book.Open(), 1u);
  EXPECT_EQ(book.Open(), 2u);
  EXPECT_EQ(book.out(), 2);
  book.Closed();
  EXPECT_EQ(book.out(), 1);
  EXPECT_EQ(book.Open(), 3u);  // a lane id is never reused
}

TEST(LeaseBookTest, TheNextDueIsTheEarliestReportedUntilAScanSetsIt) {
  LeaseBook book;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(book.next_due(), absl::InfiniteFuture());
  book.DueBy(t0 + absl::Seconds(5));
  book.DueBy(t0 + absl::Seconds(9));
  EXPECT_EQ(book.next_due(), t0 + absl::Seconds(5));
  book.ScannedUntil(t0 + absl::Seconds(7));  // the job due at 5 s ended
  EXPECT_EQ(book.next_due(), t0 + absl::Seconds(7));
  book.ScannedUntil(absl::InfiniteFuture());
  EXPECT_EQ(book.next_due(), absl::InfiniteFuture());
}

TEST(LeaseBookTest, ReportsFromManyThreadsKeepTheEarliest) {
  LeaseBook book;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1000; i >= 0; --i) book.DueBy(t0 + absl::Milliseconds(i * 4 + t));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(book.next_due(), t0);
}

}  // namespace
}  // namespace jobd::agent
