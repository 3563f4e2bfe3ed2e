// A service's JobClient that has nothing to do sleeps: its reconnect thread wakes when the
// session's stream ends, not on a timer, and still reconnects after the agent comes back.
#include <cstdio>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"
#include "tests/integration/proc_threads.h"

namespace jobd::testing {
namespace {

// Context switches so far of this process's thread named `name`.
std::optional<uint64_t> SwitchesOfThread(const std::string& name) {
  for (const ProcThread& t : ThreadsOf(0)) {
    if (t.name == name) return t.switches;
  }
  return std::nullopt;
}

TEST(ClientIdleTest, AnIdleClientsReconnectThreadSleepsUntilTheStreamEndsAndThenReconnects) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  auto first = (*client)->Start("echo", "warm");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->Wait(absl::Seconds(30)).ok());

  std::optional<uint64_t> before = SwitchesOfThread("jobd-reconnect");
  ASSERT_TRUE(before.has_value()) << "no thread named jobd-reconnect in this process";
  absl::SleepFor(absl::Seconds(2));
  std::optional<uint64_t> after = SwitchesOfThread("jobd-reconnect");
  ASSERT_TRUE(after.has_value());
  // A 50 ms poll would have woken it about 40 times.
  EXPECT_LE(*after - *before, 1u) << "the reconnect thread of an idle, connected client woke up";

  // Asleep is not deaf: the stream's end wakes it, and it reconnects to the restarted agent.
  (*agent)->Kill();
  ASSERT_TRUE((*agent)->Restart().ok());
  bool back = false;
  for (int i = 0; i < 1000 && !back; ++i) {
    back = (*client)->enabled() && (*client)->reconnects() == 1;
    if (!back) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(back) << "not reconnected after the agent came back";
  auto r = (*client)->Start("echo", "after restart");
  ASSERT_TRUE(r.ok()) << r.status();
  auto answer = r->Wait(absl::Seconds(30));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->view(), "after restart");
}

}  // namespace
}  // namespace jobd::testing
