#include "client/job_error.h"

#include "gtest/gtest.h"

namespace jobd::client {
namespace {

TEST(JobErrorTest, OutcomeSurvivesInTheStatusPayload) {
  for (JobOutcome o : {JobOutcome::kDeadlineExceeded, JobOutcome::kWorkerDied, JobOutcome::kHandlerError,
                       JobOutcome::kCancelled, JobOutcome::kDisconnected, JobOutcome::kRejected}) {
    absl::Status s = WithOutcome(absl::AbortedError("x"), o);
    EXPECT_EQ(OutcomeOf(s), o) << JobOutcomeName(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
    EXPECT_EQ(CouldNotStart(s), o == JobOutcome::kRejected);
  }
}

TEST(JobErrorTest, OkIsOkAndAPlainErrorCountsAsCouldNotStart) {
  EXPECT_EQ(OutcomeOf(absl::OkStatus()), JobOutcome::kOk);
  EXPECT_EQ(OutcomeOf(absl::UnavailableError("no agent")), JobOutcome::kRejected);
  EXPECT_TRUE(WithOutcome(absl::OkStatus(), JobOutcome::kWorkerDied).ok());
}

}  // namespace
}  // namespace jobd::client
