// The side socket over a real Unix socket in a temporary directory: what a peer sends, whole or
// in pieces or not at all, and what the agent's side makes of it.
#include "agent/side_socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "shm/fd_passing.h"
#include "tests/fakes/temp_dir.h"

namespace jobd::agent {
namespace {

class SideSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    watch_ = *WakeSet::Create();
    absl::StatusOr<std::unique_ptr<SideSocket>> side =
        SideSocket::Listen(path(), static_cast<gid_t>(-1), *watch_);
    ASSERT_TRUE(side.ok()) << side.status();
    side_ = std::move(*side);
  }
  void TearDown() override { side_.reset(); }
  std::string path() const { return dir_.path() + "/side.sock"; }

  // One round of the pump: what the watch says, handed to the side socket.
  std::optional<SideSocket::Presented> Pump(absl::Time now = absl::Now()) {
    std::optional<SideSocket::Presented> out;
    for (const WakeSet::Event& e : watch_->Wait(100)) {
      if (e.tag == WakeSet::Tag::kListen) side_->Accept(now);
      if (e.tag == WakeSet::Tag::kHandshake) {
        if (auto p = side_->Read(e.fd)) out = std::move(p);
      }
    }
    return out;
  }

  testing::TempDir dir_{"jobd-side-test"};
  std::unique_ptr<WakeSet> watch_;
  std::unique_ptr<SideSocket> side_;
};

const std::string kToken = "0123456789abcdef";

TEST_F(SideSocketTest, AWholeTokenIsPresentedWithItsConnection) {
  EXPECT_EQ(std::filesystem::status(path()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read | std::filesystem::perms::group_write);
  shm::UniqueFd peer = *shm::ConnectUnix(path());
  ASSERT_TRUE(shm::SendRecord(peer.get(), std::as_bytes(std::span(kToken)), {}).ok());
  std::optional<SideSocket::Presented> got;
  for (int i = 0; i < 5 && !got.has_value(); ++i) got = Pump();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->token, kToken);
  EXPECT_FALSE(side_->busy());
  // The connection is the caller's: what it writes reaches the peer.
  ASSERT_EQ(write(got->conn.get(), "ok", 2), 2);
  char buf[2];
  ASSERT_EQ(read(peer.get(), buf, 2), 2);
}

TEST_F(SideSocketTest, ATokenInPiecesWaitsForTheRest) {
  shm::UniqueFd peer = *shm::ConnectUnix(path());
  std::string frame(1, static_cast<char>(kToken.size() - 1));
  frame += kToken;
  ASSERT_EQ(write(peer.get(), frame.data(), 5), 5);
  std::optional<SideSocket::Presented> got;
  for (int i = 0; i < 3 && !got.has_value(); ++i) got = Pump();
  EXPECT_FALSE(got.has_value());
  EXPECT_TRUE(side_->busy());
  ASSERT_EQ(write(peer.get(), frame.data() + 5, frame.size() - 5), static_cast<ssize_t>(frame.size() - 5));
  for (int i = 0; i < 3 && !got.has_value(); ++i) got = Pump();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->token, kToken);
}

TEST_F(SideSocketTest, APeerThatLeavesHalfwayIsDroppedAndOneThatStallsExpires) {
  shm::UniqueFd leaves = *shm::ConnectUnix(path());
  shm::UniqueFd stalls = *shm::ConnectUnix(path());
  ASSERT_EQ(write(leaves.get(), "\x0f" "0123", 5), 5);
  ASSERT_EQ(write(stalls.get(), "\x0f" "0123", 5), 5);
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Pump(t0).has_value());
  EXPECT_EQ(side_->in_progress(), 2u);
  leaves.Reset(-1);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Pump(t0).has_value());
  EXPECT_EQ(side_->in_progress(), 1u);  // the one that left is dropped; the one that stalls waits
  side_->Expire(t0 + SideSocket::kMaxAge);
  EXPECT_EQ(side_->in_progress(), 1u);  // not yet past its age
  side_->Expire(t0 + SideSocket::kMaxAge + absl::Milliseconds(1));
  EXPECT_EQ(side_->in_progress(), 0u);
  char c;
  EXPECT_EQ(read(stalls.get(), &c, 1), 0);  // its connection was closed
}

TEST_F(SideSocketTest, AFloodOfHalfOpenConnectionsIsBounded) {
  std::vector<shm::UniqueFd> peers;
  // In rounds below the listen backlog, so that no connect waits for an accept.
  for (size_t i = 0; i < SideSocket::kMaxHandshakes + 10; ++i) {
    peers.push_back(*shm::ConnectUnix(path()));
    if (i % 100 == 99) Pump();
  }
  Pump();
  // Past the bound, connections are closed at once: their peers read the end.
  size_t closed = 0;
  for (auto& p : peers) {
    char c;
    closed += recv(p.get(), &c, 1, MSG_DONTWAIT) == 0;
  }
  EXPECT_EQ(closed, 10u);
}

}  // namespace
}  // namespace jobd::agent
