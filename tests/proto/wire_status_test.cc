#include "proto/wire_status.h"

#include <string>

#include "gtest/gtest.h"

namespace jobd::wire {
namespace {

TEST(WireStatusTest, AFailureRoundTripsThroughItsCodeAndMessage) {
  const absl::Status sent = absl::NotFoundError("no such image");
  const absl::Status s = FailureFromWire(CodeOnWire(sent), std::string(sent.message()));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no such image");
  EXPECT_EQ(FailureFromWire(CodeOnWire(absl::UnauthenticatedError("x")), "x").code(),
            absl::StatusCode::kUnauthenticated);  // the last code absl knows
}

TEST(WireStatusTest, AFailureCannotPassForASuccessOrAnUnknownCode) {
  EXPECT_EQ(FailureFromWire(0, "boom").code(), absl::StatusCode::kUnknown);  // says OK
  EXPECT_EQ(FailureFromWire(0, "boom").message(), "boom");
  EXPECT_EQ(FailureFromWire(4242, "boom").code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(FailureFromWire(17, "boom").code(), absl::StatusCode::kUnknown);  // one past kUnauthenticated
  EXPECT_EQ(FailureFromWire(-3, "boom").code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(FailureFromWire(int64_t{1} << 40, "boom").code(), absl::StatusCode::kUnknown);  // not cut to an int
  const absl::Status empty = FailureFromWire(13, "");
  EXPECT_FALSE(empty.ok());  // an empty message still fails
  EXPECT_FALSE(empty.message().empty());
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
