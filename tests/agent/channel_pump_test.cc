// The pump's thread with a handler the test controls: when it drains, when it sleeps, what
// wakes it, over a real beacon, a real side socket and real eventfds. Nothing is forked.
#include "agent/channel_pump.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>

#include <mutex>
#include "gtest/gtest.h"
#include "shm/fd_passing.h"
#include "tests/fakes/eventually.h"
#include "tests/fakes/temp_dir.h"

namespace jobd::agent {
namespace {

class FakeWork final : public ChannelPump::Handler {
 public:
  bool Drain(bool& backlogged) override {
    ++drains;
    backlogged = backlog.load();
    return pending.exchange(0) > 0;
  }
  bool Waiting() override {
    if (beacon != nullptr) {
      std::lock_guard<std::mutex> lock(mu);
      looks_while_asleep.push_back(beacon->sleeping());
    }
    return pending.load() > 0;
  }
  absl::Time NextDue() override {
    std::lock_guard<std::mutex> lock(mu);
    return due;
  }
  void Due() override {
    ++dues;
    std::lock_guard<std::mutex> lock(mu);
    due = absl::InfiniteFuture();
  }
  void Handshake(SideSocket::Presented presented) override {
    std::lock_guard<std::mutex> lock(mu);
    tokens.push_back(presented.token);
  }

  std::atomic<int> pending{0};  // messages "in the rings"
  std::atomic<bool> backlog{false};
  std::atomic<int> drains{0};
  std::atomic<int> dues{0};
  // std::mutex, not absl::Mutex: Debian's Abseil is not built for TSan, which would not see it.
  std::mutex mu;
  absl::Time due = absl::InfiniteFuture();  // guarded by mu
  std::vector<std::string> tokens;          // guarded by mu
  // When set: for each Waiting(), whether the beacon said asleep then (guarded by mu).
  shm::AgentBeacon* beacon = nullptr;
  std::vector<bool> looks_while_asleep;
};

using testing::Eventually;

class ChannelPumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    beacon_ = *shm::AgentBeacon::Create();
    absl::StatusOr<std::unique_ptr<ChannelPump>> pump = ChannelPump::Create(
        {.spin = absl::Microseconds(50), .side_socket_path = dir_.path() + "/side.sock", .beacon = beacon_.get()});
    ASSERT_TRUE(pump.ok()) << pump.status();
    pump_ = std::move(*pump);
    auto work = std::make_unique<FakeWork>();
    work_ = work.get();
    pump_->Run(std::move(work));
  }
  void TearDown() override { pump_.reset(); }
  // The beacon's word as a peer reads it (its own read-only mapping of the same memory).
  bool Asleep() { return peer_beacon_->sleeping(); }

  testing::TempDir dir_{"jobd-pump-test"};
  std::unique_ptr<shm::AgentBeacon> beacon_;
  std::unique_ptr<ChannelPump> pump_;
  FakeWork* work_ = nullptr;
  std::unique_ptr<shm::AgentBeacon> peer_beacon_;
};

TEST_F(ChannelPumpTest, IdleItSleepsAndSaysSoInTheBeacon) {
  peer_beacon_ = *shm::AgentBeacon::Attach(shm::UniqueFd(dup(beacon_->fd())));
  ASSERT_TRUE(Eventually([&] { return Asleep(); }));
  const int drains = work_->drains.load();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(work_->drains.load(), drains);  // asleep: no polling
  EXPECT_TRUE(Asleep());
}

TEST_F(ChannelPumpTest, AWakeMakesItDrainWhatWaits) {
  peer_beacon_ = *shm::AgentBeacon::Attach(shm::UniqueFd(dup(beacon_->fd())));
  ASSERT_TRUE(Eventually([&] { return Asleep(); }));
  work_->pending.store(1);
  pump_->Wake();
  EXPECT_TRUE(Eventually([&] { return work_->pending.load() == 0; }));
  EXPECT_TRUE(Eventually([&] { return Asleep(); }));  // and back to sleep
}

