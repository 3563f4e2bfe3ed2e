// Worker leases with the real agent: after a session's job, the worker serves that session's
// lane and its next jobs skip the agent; another session's need takes the worker back; a
// worker, a client or the agent that dies with a lease out leaves no job unanswered and no slab
// held; a lane job past its deadline ends as DEADLINE_EXCEEDED and its worker is replaced.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/job_error.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using client::JobOutcome;
using client::OutcomeOf;

size_t LeasedWorkers(const AgentProcess& agent) {
  auto stats = agent.Stats();
  if (!stats.ok()) return 0;
  size_t n = 0;
  for (const auto& w : stats->workers()) n += w.state() == "leased";
  return n;
}

uint64_t Outcomes(const AgentProcess& agent, const std::string& type, const std::string& outcome) {
  auto stats = agent.Stats();
  if (!stats.ok()) return 0;
  for (const auto& t : stats->types()) {
    if (t.type() != type) continue;
    auto it = t.outcomes().find(outcome);
    return it == t.outcomes().end() ? 0 : it->second;
  }
  return 0;
}

// Runs one echo job and says whether it went through the agent (its stamps show the hop).
struct Echoed {
  bool ok = false;
  bool via_agent = false;
};
Echoed EchoOnce(client::JobClient& c, const std::string& text) {
  auto f = c.Start("echo", text);
  if (!f.ok()) return {};
  auto r = f->Wait(absl::Seconds(30));
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return {};
  }
  EXPECT_EQ(r->view(), text);
  return {r->view() == text, f->timings().agent_received_ns != 0};
}

// jobd with one worker, and a session that holds that worker's lease.
struct Leased {
  std::unique_ptr<AgentProcess> agent;
  std::unique_ptr<client::JobClient> client;
  pid_t worker = 0;  // the leased worker's pid
};
absl::StatusOr<Leased> StartLeased(std::vector<std::string> extra = {}) {
  Leased l;
  auto agent = AgentProcess::Start({.workers = 1, .extra = std::move(extra)});
  if (!agent.ok()) return agent.status();
  l.agent = std::move(*agent);
  auto client = l.agent->Connect();
  if (!client.ok()) return client.status();
  l.client = std::move(*client);
  if (!EchoOnce(*l.client, "first").ok) return absl::InternalError("the first job failed");
  l.worker = l.agent->WaitForLeasedWorker();
  if (l.worker == 0) return absl::DeadlineExceededError("no lease after the first job: " + l.agent->Log());
  return l;
}

TEST(LeaseTest, AfterTheFirstJobTheSessionsJobsGoStraightToItsLeasedWorker) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  const Echoed first = EchoOnce(**client, "first");
  EXPECT_TRUE(first.via_agent) << "no lease before a job of the session has ended";
  ASSERT_NE((*agent)->WaitForLeasedWorker(), 0) << (*agent)->Log();
  int direct = 0, answered = 0;
  for (int i = 0; i < 50; ++i) {
    const Echoed e = EchoOnce(**client, absl::StrCat("job ", i, std::string(static_cast<size_t>(i) * 100, 'x')));
    answered += e.ok;
    direct += e.ok && !e.via_agent;
  }
  EXPECT_EQ(answered, 50);
  EXPECT_EQ(direct, 50) << "with the lease held and nothing queued, no job needs the agent";
  // The agent learns of lane jobs from the worker's reports, after the fact.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (Outcomes(**agent, "echo", "ok") < 51 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(Outcomes(**agent, "echo", "ok"), 51u);
  client->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

TEST(LeaseTest, WithLeasesOffEveryJobGoesThroughTheAgent) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--leases=false"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 10; ++i) {
    const Echoed e = EchoOnce(**client, absl::StrCat("job ", i));
    EXPECT_TRUE(e.ok && e.via_agent) << "job " << i;
  }
  EXPECT_EQ(LeasedWorkers(**agent), 0u);
}

TEST(LeaseTest, AnotherSessionsJobTakesTheOnlyWorkerBackAndBothAreAnswered) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto a = (*agent)->Connect();
  auto b = (*agent)->Connect();
  ASSERT_TRUE(a.ok() && b.ok());
  EchoOnce(**a, "a0");
  ASSERT_NE((*agent)->WaitForLeasedWorker(), 0);
  // B's job can only run on the worker A holds: the lease is revoked for it.
  const Echoed from_b = EchoOnce(**b, "b0");
  EXPECT_TRUE(from_b.ok);
  EXPECT_TRUE(from_b.via_agent);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(EchoOnce(**a, absl::StrCat("a", i + 1)).ok);
    EXPECT_TRUE(EchoOnce(**b, absl::StrCat("b", i + 1)).ok);
  }
  a->reset();
  b->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

