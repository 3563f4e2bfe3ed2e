// Workers in their place: a worker whose answer breaks the rules (a slab it does not own,
// another job's slab, a size past its slab, a bad class, a stale slab, a job it was never
// given) ends that job at once with an error naming the violation, is replaced, and leaks
// nothing; an honest answer from the replacement goes through. Leased, the same worker's forged
// lane answers (the job's own request slab, a slab it never handed to the lane, a slab it freed)
// fail only their own job, and take or free nothing the session still holds.
#include <signal.h>

#include <cstdio>
#include <memory>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

// The rogue worker of slot 0 was replaced (more restarts than `restarts_before`), and the
// replacement answers an honest job.
void ExpectReplacedAndAnswering(AgentProcess& agent, client::JobClient& client, uint64_t restarts_before) {
  ASSERT_TRUE(agent.WaitForReadyWorkers(1));
  auto good = client.Start("rogue", "good", {.timeout = absl::Seconds(60)})->Wait();
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->view(), "good");
  auto stats = agent.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->workers(0).restarts(), restarts_before) << "the rogue worker was replaced";
}

// A session whose first job ("good") was answered and which then holds the rogue worker's
// lease, so that its next simple jobs go up the lane.
struct LeasedSession {
  std::unique_ptr<client::JobClient> client;
  absl::StatusOr<client::Response> first;  // the first job's answer, still held
};

absl::StatusOr<LeasedSession> ConnectAndLease(const AgentProcess& agent) {
  absl::StatusOr<std::unique_ptr<client::JobClient>> client = agent.Connect();
  if (!client.ok()) return client.status();
  absl::StatusOr<client::Response> first = (*client)->Start("rogue", "good", {.timeout = absl::Seconds(60)})->Wait();
  if (!first.ok()) return first.status();
  if (agent.WaitForLeasedWorker(absl::Seconds(20)) == 0) {
    return absl::DeadlineExceededError(absl::StrCat("no worker leased to the session in 20 s; agent log:\n", agent.Log()));
  }
  return LeasedSession{std::move(*client), std::move(first)};
}

// The same answers as protobuf messages (a worker of a hand-written SDK) and as ResultRecords
// (this SDK's workers), which the agent checks alike.
class RogueAnswersTest : public ::testing::TestWithParam<bool> {};

TEST_P(RogueAnswersTest, EachBadAnswerEndsItsJobWithTheViolationNamedAndTheWorkerIsReplaced) {
  // Without leases every answer goes through the agent, which is what this test checks.
  const std::string cmd = BinDir() + (GetParam() ? "/rogue_worker --records" : "/rogue_worker");
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = cmd, .extra = {"--leases=false"}});
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
    ExpectReplacedAndAnswering(**agent, **client, restarts_before);
  }
  // The "not-owned" case left a slab marked as the session's in its segment: it goes with the
  // session, like anything a session holds.
  client->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u);
  EXPECT_THAT((*agent)->Log(), HasSubstr("the worker is replaced"));
}

