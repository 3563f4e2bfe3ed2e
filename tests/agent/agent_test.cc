// The agent in this process with its dependencies injected: a fake launcher (no worker is
// forked) and a segment factory the test sees. Its socket, pump and coordinator are real; a
// real client session talks to it.
#include "agent/agent.h"

#include <signal.h>

#include <filesystem>

#include "client/job_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/eventually.h"
#include "tests/fakes/fake_process_launcher.h"
#include "tests/fakes/temp_dir.h"

namespace jobd::agent {
namespace {

using ::testing::HasSubstr;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(run_dir_.path().empty());
    config_.run_dir = run_dir_.path();
    config_.workers = 2;
    config_.worker_argv = {"/opt/never/forked", "--flag"};
    config_.size_classes = *shm::ParseSizeClasses("4K:64,64K:4");
    config_.session_classes = config_.size_classes;
    config_.default_timeout = absl::Minutes(5);
  }
  void TearDown() override {
    if (agent_ != nullptr) agent_->Shutdown(absl::ZeroDuration());
    agent_.reset();
  }

  void StartAgent() {
    AgentDeps deps;
    deps.launcher = &launcher_;
    deps.make_segment = [this](const std::string& name, const shm::SegmentShape& shape)
        -> absl::StatusOr<std::unique_ptr<shm::Segment>> {
      segments_made_.push_back(name);
      if (!segment_error_.ok() && name.rfind("jobd-session-", 0) == 0) return segment_error_;
      return shm::Segment::Create(name, shape);
    };
    absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Start(config_, std::move(deps));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
  }

  absl::StatusOr<std::unique_ptr<client::JobClient>> Connect() {
    client::ClientOptions o;
    o.socket_path = config_.socket_path();
    o.client_name = "agent-test";
    return client::JobClient::Connect(o);
  }

  // Polls the agent's stats until `pred` holds (generous: the pump is asynchronous).
  template <typename Pred>
  bool StatsEventually(Pred pred) {
    return testing::Eventually([&] { return pred(agent_->admin().Stats()); });
  }

  testing::TempDir run_dir_{"jobd-agent-test"};
  AgentConfig config_;
  testing::FakeProcessLauncher launcher_;
  std::vector<std::string> segments_made_;
  absl::Status segment_error_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, ItLaunchesItsWorkersThroughTheLauncherToldWhereItListens) {
  StartAgent();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  for (const auto& l : launcher_.launches) {
    EXPECT_EQ(l.argv, config_.worker_argv);
    EXPECT_EQ(launcher_.EnvOf(l.pid, "JOBD_SOCKET"), config_.socket_path());
    EXPECT_EQ(launcher_.EnvOf(l.pid, "JOBD_RUN_DIR"), run_dir_.path());
  }
  EXPECT_TRUE(std::filesystem::exists(config_.socket_path()));
  EXPECT_TRUE(std::filesystem::exists(config_.side_socket_path()));
  const v1::HealthReply h = agent_->admin().Health();
  EXPECT_EQ(h.workers_configured(), 2u);
  EXPECT_EQ(h.workers_ready(), 0u);  // launched, never connected
  EXPECT_FALSE(h.serving());
}

TEST_F(AgentTest, ASessionsSegmentComesFromTheFactoryAndItsJobWaitsForAWorker) {
  StartAgent();
  absl::StatusOr<std::unique_ptr<client::JobClient>> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ(segments_made_.size(), 1u);
  EXPECT_EQ(segments_made_[0].rfind("jobd-session-", 0), 0u);
  absl::StatusOr<client::JobFuture> job = (*client)->Start("resize", std::string_view("hello"));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(StatsEventually([](const v1::StatsReply& s) { return s.queue_depth() == 1 && s.sessions() == 1; }));
  const v1::StatsReply s = agent_->admin().Stats();
  ASSERT_EQ(s.types_size(), 1);
  EXPECT_EQ(s.types(0).type(), "resize");
  EXPECT_EQ(s.types(0).queued(), 1u);
  ASSERT_EQ(s.session_list_size(), 1);
  EXPECT_EQ(s.session_list(0).pid(), static_cast<uint32_t>(getpid()));  // from the kernel
  EXPECT_EQ(s.session_list(0).live_jobs(), 1u);
  // The session goes: its queued job is cancelled and its slabs come back.
  client->reset();
  EXPECT_TRUE(StatsEventually([](const v1::StatsReply& s) {
    return s.queue_depth() == 0 && s.sessions() == 0 && s.live_jobs() == 0 && s.session_list_size() == 0;
  }));
}

TEST_F(AgentTest, ASessionWhoseSegmentCannotBeMadeIsRefusedWithTheReason) {
  segment_error_ = absl::ResourceExhaustedError("test factory: no shared memory left");
  StartAgent();
  absl::StatusOr<std::unique_ptr<client::JobClient>> client = Connect();
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("refused the session: test factory: no shared memory left"));
  EXPECT_EQ(agent_->admin().Stats().sessions(), 0u);
}

TEST_F(AgentTest, ShutdownSignalsEveryWorkerItLaunchedAndRemovesItsSockets) {
  StartAgent();
  agent_->Shutdown(absl::ZeroDuration());
  for (const auto& l : launcher_.launches) {
    EXPECT_NE(std::find(launcher_.signals.begin(), launcher_.signals.end(), std::make_pair(l.pid, SIGTERM)),
              launcher_.signals.end())
        << l.pid;
  }
  EXPECT_FALSE(std::filesystem::exists(config_.socket_path()));
  EXPECT_FALSE(std::filesystem::exists(config_.side_socket_path()));
}

}  // namespace
}  // namespace jobd::agent
