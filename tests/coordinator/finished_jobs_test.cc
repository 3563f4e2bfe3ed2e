#include "coordinator/internal/finished_jobs.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace jobd::coordinator::internal {
namespace {

void End(FinishedJobs& f, JobId id, const std::string& type, Outcome outcome = Outcome::kOk, uint32_t attempt = 1) {
  f.Remember(id, type, outcome == Outcome::kOk ? JobState::kDone : JobState::kFailed, outcome, attempt);
}

TEST(FinishedJobsTest, FindsWhatItHoldsAndNothingElse) {
  FinishedJobs f(4);
  End(f, 10, "resize");
  End(f, 11, "thumbnail", Outcome::kHandlerError, 3);
  const std::optional<JobStatus> a = f.Find(11);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->id, 11u);
  EXPECT_EQ(a->type, "thumbnail");
  EXPECT_EQ(a->state, JobState::kFailed);
  EXPECT_EQ(a->outcome, Outcome::kHandlerError);
  EXPECT_EQ(a->attempt, 3u);
  EXPECT_EQ(f.Find(10)->type, "resize");
  EXPECT_FALSE(f.Find(12).has_value());
  EXPECT_FALSE(f.Find(0).has_value());
  EXPECT_EQ(f.size(), 2u);
}

TEST(FinishedJobsTest, ForgetsTheOldestOnceFullRoundAfterRound) {
  FinishedJobs f(3);
  for (JobId id = 1; id <= 11; ++id) {
    End(f, id, absl::StrCat("t", id));
    EXPECT_EQ(f.size(), std::min<size_t>(id, 3));
    // Exactly the last three, each with its own fields, after every end.
    for (JobId old = 1; old <= id; ++old) {
      const std::optional<JobStatus> st = f.Find(old);
      if (old + 3 <= id) {
        EXPECT_FALSE(st.has_value()) << "job " << old << " after " << id;
      } else {
        ASSERT_TRUE(st.has_value()) << "job " << old << " after " << id;
        EXPECT_EQ(st->type, absl::StrCat("t", old));
      }
    }
  }
}

TEST(FinishedJobsTest, AReusedIdReadsAsItsLatestEnd) {
  FinishedJobs f(4);
  End(f, 7, "first", Outcome::kDeadlineExceeded);
  End(f, 8, "other");
  End(f, 7, "second");
  EXPECT_EQ(f.Find(7)->type, "second");
  EXPECT_EQ(f.Find(7)->outcome, Outcome::kOk);
  // Once full, the ring has wrapped: still the latest.
  End(f, 9, "x");
  End(f, 7, "third", Outcome::kCancelled);
  EXPECT_EQ(f.Find(7)->type, "third");
  EXPECT_EQ(f.Find(8)->type, "other");
}

TEST(FinishedJobsTest, CapacityZeroRemembersNothing) {
  FinishedJobs f(0);
  End(f, 1, "t");
  EXPECT_EQ(f.size(), 0u);
  EXPECT_FALSE(f.Find(1).has_value());
}

}  // namespace
}  // namespace jobd::coordinator::internal