TEST(LeaseTest, ALeaseIdleForLeaseIdleIsTakenBack) {
  auto l = StartLeased({"--lease_idle=200ms"});
  ASSERT_TRUE(l.ok()) << l.status();
  AgentProcess& agent = *l->agent;
  client::JobClient& session = *l->client;
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (LeasedWorkers(agent) > 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(LeasedWorkers(agent), 0u) << "revoked after 200 ms without a lane job";
  EXPECT_TRUE(EchoOnce(session, "after").via_agent) << "the session sends to the agent again";
}

TEST(LeaseTest, ALeasedWorkerCountsAsALiveJobOfItsUidSoLaneJobsCannotSlipPastTheQuota) {
  // One worker, leased to the first session; quota 2 for the uid both sessions share.
  auto l = StartLeased({"--max-jobs-per-uid=2"});
  ASSERT_TRUE(l.ok()) << l.status();
  AgentProcess& agent = *l->agent;
  auto other = agent.Connect();
  ASSERT_TRUE(other.ok()) << other.status();
  // Long enough that the lease is still out while the later submits are judged.
  auto on_lane = l->client->Start("sleep", "2000");
  ASSERT_TRUE(on_lane.ok()) << on_lane.status();
  // Once the worker has taken it: a revoke that came first would send it to the agent instead.
  ASSERT_NE(agent.WaitForLeasedWorker(absl::Seconds(30), on_lane->id()), 0)
      << "the leased worker never reported the lane job started\n" << agent.Log();
  // One job through the agent fits beside the lease (1 + 1 = 2 would be the quota) ...
  auto queued = (*other)->Start("echo", "queued");
  ASSERT_TRUE(queued.ok()) << queued.status();
  // ... and a third does not, though the agent has seen only one job: the lane job runs on
  // the leased worker, which counts.
  auto over = (*other)->Start("echo", "over");
  ASSERT_TRUE(over.ok()) << over.status();
  auto refused = over->Wait(absl::Seconds(30));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_NE(refused.status().message().find(absl::StrCat("uid ", getuid(), " has 2 live jobs")), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("1 of them workers leased to its sessions"), std::string::npos)
      << refused.status();
  // Both admitted jobs are answered, the lane one without the agent on its path.
  auto lane_answer = on_lane->Wait(absl::Seconds(30));
  ASSERT_TRUE(lane_answer.ok()) << lane_answer.status();
  EXPECT_EQ(lane_answer->view(), "slept 2000ms");
  EXPECT_EQ(on_lane->timings().agent_sent_ns, 0) << "the sleep went up the lane";
  auto queued_answer = queued->Wait(absl::Seconds(30));
  ASSERT_TRUE(queued_answer.ok()) << queued_answer.status();
  EXPECT_EQ(queued_answer->view(), "queued");
  // With nothing live, the uid has room again.
  EXPECT_TRUE(EchoOnce(**other, "after").ok);
  l->client.reset();
  other->reset();
  EXPECT_EQ(agent.WaitForSlabsInUse(0), 0u) << agent.Log();
}

// Echoes `text`, retrying while the uid's quota refuses it; the refusals seen (-1: never answered).
int EchoRetryingRefusals(client::JobClient& c, const std::string& text, std::string* first_refusal) {
  const absl::Time until = absl::Now() + absl::Seconds(10);
  for (int refusals = 0; absl::Now() < until; ++refusals) {
    auto f = c.Start("echo", text);
    if (!f.ok()) return -1;
    auto r = f->Wait(absl::Seconds(30));
    if (r.ok()) return r->view() == text ? refusals : -1;
    if (r.status().code() != absl::StatusCode::kResourceExhausted) return -1;
    if (refusals == 0 && first_refusal != nullptr) *first_refusal = std::string(r.status().message());
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1;
}

TEST(LeaseTest, AUidAtItsQuotaGetsItsIdleLeasesBackAtOnceNotAfterLeaseIdle) {
  // The first session's idle lease fills the uid's quota of 1; --lease_idle would hold it for an hour.
  auto l = StartLeased({"--max-jobs-per-uid=1", "--lease_idle=1h"});
  ASSERT_TRUE(l.ok()) << l.status();
  AgentProcess& agent = *l->agent;
  auto other = agent.Connect();
  ASSERT_TRUE(other.ok()) << other.status();
  std::string refusal;
  const int refusals = EchoRetryingRefusals(**other, "from the other session", &refusal);
  // 0: the idle lease did not count; -1: still refused (or wrong) after 10 s.
  ASSERT_GE(refusals, 1) << "the idle lease counts, is taken back, and a retry fits\n" << agent.Log();
  EXPECT_NE(refusal.find("1 of them is idle and being taken back: retry shortly"), std::string::npos) << refusal;
  // The session that held the lease has none now; its own next job fits the same way.
  EXPECT_GE(EchoRetryingRefusals(*l->client, "from the first session", nullptr), 0) << agent.Log();
  EXPECT_GE(EchoRetryingRefusals(**other, "again", nullptr), 0) << agent.Log();
  l->client.reset();
  other->reset();
  EXPECT_EQ(agent.WaitForSlabsInUse(0), 0u) << agent.Log();
}

TEST(LeaseTest, AWorkerKilledDuringALaneJobEndsItAsWorkerDiedAndIsReplaced) {
  auto l = StartLeased({});
  ASSERT_TRUE(l.ok()) << l.status();
  AgentProcess& agent = *l->agent;
  client::JobClient& session = *l->client;
  const pid_t leased = l->worker;
  auto f = session.Start("sleep", "20000");
  ASSERT_TRUE(f.ok());
  absl::SleepFor(absl::Milliseconds(200));  // the worker has taken it and reported its start
  ASSERT_EQ(kill(leased, SIGKILL), 0);
  auto r = f->Wait(absl::Seconds(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kWorkerDied) << r.status();
  ASSERT_TRUE(agent.WaitForReadyWorkers(1));
  EXPECT_TRUE(EchoOnce(session, "after the death").ok);
  l->client.reset();
  EXPECT_EQ(agent.WaitForSlabsInUse(0), 0u) << agent.Log();
}

TEST(LeaseTest, ALaneJobPastItsDeadlineEndsAndItsWorkerIsStoppedAfterTheGrace) {
  auto l = StartLeased({"--grace=200ms"});
  ASSERT_TRUE(l.ok()) << l.status();
  AgentProcess& agent = *l->agent;
  client::JobClient& session = *l->client;
  const pid_t leased = l->worker;
  client::StartOptions options;
  options.timeout = absl::Milliseconds(300);
  auto f = session.Start("hang", "", options);
  ASSERT_TRUE(f.ok());
  auto r = f->Wait(absl::Seconds(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ(OutcomeOf(r.status()), JobOutcome::kDeadlineExceeded) << r.status();
  // The hung handler ignores its cancel: the worker is killed and another takes its slot.
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (kill(leased, 0) == 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_NE(kill(leased, 0), 0) << "the hung worker is gone";
  ASSERT_TRUE(agent.WaitForReadyWorkers(1));
  EXPECT_TRUE(EchoOnce(session, "after the deadline").ok);
  EXPECT_GE(Outcomes(agent, "hang", "deadline_exceeded"), 1u);
  l->client.reset();
  EXPECT_EQ(agent.WaitForSlabsInUse(0), 0u) << agent.Log();
}

TEST(LeaseTest, AClientKilledHoldingALeaseGivesTheWorkerBack) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const pid_t victim = StartClientVictim((*agent)->socket_path(), "lease");
  ASSERT_NE(victim, 0) << "client_victim never said ready";
  ASSERT_NE((*agent)->WaitForLeasedWorker(), 0) << "the victim holds the only worker";
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  auto other = (*agent)->Connect();
  ASSERT_TRUE(other.ok());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(EchoOnce(**other, absl::StrCat("other ", i)).ok);
  other->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u) << (*agent)->Log();
}

TEST(LeaseTest, AnAgentKilledWithALeaseOutFailsTheJobAsUnavailableAndANewAgentServes) {
  auto l = StartLeased({});
  ASSERT_TRUE(l.ok()) << l.status();
  AgentProcess& agent = *l->agent;
  client::JobClient& session = *l->client;
  auto f = session.Start("sleep", "2000");
  ASSERT_TRUE(f.ok());
  absl::SleepFor(absl::Milliseconds(100));
  agent.Kill();
  auto r = f->Wait(absl::Seconds(30));
  ASSERT_FALSE(r.ok()) << "no answer may come from a pool whose agent is gone";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  ASSERT_TRUE(agent.Restart().ok()) << agent.Log();
  auto again = agent.Connect();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(EchoOnce(**again, "new agent").ok);
}

}  // namespace
}  // namespace jobd::testing