TEST_F(ChannelPumpTest, APeersEventfdWakesIt) {
  const int peer = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_TRUE(pump_->watch().Add(WakeSet::Tag::kPeer, peer));
  peer_beacon_ = *shm::AgentBeacon::Attach(shm::UniqueFd(dup(beacon_->fd())));
  ASSERT_TRUE(Eventually([&] { return Asleep(); }));
  work_->pending.store(1);
  const uint64_t one = 1;
  ASSERT_EQ(write(peer, &one, sizeof one), 8);
  EXPECT_TRUE(Eventually([&] { return work_->pending.load() == 0; }));
  pump_->watch().Remove(peer);
  close(peer);
}

TEST_F(ChannelPumpTest, DueWorkRunsWhenItsTimeComesWithoutAWake) {
  {
    std::lock_guard<std::mutex> lock(work_->mu);
    work_->due = absl::Now() + absl::Milliseconds(50);
  }
  pump_->Wake();  // it reads NextDue when it next looks
  EXPECT_TRUE(Eventually([&] { return work_->dues.load() == 1; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(work_->dues.load(), 1);  // Due set it back to never
}

TEST_F(ChannelPumpTest, ABacklogIsRetriedWithoutAWake) {
  work_->backlog.store(true);
  pump_->Wake();
  const int drains = work_->drains.load();
  EXPECT_TRUE(Eventually([&] { return work_->drains.load() > drains + 5; }));
  work_->backlog.store(false);
}

TEST_F(ChannelPumpTest, ATokenOnTheSideSocketReachesTheHandler) {
  shm::UniqueFd peer = *shm::ConnectUnix(dir_.path() + "/side.sock");
  const std::string token = "0123456789abcdef";
  ASSERT_TRUE(shm::SendRecord(peer.get(), std::as_bytes(std::span(token)), {}).ok());
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(work_->mu);
    return work_->tokens.size() == 1 && work_->tokens[0] == token;
  }));
}

// The pump's looks (Waiting) from its start until it sleeps: "a" for one made awake, "S" for one
// made after the beacon said asleep.
std::string LooksUntilAsleep(bool one_cpu, absl::Duration spin) {
  testing::TempDir dir("jobd-pump-test");
  std::unique_ptr<shm::AgentBeacon> beacon = *shm::AgentBeacon::Create();
  absl::StatusOr<std::unique_ptr<ChannelPump>> pump = ChannelPump::Create(
      {.spin = spin, .side_socket_path = dir.path() + "/side.sock", .beacon = beacon.get(), .one_cpu = one_cpu});
  EXPECT_TRUE(pump.ok()) << pump.status();
  if (!pump.ok()) return "";
  auto work = std::make_unique<FakeWork>();
  FakeWork* w = work.get();
  w->beacon = beacon.get();
  (*pump)->Run(std::move(work));
  auto looked_asleep = [&] {
    std::lock_guard<std::mutex> lock(w->mu);
    return !w->looks_while_asleep.empty() && w->looks_while_asleep.back();
  };
  EXPECT_TRUE(Eventually(looked_asleep));
  std::lock_guard<std::mutex> lock(w->mu);
  std::string looks;
  for (bool asleep : w->looks_while_asleep) looks += asleep ? "S" : "a";
  return looks;
}

TEST(ChannelPumpOneCpuTest, OnOneCpuItYieldsAndLooksOnceBeforeItSaysItSleeps) {
  EXPECT_EQ(LooksUntilAsleep(/*one_cpu=*/true, absl::Microseconds(50)), "aS") << "one look after a yield, no spin";
}

TEST(ChannelPumpOneCpuTest, WithCpusToSpareItDoesNotYieldBeforeSleeping) {
  EXPECT_EQ(LooksUntilAsleep(/*one_cpu=*/false, absl::ZeroDuration()), "S") << "no spin window, no yield";
}

TEST(ChannelPumpCreateTest, WithoutABeaconItRefusesToStart) {
  EXPECT_EQ(ChannelPump::Create({.side_socket_path = "/tmp/unused"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace jobd::agent
