// AgentMetrics' exposition: which series exist before their first event, and the process metrics.
#include "agent/metrics.h"

#include <string>

#include "agent/process_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AgentMetricsTest, RejectionReasonsAndTheRejectedTypeExistAtZeroFromTheStart) {
  AgentMetrics metrics;
  const std::string text = metrics.Serialize();
  for (const char* reason : {"invalid_argument", "failed_precondition", "resource_exhausted", "unavailable",
                             "permission_denied", "not_found"}) {
    EXPECT_THAT(text, HasSubstr(std::string("jobd_rejections_total{reason=\"") + reason + "\"} 0\n"));
  }
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"rejected\",type=\"_rejected\"} 0\n"));
}

TEST(AgentMetricsTest, ATypeGetsEveryOutcomeAtZeroWhenFirstSeen) {
  AgentMetrics metrics;
  EXPECT_THAT(metrics.Serialize(), Not(HasSubstr("type=\"resize\"")));
  metrics.JobEnded("resize", coordinator::Outcome::kOk, absl::Milliseconds(1), absl::Milliseconds(2), true);
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"ok\",type=\"resize\"} 1\n"));
  for (const char* outcome : {"rejected", "deadline_exceeded", "worker_died", "handler_error", "cancelled"}) {
    EXPECT_THAT(text, HasSubstr(std::string("jobd_jobs_total{outcome=\"") + outcome + "\",type=\"resize\"} 0\n"));
  }
  EXPECT_THAT(text, HasSubstr("jobd_job_run_seconds_count{type=\"resize\"} 1\n"));
}

TEST(AgentMetricsTest, EndsOfATypeAddUpAndTypesPastTheBoundShareTheOtherLabel) {
  AgentMetrics metrics;
  for (int i = 0; i < 3; ++i) {
    metrics.JobEnded("resize", coordinator::Outcome::kOk, absl::Milliseconds(1), absl::Milliseconds(2), true);
  }
  metrics.JobEnded("resize", coordinator::Outcome::kCancelled, absl::Milliseconds(1), absl::ZeroDuration(), false);
  for (size_t t = 0; t < AgentMetrics::kMaxTypes + 2; ++t) {
    metrics.JobEnded("type" + std::to_string(t), coordinator::Outcome::kHandlerError, absl::Milliseconds(1),
                     absl::Milliseconds(1), true);
  }
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"ok\",type=\"resize\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"cancelled\",type=\"resize\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("jobd_job_run_seconds_count{type=\"resize\"} 3\n")) << "a job that never ran has no run time";
  EXPECT_THAT(text, HasSubstr("jobd_job_queue_wait_seconds_count{type=\"resize\"} 4\n"));
  // "resize" took one of the kMaxTypes labels: type0 .. type62 have their own, the last three share.
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"handler_error\",type=\"type62\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("type=\"type63\"")));
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"handler_error\",type=\"_other\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("jobd_jobs_total{outcome=\"ok\",type=\"_other\"} 0\n"));
}

TEST(AgentMetricsTest, WorkerSlotsGetRssAndEveryRestartReasonAtZero) {
  AgentMetrics metrics;
  metrics.SetWorkerSlots({{.index = 0, .rss_bytes = 4096}, {.index = 1, .rss_bytes = 0}});
  metrics.WorkerRestarted(1, "crash");
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("jobd_worker_rss_bytes{worker=\"0\"} 4096\n"));
  EXPECT_THAT(text, HasSubstr("jobd_worker_rss_bytes{worker=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("jobd_worker_restarts_total{reason=\"crash\",worker=\"1\"} 1\n"));
  for (const char* reason : {"exit", "crash", "recycled", "killed_deadline", "killed_rss", "killed"}) {
    EXPECT_THAT(text, HasSubstr(std::string("jobd_worker_restarts_total{reason=\"") + reason + "\",worker=\"0\"} 0\n"));
  }
}

TEST(AgentMetricsTest, TheSlabCapacityGaugeHasNoTotalSuffixAndBuildInfoIsOne) {
  AgentMetrics metrics;
  metrics.SetArena({shm::ClassOccupancy{.slab_size = 4096, .total = 128}}, 1 << 20);
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE jobd_arena_slabs gauge\n"));
  EXPECT_THAT(text, HasSubstr("jobd_arena_slabs{class=\"4KiB\"} 128\n"));
  EXPECT_THAT(text, Not(HasSubstr("jobd_arena_slabs_total")));
  EXPECT_THAT(text, HasSubstr("jobd_build_info{build_type=\""));
  EXPECT_THAT(text, HasSubstr("\"} 1\n"));
}

TEST(AgentMetricsTest, JobsDispatchedAheadAreAGaugeOfTheirOwn) {
  AgentMetrics metrics;
  metrics.SetDispatchedAhead(3);
  metrics.SetQueue(5, {}, absl::ZeroDuration());
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE jobd_jobs_dispatched_ahead gauge\njobd_jobs_dispatched_ahead 3\n"));
  EXPECT_THAT(text, HasSubstr("jobd_queue_depth 5\n"));
}

TEST(AgentMetricsTest, ProcessCpuIsACounterThatOnlyAddsWhatWasSpent) {
  AgentMetrics metrics;
  metrics.SetProcess({.cpu_seconds = 2.5, .resident_bytes = 8192, .start_time_seconds = 1700000000, .open_fds = 12});
  metrics.SetProcess({.cpu_seconds = 3, .resident_bytes = 4096, .start_time_seconds = 1700000000, .open_fds = 9});
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes 4096\n"));
  EXPECT_THAT(text, HasSubstr("process_open_fds 9\n"));
  EXPECT_THAT(text, HasSubstr("process_start_time_seconds 1700000000\n"));
}

TEST(ProcessMetricsTest, ParsesAStatLineWhoseCommandHasSpacesAndParentheses) {
  // Fields 3..24 of a real stat line; utime 250, stime 50 ticks; starttime 1000 ticks; vsize; rss 3 pages.
  const std::string stat =
      "4242 (my (odd) jobd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 1000 123456789 3 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  absl::StatusOr<ProcessSample> s = ParseProcStat(stat, 100, 1700000000, 4096);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000010.0);
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 123456789.0);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 3 * 4096.0);
}

TEST(ProcessMetricsTest, RefusesTextThatIsNotAStatLine) {
  absl::StatusOr<ProcessSample> s = ParseProcStat("hello", 100, 0, 4096);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("not a /proc/PID/stat line"));
  s = ParseProcStat("1 (x) S 1 2 3", 100, 0, 4096);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("want at least 24"));
}

TEST(ProcessMetricsTest, FindsTheBootTimeInProcStat) {
  absl::StatusOr<double> t = ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1699999999\nprocesses 7\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(*t, 1699999999.0);
  EXPECT_EQ(ParseBootTime("cpu 1\n").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  absl::StatusOr<ProcessSample> s = ReadSelfProcess();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(s->resident_bytes, 0);
  EXPECT_GE(s->open_fds, 3);  // stdin, stdout, stderr
  EXPECT_GT(s->start_time_seconds, 1.5e9);
  EXPECT_GT(s->max_fds, 0);
}

}  // namespace
}  // namespace jobd::agent
