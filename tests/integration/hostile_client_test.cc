// No peer can hurt another or the agent: a hostile client process, under another uid in the
// socket's group, attacks everything it can reach (tests/integration/hostile_client.cc) while
// victim sessions run echo jobs. Every victim answer must be right, the agent must stay up, the
// hostile process must find no other session's memory, and no slab may leak.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// jobd with two workers whose run dir the group nogroup may enter (when we are root), as an
// operator sets it up for clients under other uids.
absl::StatusOr<std::unique_ptr<AgentProcess>> StartSharedWithNogroup(std::vector<std::string> extra) {
  struct group* g = getgrnam("nogroup");
  if (g == nullptr) return absl::NotFoundError("no group nogroup");
  extra.push_back("--socket-group=nogroup");
  auto agent = AgentProcess::Start({.workers = 2, .extra = std::move(extra)});
  if (!agent.ok() || geteuid() != 0) return agent;
  if (chown((*agent)->run_dir().c_str(), 0, g->gr_gid) != 0 || chmod((*agent)->run_dir().c_str(), 0750) != 0) {
    return absl::InternalError("cannot hand the run dir to nogroup");
  }
  return agent;
}

// hostile_client for `seconds`, as nobody in nogroup when we are root (else as ourselves).
std::vector<std::string> HostileArgv(const AgentProcess& agent, int seconds) {
  std::vector<std::string> argv = {BinDir() + "/hostile_client", agent.socket_path(), std::to_string(seconds)};
  struct group* g = getgrnam("nogroup");
  struct passwd* nobody = getpwnam("nobody");
  if (geteuid() == 0 && g != nullptr && nobody != nullptr) {
    argv.push_back(std::to_string(nobody->pw_uid));
    argv.push_back(std::to_string(g->gr_gid));
  }
  return argv;
}

TEST(HostileClientTest, AnotherUidScribblingOnEverythingItCanMapChangesNoVictimsAnswer) {
  auto agent = StartSharedWithNogroup({"--peer-backlog=16K"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const pid_t agent_pid = (*agent)->pid();
  const std::vector<std::string> argv = HostileArgv(**agent, 6);
  if (geteuid() == 0) {
    ASSERT_EQ(argv.size(), 5u) << "the attack runs as nobody in nogroup";
  }
  ProgramResult hostile;
  std::thread attacker([&] { hostile = RunProgram(argv); });

  // Victims: three sessions, each job's answer checked against its own request.
  std::atomic<int> right{0}, wrong{0}, failed{0};
  std::vector<std::thread> victims;
  for (int v = 0; v < 3; ++v) {
    victims.emplace_back([&, v] {
      auto client = (*agent)->Connect();
      if (!client.ok()) {
        failed += 300;
        return;
      }
      for (int i = 0; i < 300; ++i) {
        const std::string text = absl::StrCat("victim ", v, " job ", i, " ", std::string(i % 50, 'v'));
        auto r = (*client)->Start("echo", text)->Wait(absl::Seconds(60));
        if (!r.ok()) {
          ++failed;
          ADD_FAILURE() << "victim " << v << " job " << i << ": " << r.status();
          continue;
        }
        if (r->view() == text) ++right; else ++wrong;
      }
    });
  }
  for (auto& t : victims) t.join();
  attacker.join();

  EXPECT_EQ(right.load(), 900);
  EXPECT_EQ(wrong.load(), 0) << "a victim got someone else's bytes";
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(hostile.exit_code, 0) << hostile.out;
  EXPECT_THAT(hostile.out, HasSubstr("found 0\n")) << "the hostile client opened another session's memory";
  EXPECT_EQ(kill(agent_pid, 0), 0) << "jobd is still running";
  EXPECT_EQ((*agent)->pid(), agent_pid);
  // The hostile sessions are gone: their memory with them.
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0, absl::Seconds(30)), 0u);
  const std::string log = (*agent)->Log();
  auto has = [&](const std::string& words) { return log.find(words) != std::string::npos; };
  EXPECT_TRUE(has("cut off")) << "the session that never read was cut off";
  EXPECT_TRUE(has("more bytes)")) << "the 16 KB job type was logged capped";
  EXPECT_TRUE(has("retry.backoff_ms 4294967295: allowed 0 to 600000")) << "the absurd backoff was refused";
  EXPECT_TRUE(has("held by one of its jobs") || has("is free") || has("stale")) << "the same slab twice was refused";
  EXPECT_LT(log.size(), 8u << 20) << "bad input must not cost megabytes of log";
  EXPECT_FALSE(has(std::string(2000, 'T'))) << "a job type quoted in full";
  // Still serving, with the same memory every session gets.
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Start("echo", "after the attack")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "after the attack");
}

// Leases: another uid's session takes a worker's lease and feeds its own lane garbage, while a
// victim session, holding the other worker's lease, sends a job every few milliseconds.
TEST(HostileClientTest, ASessionFeedingItsLaneGarbageHurtsOnlyItself) {
  auto agent = StartSharedWithNogroup({});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const pid_t agent_pid = (*agent)->pid();
  const std::vector<std::string> argv = HostileArgv(**agent, 4);
  if (geteuid() == 0) {
    ASSERT_EQ(argv.size(), 5u) << "the attack runs as nobody in nogroup";
  }
  ProgramResult hostile;
  std::thread attacker([&] { hostile = RunProgram(argv, {"HOSTILE_LANES=1"}); });
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  int right = 0, wrong = 0, direct = 0;
  for (int i = 0; i < 600; ++i) {
    const std::string text = absl::StrCat("victim job ", i, " ", std::string(i % 70, 'v'));
    auto f = (*client)->Start("echo", text);
    ASSERT_TRUE(f.ok()) << f.status();
    auto r = f->Wait(absl::Seconds(60));
    if (!r.ok()) {
      ADD_FAILURE() << "job " << i << ": " << r.status();
      continue;
    }
    if (r->view() == text) ++right; else ++wrong;
    direct += f->timings().agent_received_ns == 0;
    absl::SleepFor(absl::Milliseconds(5));
  }
  attacker.join();
  EXPECT_EQ(right, 600);
  EXPECT_EQ(wrong, 0) << "the victim got someone else's bytes";
  EXPECT_GT(direct, 0) << "the victim's jobs took its own lane too";
  EXPECT_EQ(hostile.exit_code, 0) << hostile.out;
  EXPECT_THAT(hostile.out, Not(HasSubstr("lanes 0\n"))) << "the attacker never got a lease: " << hostile.out;
  EXPECT_EQ(kill(agent_pid, 0), 0) << "jobd is still running";
  client->reset();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0, absl::Seconds(30)), 0u) << (*agent)->Log();
  auto after = (*agent)->Connect();
  ASSERT_TRUE(after.ok());
  auto r = (*after)->Start("echo", "after the lane attack")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "after the lane attack");
}

}  // namespace
}  // namespace jobd::testing
