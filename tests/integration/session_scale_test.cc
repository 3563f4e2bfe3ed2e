// Many sessions on the default settings: each has memory of its own, so one session's queued
// requests can never take the memory another's answers need; and sessions that come and go
// leave nothing behind in the agent (memory, descriptors).
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

size_t OpenFds(pid_t pid) {
  size_t n = 0;
  if (DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// What the agent's descriptors are, by kind ("socket", "anon_inode:[eventfd]", "/memfd:...",
// a path), for a failure to say what is left over.
std::map<std::string, int> FdKinds(pid_t pid) {
  std::map<std::string, int> kinds;
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[512];
      const ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      std::string kind(target, static_cast<size_t>(n));
      if (const size_t open = kind.find(":["); open != std::string::npos && kind.rfind("anon_inode", 0) != 0) {
        kind.resize(open);  // socket:[123] -> socket
      }
      ++kinds[kind];
    }
    closedir(d);
  }
  return kinds;
}

std::string KindsDiff(const std::map<std::string, int>& before, const std::map<std::string, int>& after) {
  std::string out;
  std::map<std::string, int> diff = after;
  for (const auto& [k, n] : before) diff[k] -= n;
  for (const auto& [k, n] : diff) {
    if (n != 0) absl::StrAppend(&out, out.empty() ? "" : ", ", k, " ", n > 0 ? "+" : "", n);
  }
  return out.empty() ? "none" : out;
}

// The agent's descriptor count once it stops moving: a session's connection and segment close a
// little after the session ends (the stream's teardown, the next housekeeping pass), so one
// sample taken right after could count a descriptor on its way out (CI once saw 24 before, 23
// after, with nothing leaked).
size_t SteadyFds(pid_t pid) {
  size_t last = OpenFds(pid);
  for (int same = 0, i = 0; same < 3 && i < 100; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    const size_t now = OpenFds(pid);
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

uint64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      uint64_t kib = 0;
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 6 - 3)), &kib);
      return kib;
    }
  }
  return 0;
}

TEST(SessionScaleTest, ThreeHundredSessionsOfTwentyJobsAreAllAnsweredOnTheDefaults) {
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  constexpr int kSessions = 300, kJobs = 20, kThreads = 6;
  std::vector<std::unique_ptr<client::JobClient>> clients;
  for (int i = 0; i < kSessions; ++i) {
    auto c = (*agent)->Connect();
    ASSERT_TRUE(c.ok()) << "session " << i << ": " << c.status();
    clients.push_back(std::move(*c));
  }
  std::atomic<int> right{0}, wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<std::string, client::JobFuture>> jobs;
      for (int s = t; s < kSessions; s += kThreads) {
        for (int j = 0; j < kJobs; ++j) {
          std::string text = absl::StrCat("session ", s, " job ", j);
          auto f = clients[s]->Start("echo", text, {.timeout = absl::Seconds(120)});
          if (!f.ok()) {
            ++failed;
            continue;
          }
          jobs.emplace_back(std::move(text), std::move(*f));
        }
      }
      for (auto& [text, f] : jobs) {
        auto r = f.Wait();
        if (!r.ok()) {
          ++failed;
        } else if (r->view() == text) {
          ++right;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right.load(), kSessions * kJobs);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  clients.clear();
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0, absl::Seconds(30)), 0u);
}

TEST(SessionScaleTest, AThousandSessionsOpenedAndClosedLeaveTheAgentsMemoryAndDescriptorsAsTheyWere) {
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto one_session = [&] {
    auto c = (*agent)->Connect();
    ASSERT_TRUE(c.ok()) << c.status();
    auto r = (*c)->Start("echo", "hello")->Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->view(), "hello");
  };
  // Warm up: gRPC's thread pool and the allocator's arenas settle in the first sessions.
  for (int i = 0; i < 50; ++i) one_session();
  // Until every session is gone and no worker still holds a lease of one (a leased worker
  // keeps its session's segment mapped until it gives the lease back).
  auto settle = [&] {
    auto busy = [](const v1::StatsReply& s) {
      if (s.sessions() != 0) return true;
      for (const auto& w : s.workers()) {
        if (w.state() == "leased") return true;
      }
      return false;
    };
    auto stats = (*agent)->Stats();
    for (int i = 0; i < 100 && stats.ok() && busy(*stats); ++i) {
      absl::SleepFor(absl::Milliseconds(50));
      stats = (*agent)->Stats();
    }
  };
  settle();
  const size_t fds_before = SteadyFds((*agent)->pid());
  const std::map<std::string, int> kinds_before = FdKinds((*agent)->pid());
  const uint64_t rss_before = RssKiB((*agent)->pid());
  for (int i = 0; i < 1000; ++i) one_session();
  settle();
  const size_t fds_after = SteadyFds((*agent)->pid());
  const uint64_t rss_after = RssKiB((*agent)->pid());
  RecordProperty("rss_before_kib", static_cast<int>(rss_before));
  RecordProperty("rss_after_kib", static_cast<int>(rss_after));
  // Fewer is no leak (a descriptor of the warm-up still on its way out when counted before);
  // a leak of one per session would show as a thousand more. A few more are not one per session:
  // two loaded runs (the suite at -j10 beside two busy loops; a clean clone's beside a build) kept
  // two descriptors more after the thousand sessions than after the first fifty, one of them
  // still ten seconds later.
  EXPECT_LE(fds_after, fds_before + 4) << "descriptors leaked per session; by kind: "
                                       << KindsDiff(kinds_before, FdKinds((*agent)->pid()));
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer holds freed memory in its quarantine (256 MiB by default) to catch uses
  // after free: RSS says nothing about leaks there. Its own leak checker covers the unit tests.
  (void)rss_after;
#else
  // A leak of even 8 KiB per session would show as 8 MiB here.
  EXPECT_LT(rss_after, rss_before + 4096) << "RSS before " << rss_before << " KiB, after " << rss_after << " KiB";
#endif
  EXPECT_EQ((*agent)->WaitForSlabsInUse(0), 0u);
}

}  // namespace
}  // namespace jobd::testing
