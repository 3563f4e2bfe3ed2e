// KPHP's two examples, run as real programs against a real agent.
#include "examples/examples.pb.h"
#include "examples/feed/ranker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;

TEST(ExamplesTest, SquareClientGetsTheSquaresFromTheSquareWorker) {
  auto agent = AgentProcess::Start({.worker_cmd = BinDir() + "/square_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ProgramResult r = RunProgram({BinDir() + "/square_client", "1", "2", "3", "4", "5"},
                               {"JOBD_SOCKET=" + (*agent)->socket_path()});
  EXPECT_EQ(r.exit_code, 0) << r.out << (*agent)->Log();
  EXPECT_EQ(r.out, "[1,2,3,4,5] -> [1,4,9,16,25]\n");
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u);
}

TEST(ExamplesTest, FeedClientRanksThreeHundredPostsInThreeJobs) {
  auto agent = AgentProcess::Start({.worker_cmd = BinDir() + "/feed_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ProgramResult r = RunProgram({BinDir() + "/feed_client"}, {"JOBD_SOCKET=" + (*agent)->socket_path()});
  EXPECT_EQ(r.exit_code, 0) << r.out << (*agent)->Log();
  EXPECT_THAT(r.out, HasSubstr("ranking 300 posts in 3 jobs"));
  EXPECT_THAT(r.out, HasSubstr("merged 300 posts"));

  // The distributed answer equals the one computed here, in one piece.
  examples::RankRequest all;
  for (const auto& p : examples::MakeFeed(300, 42)) *all.add_posts() = p;
  all.set_viewer_id(7);
  const examples::RankResponse local = examples::RankPosts(all);
  EXPECT_THAT(r.out, HasSubstr("#1 post " + std::to_string(local.ranked(0).id()) + " "));
  EXPECT_THAT(r.out, HasSubstr("#5 post " + std::to_string(local.ranked(4).id()) + " "));
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u);
}

TEST(ExamplesTest, FeedClientRanksLocallyWhenNoAgentRuns) {
  ProgramResult r = RunProgram({BinDir() + "/feed_client"}, {"JOBD_SOCKET=/tmp/jobd-absent/jobd.sock"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("ranking locally"));
  EXPECT_THAT(r.out, HasSubstr("merged 300 posts"));
}

}  // namespace
}  // namespace jobd::testing