INSTANTIATE_TEST_SUITE_P(AsMessagesAndAsRecords, RogueAnswersTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Records" : "Messages"; });

// One rogue worker started as `worker_cmd` with leases off (every job goes through the agent),
// a connected client, and the worker's stats once it is ready.
struct RogueSetup {
  std::unique_ptr<AgentProcess> agent;
  std::unique_ptr<client::JobClient> client;
  v1::WorkerStats worker;
};
void StartRogue(const std::string& worker_cmd, RogueSetup& out) {
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = worker_cmd, .extra = {"--leases=false"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  out.agent = std::move(*agent);
  auto client = out.agent->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  out.client = std::move(*client);
  ASSERT_TRUE(out.agent->WaitForReadyWorkers(1));
  auto stats = out.agent->Stats();
  ASSERT_TRUE(stats.ok());
  out.worker = stats->workers(0);
}

// Workers leave their gRPC stream after the handshake (Detach), so the agent cannot end one by
// ending its stream: one that breaks its channel is killed, and its exit, once reaped, ends its
// job and brings its replacement.
TEST(RogueWorkerTest, ADetachedWorkerThatBreaksItsChannelIsKilledItsJobEndsAndItIsReplaced) {
  RogueSetup s;
  ASSERT_NO_FATAL_FAILURE(StartRogue(BinDir() + "/rogue_worker --detach", s));
  auto& agent = s.agent;
  auto& client = s.client;
  const pid_t first = s.worker.pid();
  const uint64_t restarts_before = s.worker.restarts();
  auto honest = client->Start("rogue", "good", {.timeout = absl::Seconds(60)})->Wait();
  ASSERT_TRUE(honest.ok()) << "a detached worker serves: " << honest.status();
  EXPECT_EQ(honest->view(), "good");

  auto r = client->Start("rogue", "garble-channel", {.timeout = absl::Seconds(60)})->Wait();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(client::OutcomeOf(r.status()), client::JobOutcome::kWorkerDied) << r.status();
  EXPECT_THAT(agent->Log(), HasSubstr("a malformed control message on its channel"));
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = kill(first, 0) != 0;
    if (!gone) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the worker that broke its channel still runs (pid " << first << ")";
  ExpectReplacedAndAnswering(*agent, *client, restarts_before);
  client.reset();
  EXPECT_EQ(agent->WaitForSlabsInUse(0), 0u);
}

// A worker still on its gRPC stream (it never detached) whose process exits while the stream
// stays open, because a process it forked holds the socket: its exit, once reaped, ends it, as
// it does a detached worker. Under load the same happens to a worker of this SDK killed after it
// sent its Detach and before the agent read it (FaultTest.TwoHundredWorkerKills... once left
// such a worker's job running until its deadline).
TEST(RogueWorkerTest, AWorkerThatExitsWhileItsStreamStaysOpenEndsItsJobAndIsReplaced) {
  RogueSetup s;
  ASSERT_NO_FATAL_FAILURE(StartRogue(BinDir() + "/rogue_worker", s));
  auto& agent = s.agent;
  auto& client = s.client;
  const uint64_t restarts_before = s.worker.restarts();
  const std::string pid_file = agent->run_dir() + "/stream-keeper.pid";
  struct KillKeeper {
    std::string path;
    ~KillKeeper() {
      int pid = 0;
      if (FILE* f = std::fopen(path.c_str(), "r")) {
        if (std::fscanf(f, "%d", &pid) != 1) pid = 0;
        std::fclose(f);
      }
      if (pid > 0) kill(pid, SIGKILL);
    }
  } keeper{pid_file};
  // The keeper holds the stream for 60 s; the job's own timeout is as long.
  auto f = client->Start("rogue", "exit-keep-stream:" + pid_file, {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(f.ok()) << f.status();
  auto r = f->Wait(absl::Seconds(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(client::OutcomeOf(r.status()), client::JobOutcome::kWorkerDied) << r.status();
  ExpectReplacedAndAnswering(*agent, *client, restarts_before);
  client.reset();
  EXPECT_EQ(agent->WaitForSlabsInUse(0), 0u);
}

TEST(RogueWorkerTest, ForgedLaneAnswersFailOnlyTheirOwnJobAndTakeNothingTheSessionHolds) {
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = BinDir() + "/rogue_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::StatusOr<LeasedSession> leased = ConnectAndLease(**agent);
  ASSERT_TRUE(leased.ok()) << leased.status();
  std::unique_ptr<client::JobClient>& client = leased->client;
  absl::StatusOr<client::Response>& first = leased->first;
  // An honest lane answer the caller keeps reading while the forged ones come.
  auto held_future = client->Start("rogue", "lane-good", {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(held_future.ok());
  auto held = held_future->Wait(absl::Seconds(60));
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_EQ(held->view(), "lane-good");
  // The agent stamps agent_sent_ns on every answer it sends; the rogue worker stamps nothing.
  ASSERT_EQ(held_future->timings().agent_sent_ns, 0) << "the job went up the lane, not through the agent";
  for (const std::string forged : {"lane-request", "lane-not-handed", "lane-stale"}) {
    SCOPED_TRACE(forged);
    auto f = client->Start("rogue", forged, {.timeout = absl::Seconds(60)});
    ASSERT_TRUE(f.ok());
    auto r = f->Wait(absl::Seconds(60));
    ASSERT_FALSE(r.ok()) << "a forged lane answer was handed out: '" << r->view() << "'";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_EQ(client::OutcomeOf(r.status()), client::JobOutcome::kWorkerDied) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a slab it handed to the lane"));
    EXPECT_EQ(f->timings().agent_sent_ns, 0) << "the forged answer came down the lane";
    // The caller's answer is untouched, and the next honest answer is right.
    EXPECT_EQ(held->view(), "lane-good");
    const std::string text = "lane-after-" + forged + std::string(300, 'x');
    auto next = client->Start("rogue", text, {.timeout = absl::Seconds(60)})->Wait();
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->view(), text);
    EXPECT_EQ(held->view(), "lane-good");
  }
  // Another session's job takes the worker back, and is answered through the agent.
  auto other = (*agent)->Connect();
  ASSERT_TRUE(other.ok()) << other.status();
  auto theirs_future = (*other)->Start("rogue", "theirs", {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(theirs_future.ok());
  auto theirs = theirs_future->Wait(absl::Seconds(60));
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_EQ(theirs->view(), "theirs");
  EXPECT_NE(theirs_future->timings().agent_sent_ns, 0) << "the other session's job went through the agent";
  EXPECT_EQ(held->view(), "lane-good");
  held = absl::InternalError("dropped");
  first = absl::InternalError("dropped");
  client.reset();
  other->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

// The client checks a lane answer's outcome itself (it builds no Completion to check it with): one
// past the last Outcome is a broken lane, which ends that session and nothing else.
TEST(RogueWorkerTest, ALaneAnswerWhoseOutcomeIsNoOutcomeEndsOnlyItsSession) {
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = BinDir() + "/rogue_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::StatusOr<LeasedSession> leased = ConnectAndLease(**agent);
  ASSERT_TRUE(leased.ok()) << leased.status();
  std::unique_ptr<client::JobClient>& client = leased->client;
  auto f = client->Start("rogue", "lane-bad-outcome", {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(f.ok()) << f.status();
  auto r = f->Wait(absl::Seconds(60));
  ASSERT_FALSE(r.ok()) << "an answer with no valid outcome was handed out: '" << r->view() << "'";
  EXPECT_EQ(client::OutcomeOf(r.status()), client::JobOutcome::kDisconnected) << r.status();
  EXPECT_EQ(f->timings().agent_sent_ns, 0) << "the answer came down the lane";
  // Another session is served, and nothing is left held once both are gone.
  auto other = (*agent)->Connect();
  ASSERT_TRUE(other.ok()) << other.status();
  auto theirs = (*other)->Start("rogue", "theirs", {.timeout = absl::Seconds(60)})->Wait(absl::Seconds(60));
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_EQ(theirs->view(), "theirs");
  leased->first = absl::InternalError("dropped");
  theirs = absl::InternalError("dropped");
  client.reset();
  other->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u);
}

// What a worker says of its lane jobs reaches the stats only for a type it handles: a report
// naming another type is ignored (and logged), and the job's answer is not hurt.
TEST(RogueWorkerTest, ALaneReportOfATypeTheWorkerDoesNotHandleReachesNoStats) {
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = BinDir() + "/rogue_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::StatusOr<LeasedSession> leased = ConnectAndLease(**agent);
  ASSERT_TRUE(leased.ok()) << leased.status();
  leased->first = absl::InternalError("dropped");
  std::unique_ptr<client::JobClient>& client = leased->client;
  auto f = client->Start("rogue", "lane-foreign-report", {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(f.ok());
  auto r = f->Wait(absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "lane-foreign-report");
  EXPECT_EQ(f->timings().agent_sent_ns, 0) << "the job went up the lane";
  // Then an honest lane job, whose ended report the agent reads after the foreign ones.
  auto g = client->Start("rogue", "lane-good", {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(g->Wait(absl::Seconds(60)).ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  uint64_t rogue_lane_jobs = 0;
  bool foreign = true;
  while (absl::Now() < give_up) {
    auto stats = (*agent)->Stats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    rogue_lane_jobs = 0;
    foreign = false;
    for (const auto& t : stats->types()) {
      if (t.type() == "rogue") rogue_lane_jobs = t.submitted();
      foreign |= t.type() == "not-mine";
    }
    if (rogue_lane_jobs >= 2) break;  // "good" through the agent, "lane-good" up the lane
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(rogue_lane_jobs, 2u) << (*agent)->Log();
  EXPECT_FALSE(foreign) << "a type the worker does not handle reached the stats";
  EXPECT_THAT((*agent)->Log(), HasSubstr("which it does not handle"));
  client.reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

// A worker that dies with a lane job: before saying it started (so it never ran it), the job
// goes to the agent and is answered once by the next worker; after, the job ends WORKER_DIED
// and is not sent again (docs/data-path.md, "When something dies during a lease").
TEST(RogueWorkerTest, ALaneJobItsWorkerDiedBeforeStartingIsSentToTheAgentAndOneItStartedIsNot) {
  auto agent = AgentProcess::Start({.workers = 1, .worker_cmd = BinDir() + "/rogue_worker"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  const client::StartOptions opts{.timeout = absl::Seconds(60)};
  // A lease follows a job of the session's once no job has queued for a second (lease_quiet):
  // after a job queued for the replacement worker, that takes more than one try.
  auto lease = [&] {
    pid_t leased = 0;
    for (int i = 0; i < 30 && leased == 0; ++i) {
      auto warm = (*client)->Start("rogue", "good", opts)->Wait(absl::Seconds(60));
      ASSERT_TRUE(warm.ok()) << warm.status();
      leased = (*agent)->WaitForLeasedWorker(absl::Milliseconds(500));
    }
    ASSERT_NE(leased, 0) << (*agent)->Log();
  };
  lease();
  auto vanished = (*client)->Start("rogue", "lane-vanish", opts);
  ASSERT_TRUE(vanished.ok());
  auto resent = vanished->Wait(absl::Seconds(60));
  // The replacement takes it through the agent, where the rogue echoes any text it does not know.
  ASSERT_TRUE(resent.ok()) << resent.status() << "\n" << (*agent)->Log();
  EXPECT_EQ(resent->view(), "lane-vanish");
  EXPECT_NE(vanished->timings().agent_sent_ns, 0) << "answered through the agent, after the lane closed";
  resent = absl::InternalError("dropped");

  lease();
  auto started = (*client)->Start("rogue", "lane-started-vanish", opts);
  ASSERT_TRUE(started.ok());
  auto died = started->Wait(absl::Seconds(60));
  ASSERT_FALSE(died.ok()) << "a job that started on the lane ran again: '" << died->view() << "'";
  EXPECT_EQ(client::OutcomeOf(died.status()), client::JobOutcome::kWorkerDied) << died.status();
  EXPECT_EQ(died.status().code(), absl::StatusCode::kUnavailable) << died.status();
  // The session goes on: its next job is answered.
  auto after = (*client)->Start("rogue", "after", opts)->Wait(absl::Seconds(60));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->view(), "after");
  after = absl::InternalError("dropped");
  client->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

}  // namespace
}  // namespace jobd::testing
