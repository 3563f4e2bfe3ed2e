#include "proto/wire_status.h"

#include "gtest/gtest.h"

namespace jobd::wire {
namespace {

TEST(WireStatusTest, AFailureRoundTripsThroughACompletion) {
  const v1::Completion c = FailedCompletion(7, v1::OUTCOME_HANDLER_ERROR, absl::NotFoundError("no such image"));
  EXPECT_EQ(c.seq(), 7u);
  EXPECT_EQ(c.outcome(), v1::OUTCOME_HANDLER_ERROR);
  const absl::Status s = StatusOf(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no such image");
}

TEST(WireStatusTest, AnOkCompletionIsOkWhateverItsCodeSays) {
  v1::Completion c;
  c.set_outcome(v1::OUTCOME_OK);
  c.set_code(13);
  EXPECT_TRUE(StatusOf(c).ok());
}

TEST(WireStatusTest, AFailureCannotPassForASuccessOrAnUnknownCode) {
  v1::Completion c;
  c.set_outcome(v1::OUTCOME_HANDLER_ERROR);
  c.set_code(0);  // says OK
  c.set_message("boom");
  EXPECT_EQ(StatusOf(c).code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(StatusOf(c).message(), "boom");
  c.set_code(4242);
  EXPECT_EQ(StatusOf(c).code(), absl::StatusCode::kUnknown);
  c.set_code(-3);
  EXPECT_EQ(StatusOf(c).code(), absl::StatusCode::kUnknown);
  c.set_message("");
  EXPECT_FALSE(StatusOf(c).ok());  // an empty message still fails
  EXPECT_FALSE(StatusOf(c).message().empty());
}

TEST(WireStatusTest, AResultCarriesTheHandlersFailureCutToItsBound) {
  ResultRecord r;
  SetFailure(r, absl::OkStatus());
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.message.empty());
  SetFailure(r, absl::InvalidArgumentError(std::string(10'000, 'x')));
  EXPECT_EQ(r.code, static_cast<int>(absl::StatusCode::kInvalidArgument));
  const absl::Status s = FailureFromWire(r.code, r.message);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().size(), 4096u);
  EXPECT_EQ(FailureFromWire(r.code, r.message, 10).message().size(), 10u);
}

}  // namespace
}  // namespace jobd::wire
