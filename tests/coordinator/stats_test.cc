// Per-type statistics and the latency histogram behind them.
#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

TEST(LatencyHistogramTest, EmptyHistogramSaysZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Mean(), absl::ZeroDuration());
  EXPECT_EQ(h.Quantile(0.5), absl::ZeroDuration());
}

TEST(LatencyHistogramTest, QuantilesLandWithinABucketOfTheTruth) {
  LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Record(absl::Microseconds(i * 10));
  EXPECT_EQ(h.count(), 1000u);
  const double p50 = absl::ToDoubleMicroseconds(h.Quantile(0.5));
  const double p99 = absl::ToDoubleMicroseconds(h.Quantile(0.99));
  EXPECT_GE(p50, 5000);
  EXPECT_LE(p50, 5000 * 1.26);
  EXPECT_GE(p99, 9900);
  EXPECT_LE(p99, 9900 * 1.26);
  EXPECT_NEAR(absl::ToDoubleMicroseconds(h.Mean()), 5005, 1);
}

TEST(LatencyHistogramTest, QuantileIsABucketBoundAtOrAboveEveryRecordedValueBelowIt) {
  LatencyHistogram h;
  h.Record(absl::Milliseconds(1));  // exactly a bound: 10^3 us
  EXPECT_EQ(h.Quantile(0), absl::Milliseconds(1));
  EXPECT_EQ(h.Quantile(1), absl::Milliseconds(1));
  h.Record(absl::ZeroDuration());
  EXPECT_EQ(h.Quantile(0), absl::Microseconds(1)) << "below 1us counts in the first bucket";
  h.Record(absl::Hours(1000));
  EXPECT_GE(h.Quantile(1), absl::Hours(1000)) << "huge values still land in a bucket at or above them";
}

TEST_F(CoordinatorTest, StatsCountOutcomesAndLatenciesPerType) {
  AddWorker(kW1, {"echo", "sleep"});
  Submit(Req(1));
  clock_.Advance(absl::Milliseconds(30));
  Finish(kW1, 1);
  Submit(Req(2));
  Submit(Req(3));               // waits 5ms behind job 2
  clock_.Advance(absl::Milliseconds(5));
  Fail(kW1, 2);                 // job 3 starts
  ASSERT_TRUE(c_->Cancel(kS, 3).ok());
  Fail(kW1, 3);
  Submit(Req(4, "sleep", kS, absl::Seconds(1)));
  clock_.Advance(absl::Seconds(1));
  c_->Tick();
  Fail(kW1, 4);                 // too late: no second outcome
  Submit(Req(5, "sleep"));
  c_->WorkerGone(kW1);
  const TypeStats& echo = c_->Stats().at("echo");
  EXPECT_EQ(echo.submitted, 3u);
  EXPECT_EQ(echo.outcomes.at(Outcome::kOk), 1u);
  EXPECT_EQ(echo.outcomes.at(Outcome::kHandlerError), 1u);
  EXPECT_EQ(echo.outcomes.at(Outcome::kCancelled), 1u);
  EXPECT_EQ(echo.queue_wait.count(), 3u);
  EXPECT_GE(echo.queue_wait.Quantile(1), absl::Milliseconds(5));
  EXPECT_LE(echo.queue_wait.Quantile(1), absl::Microseconds(6310));
  EXPECT_EQ(echo.run_time.count(), 3u);
  EXPECT_GE(echo.run_time.Quantile(0.99), absl::Milliseconds(30));
  EXPECT_LE(echo.run_time.Quantile(0.99), absl::Milliseconds(40));
  const TypeStats& sleep = c_->Stats().at("sleep");
  EXPECT_EQ(sleep.submitted, 2u);
  EXPECT_EQ(sleep.outcomes.at(Outcome::kDeadlineExceeded), 1u);
  EXPECT_EQ(sleep.outcomes.at(Outcome::kWorkerDied), 1u);
  EXPECT_EQ(sleep.outcomes.count(Outcome::kOk), 0u);
}

}  // namespace
}  // namespace jobd::coordinator
