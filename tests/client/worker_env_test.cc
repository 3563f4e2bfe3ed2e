#include "client/worker_env.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace jobd::client {
namespace {

TEST(WorkerEnvTest, ValuePersistsUntilItsTtlPasses) {
  WorkerEnv env;
  EXPECT_EQ(env.Get<int>("conn"), nullptr);
  int* v = env.Put("conn", std::make_shared<int>(42), absl::Milliseconds(50));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*env.Get<int>("conn"), 42);
  absl::SleepFor(absl::Milliseconds(80));
  EXPECT_EQ(env.Get<int>("conn"), nullptr);
}

TEST(WorkerEnvTest, WrongTypeGivesNullAndExpireDropsOldValues) {
  WorkerEnv env;
  env.Put("a", std::make_shared<std::string>("x"));
  env.Put("b", std::make_shared<int>(1), absl::ZeroDuration());
  EXPECT_EQ(env.Get<int>("a"), nullptr);
  EXPECT_EQ(*env.Get<std::string>("a"), "x");
  env.Expire();
  EXPECT_EQ(env.size(), 1u);
}

}  // namespace
}  // namespace jobd::client
