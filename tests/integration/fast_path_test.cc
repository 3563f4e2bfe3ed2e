// The shared-memory channels with the real agent: a session spoken by hand over the rings of its
// own segment gets its answer there; a session that breaks its ring loses only itself; no file
// in the run dir maps anyone's memory; sessions past --max_sessions are refused clearly.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "shm/arena.h"
#include "tests/integration/agent_process.h"
#include "tests/integration/raw_session.h"

namespace jobd::testing {
namespace {

void ExpectServesAndLeaksNothing(AgentProcess& agent) {
  auto client = agent.Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = (*client)->Start("echo", "still serving")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "still serving");
  r->Release();
  client->reset();
  EXPECT_EQ(agent.WaitForSlabsInUse(0), 0u) << agent.Log();
}

TEST(FastPathTest, SubmitUpTheRingIsAnsweredDownTheRingWithEveryHopStamped) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  RawSession s((*agent)->socket_path());
  ASSERT_TRUE(s.ok()) << "a session picks up its segment on the side socket";
  EXPECT_EQ(s.welcome().segment().side_socket(), (*agent)->run_dir() + "/jobd.side.sock");
  v1::ClientMessage m;
  *m.mutable_submit() = s.Echo(1, "through shared memory");
  m.mutable_submit()->mutable_stamps()->set_client_sent_ns(1);
  ASSERT_TRUE(s.Push(m));
  std::optional<v1::AgentMessage> reply = s.PopDown(absl::Seconds(30));
  ASSERT_TRUE(reply.has_value()) << (*agent)->Log();
  const v1::Completion& c = reply->completion();
  EXPECT_EQ(c.seq(), 1u);
  EXPECT_EQ(c.outcome(), v1::OUTCOME_OK) << c.message();
  EXPECT_EQ(s.ResponseText(c), "through shared memory");
  const v1::Stamps& st = c.stamps();
  EXPECT_EQ(st.client_sent_ns(), 1) << "the client's own stamp comes back unchanged";
  const std::vector<int64_t> hops = {st.agent_received_ns(), st.agent_dispatched_ns(), st.worker_received_ns(),
                                     st.worker_done_ns(), st.agent_result_ns(), st.agent_sent_ns()};
  for (size_t i = 0; i < hops.size(); ++i) {
    EXPECT_GT(hops[i], 0) << "hop " << i;
    if (i > 0) {
      EXPECT_GE(hops[i], hops[i - 1]) << "hop " << i << " comes after hop " << i - 1;
    }
  }
}

TEST(FastPathTest, ASessionIsToldTheClientSpinWindowNotTheOneOfTheAgentAndWorkers) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--spin-us=30", "--client-spin-us=120"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  RawSession s((*agent)->socket_path());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.welcome().segment().spin_us(), 120u);
  auto zero = AgentProcess::Start({.workers = 1, .extra = {"--client-spin-us=0"}});
  ASSERT_TRUE(zero.ok()) << zero.status();
  RawSession z((*zero)->socket_path());
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z.welcome().segment().spin_us(), 0u) << "a client that must not spin is told so";
}

TEST(FastPathTest, AServiceCapsItsOwnSpinWindowBelowTheAgents) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--client-spin-us=120"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto echo = [](client::JobClient& c, std::string_view what) {
    auto r = c.Start("echo", what)->Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->view(), what);
  };
  const client::ClientOptions base{.socket_path = (*agent)->socket_path(), .client_name = "test"};
  auto plain = client::JobClient::Connect(base);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->spin_window(), absl::Microseconds(120)) << "no cap: the agent's window";

  client::ClientOptions capped = base;
  capped.max_spin = absl::Microseconds(40);
  auto c = client::JobClient::Connect(capped);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->spin_window(), absl::Microseconds(40));
  echo(**c, "capped");

  ASSERT_EQ(setenv("JOBD_CLIENT_SPIN_US", "0", 1), 0);
  auto from_env = client::JobClient::Connect(base);
  auto option_wins = client::JobClient::Connect(capped);
  ASSERT_EQ(setenv("JOBD_CLIENT_SPIN_US", "fast", 1), 0);
  auto bad_env = client::JobClient::Connect(base);
  ASSERT_EQ(unsetenv("JOBD_CLIENT_SPIN_US"), 0);
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ((*from_env)->spin_window(), absl::ZeroDuration()) << "a process under a CPU limit never spins";
  echo(**from_env, "no spin");
  ASSERT_TRUE(option_wins.ok()) << option_wins.status();
  EXPECT_EQ((*option_wins)->spin_window(), absl::Microseconds(40)) << "the option wins over the environment";
  ASSERT_FALSE(bad_env.ok());
  EXPECT_EQ(bad_env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_env.status().message().find("JOBD_CLIENT_SPIN_US=\"fast\""), std::string::npos) << bad_env.status();

  client::ClientOptions negative = base;
  negative.max_spin = absl::Microseconds(-5);
  auto refused = client::JobClient::Connect(negative);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("allowed 0 to 10ms"), std::string::npos) << refused.status();
  echo(**plain, "the other sessions serve on");
}

