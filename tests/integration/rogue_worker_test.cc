// Workers in their place: a worker whose answer breaks the rules (a slab it does not own,
// another job's slab, a size past its slab, a bad class, a stale slab, a job it was never
// given) ends that job at once with an error naming the violation, is replaced, and leaks
// nothing; an honest answer from the replacement goes through.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;

struct Case {
  std::string request;
  std::string words;  // what the error must name
};

TEST(RogueWorkerTest, EachBadAnswerEndsItsJobWithTheViolationNamedAndTheWorkerIsReplaced) {
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = BinDir() + "/rogue_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  const std::vector<Case> cases = {
      {"not-owned", "held by owner"},
      {"other-job", "held by one of its jobs"},
      {"too-big", "exceeds the"},
      {"bad-class", "size class 200"},
      {"stale", "is free"},
      {"unknown-job", "is not running job"},
  };
  uint64_t restarts_before = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request);
    ASSERT_TRUE((*agent)->WaitForReadyWorkers(1));
    auto stats = (*agent)->Stats();
    ASSERT_TRUE(stats.ok());
    restarts_before = stats->workers(0).restarts();
    auto r = (*client)->Start("rogue", c.request, {.timeout = absl::Seconds(60)})->Wait();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(client::OutcomeOf(r.status()), client::JobOutcome::kWorkerDied) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("sent a bad result"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.words));
    // Replaced, and the replacement answers honestly.
    ASSERT_TRUE((*agent)->WaitForReadyWorkers(1));
    auto good = (*client)->Start("rogue", "good", {.timeout = absl::Seconds(60)})->Wait();
    ASSERT_TRUE(good.ok()) << good.status();
    EXPECT_EQ(good->view(), "good");
    stats = (*agent)->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_GT(stats->workers(0).restarts(), restarts_before) << "the rogue worker was replaced";
  }
  // The "not-owned" case left a slab marked as the session's in its segment: it goes with the
  // session, like anything a session holds.
  client->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u);
  EXPECT_THAT((*agent)->Log(), HasSubstr("the worker is replaced"));
}

}  // namespace
}  // namespace jobd::testing
