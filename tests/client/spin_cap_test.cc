#include "client/internal/spin_cap.h"

#include "gtest/gtest.h"

namespace jobd::client::internal {
namespace {

TEST(SpinCapTest, NoOptionAndNoEnvironmentLeaveTheAgentsWindow) {
  auto cap = SpinCap(std::nullopt, nullptr);
  ASSERT_TRUE(cap.ok()) << cap.status();
  EXPECT_FALSE(cap->has_value());
  EXPECT_EQ(SpinWindow(absl::Microseconds(200), *cap), absl::Microseconds(200));
  auto empty = SpinCap(std::nullopt, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

TEST(SpinCapTest, TheOptionWinsOverTheEnvironmentAndOnlyEverCuts) {
  auto cap = SpinCap(absl::Microseconds(30), "5000");
  ASSERT_TRUE(cap.ok()) << cap.status();
  EXPECT_EQ(SpinWindow(absl::Microseconds(200), *cap), absl::Microseconds(30));
  auto wider = SpinCap(absl::Milliseconds(2), nullptr);
  ASSERT_TRUE(wider.ok());
  EXPECT_EQ(SpinWindow(absl::Microseconds(200), *wider), absl::Microseconds(200))
      << "a cap never widens the agent's window";
  auto zero = SpinCap(absl::ZeroDuration(), nullptr);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(SpinWindow(absl::Microseconds(200), *zero), absl::ZeroDuration());
}

TEST(SpinCapTest, TheEnvironmentIsReadInMicroseconds) {
  auto cap = SpinCap(std::nullopt, "0");
  ASSERT_TRUE(cap.ok()) << cap.status();
  EXPECT_EQ(SpinWindow(absl::Microseconds(200), *cap), absl::ZeroDuration());
  auto some = SpinCap(std::nullopt, "75");
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(SpinWindow(absl::Microseconds(200), *some), absl::Microseconds(75));
}

TEST(SpinCapTest, AValueOutOfRangeOrNotANumberIsRefusedWithWhatIsAllowed) {
  for (const char* bad : {"-1", "10001", "fast", "12us", "1e3"}) {
    auto cap = SpinCap(std::nullopt, bad);
    ASSERT_FALSE(cap.ok()) << bad;
    EXPECT_EQ(cap.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(cap.status().message().find(std::string("JOBD_CLIENT_SPIN_US=\"") + bad + "\""), std::string::npos)
        << cap.status();
    EXPECT_NE(cap.status().message().find("0 to 10000"), std::string::npos) << cap.status();
  }
  for (absl::Duration bad : {absl::Microseconds(-1), absl::Milliseconds(11)}) {
    auto cap = SpinCap(bad, nullptr);
    ASSERT_FALSE(cap.ok());
    EXPECT_EQ(cap.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(cap.status().message().find("ClientOptions::max_spin="), std::string::npos) << cap.status();
  }
}

}  // namespace
}  // namespace jobd::client::internal