TEST(FastPathTest, TheSdkRecordsWhereAJobsTimeWent) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto f = (*client)->Start("echo", "stamped");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Wait(absl::Seconds(30)).ok());
  const client::JobTimings t = f->timings();
  const std::vector<int64_t> order = {t.client_start_ns,    t.client_sent_ns,     t.agent_received_ns,
                                      t.agent_dispatched_ns, t.worker_received_ns, t.worker_done_ns,
                                      t.agent_result_ns,     t.agent_sent_ns,      t.client_received_ns,
                                      t.client_woken_ns};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_GT(order[i], 0) << "stamp " << i;
    if (i > 0) {
      EXPECT_GE(order[i], order[i - 1]) << "stamp " << i;
    }
  }
}

TEST(FastPathTest, GarbageUpTheRingEndsOnlyThatSessionAndLeaksNothing) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto bystander = (*agent)->Connect();
  ASSERT_TRUE(bystander.ok());
  {
    RawSession s((*agent)->socket_path());
    ASSERT_TRUE(s.ok());
    (void)s.Echo(1, "a slab the session holds when it is ended");
    const std::string junk = "\xff\xff\xff\xff not a protobuf";
    ASSERT_TRUE(*s.slot().up.TryPush(std::as_bytes(std::span(junk.data(), junk.size()))));
    s.WakeAgent();
    EXPECT_TRUE(s.StreamEnds(absl::Seconds(30))) << "the agent ends a session that breaks its channel";
  }
  EXPECT_NE((*agent)->Log().find("malformed control message"), std::string::npos) << (*agent)->Log();
  auto r = (*bystander)->Start("echo", "unaffected")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "unaffected");
  r->Release();
  bystander->reset();
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, AnImpossibleRingIndexEndsOnlyThatSession) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  {
    RawSession s((*agent)->socket_path());
    ASSERT_TRUE(s.ok());
    s.slot().up.TryPush({}).IgnoreError();
    // Scribble over the head: more than a whole ring ahead of the agent's tail.
    auto* index = reinterpret_cast<std::atomic<uint64_t>*>(
        reinterpret_cast<std::byte*>(s.slot().peer_bell) + sizeof(shm::Doorbell));
    index->store(uint64_t{1} << 40);
    s.WakeAgent();
    EXPECT_TRUE(s.StreamEnds(absl::Seconds(30)));
  }
  EXPECT_NE((*agent)->Log().find("impossible"), std::string::npos) << (*agent)->Log();
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, NoFileInTheRunDirMapsAnySessionsMemory) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  RawSession s((*agent)->socket_path());
  ASSERT_TRUE(s.ok());
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator((*agent)->run_dir())) {
    if (e.path().filename() != "jobd.log") names.push_back(e.path().filename().string());  // the test's own log
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"jobd.side.sock", "jobd.sock"}))
      << "segments are memfds handed over as descriptors, never files another process could open";
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, EverySessionGetsItsOwnSegmentUpToMaxSessionsThenAClearRefusal) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--max_sessions=3"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::vector<std::unique_ptr<client::JobClient>> clients;
  for (int i = 0; i < 3; ++i) {
    auto c = (*agent)->Connect();
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(std::move(*c));
  }
  auto fourth = (*agent)->Connect();
  ASSERT_FALSE(fourth.ok());
  EXPECT_NE(fourth.status().message().find("--max_sessions=3"), std::string::npos) << fourth.status();
  for (int round = 0; round < 20; ++round) {
    for (size_t i = 0; i < clients.size(); ++i) {
      const std::string text = absl::StrCat("client ", i, " round ", round);
      auto r = clients[i]->Start("echo", text)->Wait(absl::Seconds(30));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->view(), text);
    }
  }
  clients.clear();
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, ASubmitOnTheStreamEndsThatSessionOnly) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  RawSession s((*agent)->socket_path());
  ASSERT_TRUE(s.ok());
  v1::ClientMessage m;
  *m.mutable_submit() = s.Echo(1, "on the stream");
  ASSERT_TRUE(s.WriteStream(m));
  EXPECT_TRUE(s.StreamEnds(absl::Seconds(30))) << "only the hello belongs on the stream";
  ExpectServesAndLeaksNothing(**agent);
}

}  // namespace
}  // namespace jobd::testing
