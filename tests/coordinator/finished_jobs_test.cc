#include "coordinator/internal/finished_jobs.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace jobd::coordinator::internal {
namespace {

JobStatus Ended(JobId id, std::string type, Outcome outcome = Outcome::kOk, uint32_t attempt = 1) {
  JobStatus st;
  st.id = id;
  st.type = std::move(type);
  st.state = outcome == Outcome::kOk ? JobState::kDone : JobState::kFailed;
  st.outcome = outcome;
  st.attempt = attempt;
  return st;
}

TEST(FinishedJobsTest, FindsWhatItHoldsAndNothingElse) {
  FinishedJobs f(4);
  f.Remember(Ended(10, "resize"));
  f.Remember(Ended(11, "thumbnail", Outcome::kHandlerError, 3));
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
    f.Remember(Ended(id, absl::StrCat("t", id)));
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
  f.Remember(Ended(7, "first", Outcome::kDeadlineExceeded));
  f.Remember(Ended(8, "other"));
  f.Remember(Ended(7, "second"));
  EXPECT_EQ(f.Find(7)->type, "second");
  EXPECT_EQ(f.Find(7)->outcome, Outcome::kOk);
  // Once full, the ring has wrapped: still the latest.
  f.Remember(Ended(9, "x"));
  f.Remember(Ended(7, "third", Outcome::kCancelled));
  EXPECT_EQ(f.Find(7)->type, "third");
  EXPECT_EQ(f.Find(8)->type, "other");
}

TEST(FinishedJobsTest, CapacityZeroRemembersNothing) {
  FinishedJobs f(0);
  f.Remember(Ended(1, "t"));
  EXPECT_EQ(f.size(), 0u);
  EXPECT_FALSE(f.Find(1).has_value());
}

}  // namespace
}  // namespace jobd::coordinator::internal
