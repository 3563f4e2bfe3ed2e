// The suite's verdicts on issue 12's targets (and issue 7's 16 MiB floor), from results made up
// here: each ratio is taken against the right baseline of the same run, and a target whose
// cases did not run says n/a.
#include "tests/bench/suite/report.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace jobd::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

void Set(Results& r, const std::string& system, const std::string& id, double value) {
  SystemRun& run = r.runs["unpinned"][system];
  run.name = system;
  run.cases[id] = {value, ""};
}

void SetMissing(Results& r, const std::string& system, const std::string& id, const std::string& why) {
  r.runs["unpinned"][system].cases[id] = {0, why};
}

Results PacedRun() {
  Results r;
  r.hot = false;
  Set(r, "jobd", "paced_100_p50_us", 150);
  Set(r, "raw", "paced_100_p50_us", 75);
  Set(r, "grpc", "paced_100_p50_us", 600);
  Set(r, "redis", "paced_100_p50_us", 500);
  Set(r, "gearman", "paced_100_p50_us", 700);
  Set(r, "jobd", "paced_100_p99_us", 400);
  Set(r, "redis", "paced_100_p99_us", 800);
  Set(r, "gearman", "paced_100_p99_us", 300);
  // CPU per job of every process: jobd 100 + 20 + 60 = 180; Redis 150 + 200 + 80 = 430; gRPC
  // has no workers (its handler runs in the server): 300 + 250 = 550.
  Set(r, "jobd", "paced_100_cpu_client_us", 100);
  Set(r, "jobd", "paced_100_cpu_server_us", 20);
  Set(r, "jobd", "paced_100_cpu_workers_us", 60);
  Set(r, "redis", "paced_100_cpu_client_us", 150);
  Set(r, "redis", "paced_100_cpu_server_us", 200);
  Set(r, "redis", "paced_100_cpu_workers_us", 80);
  Set(r, "grpc", "paced_100_cpu_client_us", 300);
  Set(r, "grpc", "paced_100_cpu_server_us", 250);
  SetMissing(r, "grpc", "paced_100_cpu_workers_us", "the handler runs inside the server process");
  Set(r, "jobd", "sessions_8_jobs_s", 30000);
  Set(r, "raw", "sessions_8_jobs_s", 100000);
  return r;
}

TEST(BenchReportTest, PacedTargetsAreRatiosToTheRawEchoAndToTheBestPeerOfTheSameRun) {
  const std::string out = RenderMarkdown(PacedRun());
  EXPECT_THAT(out, HasSubstr("### Targets (issue 12"));
  EXPECT_THAT(out, HasSubstr("| paced 100/s p50 / raw echo's | ≤ 1.5 | 2.00 **not met** |"));
  // The best peer at p50 is Redis (500): 150 / 500.
  EXPECT_THAT(out, HasSubstr("| paced 100/s p50 / best of gRPC, Redis, Gearman | ≤ 0.3 | 0.30 met |"));
  // The best peer at p99 is Gearman (300), not the peer that was best at p50.
  EXPECT_THAT(out, HasSubstr("| paced 100/s p99 / best of gRPC, Redis, Gearman | ≤ 1 | 1.33 **not met** |"));
  // 180 against Redis's 430 (gRPC's 550 counts its server alone, having no workers).
  EXPECT_THAT(out, HasSubstr("| paced 100/s CPU per job, all processes / lowest of the peers' | ≤ 1 | 0.42 met |"));
  EXPECT_THAT(out, HasSubstr("| 8 client processes: jobs/s / raw echo's | ≥ 1 | 0.30 **not met** |"));
  // Cases that did not run.
  EXPECT_THAT(out, HasSubstr("| paced 1000/s p50 / raw echo's | ≤ 1.5 | n/a |"));
  EXPECT_THAT(out, HasSubstr("| idle: agent + workers, % of one CPU | < 0.1 | n/a |"));
  EXPECT_THAT(out, Not(HasSubstr("### Targets (issue 7")));
}

TEST(BenchReportTest, APeerWithoutItsClientsCpuIsLeftOutOfTheLowest) {
  Results r = PacedRun();
  SetMissing(r, "redis", "paced_100_cpu_client_us", "redis failed");
  // Now the lowest peer is gRPC (550): 180 / 550.
  EXPECT_THAT(RenderMarkdown(r),
              HasSubstr("| paced 100/s CPU per job, all processes / lowest of the peers' | ≤ 1 | 0.33 met |"));
}

TEST(BenchReportTest, IdleIsTheAgentAndTheWorkersTogetherAsAShareOfOneCpu) {
  Results r;
  r.hot = false;
  Set(r, "jobd", "idle_cpu_server_us_s", 300);
  Set(r, "jobd", "idle_cpu_workers_us_s", 200);
  EXPECT_THAT(RenderMarkdown(r), HasSubstr("| idle: agent + workers, % of one CPU | < 0.1 | 0.05 met |"));
  Set(r, "jobd", "idle_cpu_server_us_s", 900);
  Set(r, "jobd", "idle_cpu_workers_us_s", 300);
  EXPECT_THAT(RenderMarkdown(r), HasSubstr("| idle: agent + workers, % of one CPU | < 0.1 | 0.12 **not met** |"));
}

TEST(BenchReportTest, SixteenMibIsJudgedAgainstTheMemcpyTimedBetweenItsOwnRoundTrips) {
  Results r;
  r.hot = true;
  r.raw.memcpy_ms[16] = 0.9;  // the floors table's, timed at the start
  Set(r, "jobd", "rtt_16mib_ms", 3.0);
  Set(r, "jobd", "rtt_p50_us", 100);
  Set(r, "jobd", "memcpy_16mib_ms", 1.4);
  // 3.0 / (1.4 + 0.1), not 3.0 / (0.9 + 0.1).
  EXPECT_THAT(RenderMarkdown(r), HasSubstr("| 16 MiB round trip / (16 MiB memcpy + noop p50) | ≤ 2 | 2.00 met |"));
  // Results without it (an older run's JSON) fall back to the floors table.
  SetMissing(r, "jobd", "memcpy_16mib_ms", "not measured");
  EXPECT_THAT(RenderMarkdown(r),
              HasSubstr("| 16 MiB round trip / (16 MiB memcpy + noop p50) | ≤ 2 | 3.00 **not met** |"));
}

TEST(BenchReportTest, NoTargetTableWhenNoneOfItsCasesRan) {
  Results r;
  r.hot = false;
  Set(r, "redis", "paced_100_p50_us", 500);
  const std::string out = RenderMarkdown(r);
  EXPECT_THAT(out, Not(HasSubstr("### Targets")));
}

}  // namespace
}  // namespace jobd::bench
