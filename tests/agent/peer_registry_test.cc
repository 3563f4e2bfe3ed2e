#include "agent/peer_registry.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace jobd::agent {
namespace {

std::shared_ptr<SessionConn> Session(coordinator::SessionId id, bool attached = true) {
  auto s = std::make_shared<SessionConn>(nullptr, nullptr);
  s->id = id;
  s->attached.store(attached);
  return s;
}

std::shared_ptr<WorkerConn> Worker(coordinator::WorkerId id, bool attached = true) {
  auto w = std::make_shared<WorkerConn>(nullptr, nullptr);
  w->id = id;
  w->attached.store(attached);
  return w;
}

TEST(PeerRegistryTest, FindsWhatWasAddedAndForgetsWhatWasRemoved) {
  PeerRegistry peers;
  peers.AddSession(Session(2));
  peers.AddWorker(Worker(3));
  EXPECT_EQ(peers.SessionCount(), 1u);
  ASSERT_NE(peers.FindSession(2), nullptr);
  EXPECT_EQ(peers.FindSession(2)->id, 2u);
  EXPECT_EQ(peers.FindSession(3), nullptr);  // a worker's id is not a session's
  ASSERT_NE(peers.FindWorker(3), nullptr);
  peers.RemoveSession(2);
  EXPECT_EQ(peers.FindSession(2), nullptr);
  EXPECT_EQ(peers.SessionCount(), 0u);
  EXPECT_TRUE(peers.RemoveWorker(3));
  EXPECT_FALSE(peers.RemoveWorker(3));  // the second end of one worker finds nothing to do
  EXPECT_EQ(peers.FindWorker(3), nullptr);
}

TEST(PeerRegistryTest, AttachedListsOnlyPeersThatHaveTheirSegment) {
  PeerRegistry peers;
  peers.AddSession(Session(2, true));
  peers.AddSession(Session(4, false));
  peers.AddWorker(Worker(3, false));
  peers.AddWorker(Worker(5, true));
  std::vector<std::shared_ptr<SessionConn>> sessions{Session(99)};
  std::vector<std::shared_ptr<WorkerConn>> workers;
  peers.Attached(sessions, workers);
  ASSERT_EQ(sessions.size(), 1u);  // what the vectors held before is gone
  EXPECT_EQ(sessions[0]->id, 2u);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]->id, 5u);
}

TEST(PeerRegistryTest, EpochMovesOnlyWhenBumped) {
  PeerRegistry peers;
  const uint64_t before = peers.epoch();
  peers.AddSession(Session(2));
  EXPECT_EQ(peers.epoch(), before);  // a session counts for the pump once it attaches
  peers.Bump();
  EXPECT_EQ(peers.epoch(), before + 1);
}

TEST(PeerRegistryTest, ATokenIsTakenOnceAndExpires) {
  PeerRegistry peers;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  peers.AddToken("aaaa", PendingPeer{false, 2, t0 + absl::Seconds(10)});
  peers.AddToken("bbbb", PendingPeer{true, 3, t0 + absl::Seconds(5)});
  EXPECT_EQ(peers.NextTokenExpiry(), t0 + absl::Seconds(5));
  std::optional<PendingPeer> a = peers.TakeToken("aaaa");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->worker);
  EXPECT_EQ(a->id, 2u);
  EXPECT_FALSE(peers.TakeToken("aaaa").has_value());  // used
  EXPECT_FALSE(peers.TakeToken("zzzz").has_value());  // never issued
  EXPECT_TRUE(peers.TakeExpiredTokens(t0 + absl::Seconds(5)).empty());  // due at, not past
  std::vector<PendingPeer> expired = peers.TakeExpiredTokens(t0 + absl::Seconds(6));
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_TRUE(expired[0].worker);
  EXPECT_EQ(expired[0].id, 3u);
  EXPECT_FALSE(peers.NextTokenExpiry().has_value());
}

TEST(PeerRegistryTest, RemovingAPeerDropsItsUnusedTokenOnly) {
  PeerRegistry peers;
  const absl::Time until = absl::FromUnixSeconds(1000);
  peers.AddSession(Session(2));
  peers.AddWorker(Worker(2));  // ids are unique in the agent, but the kinds must not mix here
  peers.AddToken("session", PendingPeer{false, 2, until});
  peers.AddToken("worker", PendingPeer{true, 2, until});
  peers.RemoveSession(2);
  EXPECT_FALSE(peers.TakeToken("session").has_value());
  EXPECT_TRUE(peers.TakeToken("worker").has_value());
}

TEST(PeerRegistryTest, LiveJobsPerUidCountAcrossSessionsAndGoDownOncePerEnd) {
  PeerRegistry peers;
  peers.SetUid(2, 1000);
  peers.SetUid(4, 1000);
  peers.SetUid(6, 2000);
  peers.JobAccepted(1000);
  peers.JobAccepted(1000);
  peers.JobAccepted(2000);
  EXPECT_EQ(peers.LiveJobsOfUid(1000), 2u);
  peers.JobEnded(4);  // another session of the same uid
  EXPECT_EQ(peers.LiveJobsOfUid(1000), 1u);
  peers.JobEnded(2);
  peers.JobEnded(2);  // more ends than jobs never goes below zero
  EXPECT_EQ(peers.LiveJobsOfUid(1000), 0u);
  EXPECT_EQ(peers.LiveJobsOfUid(2000), 1u);
  peers.JobEnded(99);  // a session whose uid was never known
  EXPECT_EQ(peers.LiveJobsOfUid(2000), 1u);
}

TEST(PeerRegistryTest, ALingeringSegmentGoesOnlyWithoutLiveJobsOrALease) {
  PeerRegistry peers;
  auto worker = Worker(3);
  peers.AddWorker(worker);
  peers.SetUid(2, 1000);
  peers.SetUid(4, 1000);
  peers.Linger(2);
  peers.Linger(4);
  EXPECT_TRUE(peers.HasLingering());
  size_t live_of_2 = 1;
  auto live = [&](coordinator::SessionId id) -> size_t { return id == 2 ? live_of_2 : 0; };
  worker->leased_to.store(4);
  EXPECT_TRUE(peers.TakeReleasable(live).empty());  // 2 has a live job; 4 a leased worker
  live_of_2 = 0;
  EXPECT_EQ(peers.TakeReleasable(live), std::vector<coordinator::SessionId>{2});
  EXPECT_TRUE(peers.TakeReleasable(live).empty());  // released once
  worker->leased_to.store(0);
  EXPECT_EQ(peers.TakeReleasable(live), std::vector<coordinator::SessionId>{4});
  EXPECT_FALSE(peers.HasLingering());
  // Their uid is forgotten with them: a late end changes nothing.
  peers.JobAccepted(1000);
  peers.JobEnded(2);
  EXPECT_EQ(peers.LiveJobsOfUid(1000), 1u);
}

TEST(PeerRegistryTest, LeasesAreCountedForTheUidOfTheSessionHoldingThem) {
  PeerRegistry peers;
  peers.SetUid(2, 1000);
  peers.SetUid(4, 1000);
  peers.SetUid(6, 2000);
  auto a = Worker(3);
  auto b = Worker(5);
  auto c = Worker(7);
  peers.AddWorker(a);
  peers.AddWorker(b);
  peers.AddWorker(c);
  EXPECT_EQ(peers.LeasesOfUid(1000), 0u);
  a->leased_to.store(2);
  b->leased_to.store(4);  // another session of the same uid
  c->leased_to.store(6);
  EXPECT_EQ(peers.LeasesOfUid(1000), 2u);
  EXPECT_EQ(peers.LeasesOfUid(2000), 1u);
  std::vector<std::shared_ptr<WorkerConn>> of_1000 = peers.LeasedWorkersOfUid(1000);
  ASSERT_EQ(of_1000.size(), 2u);
  EXPECT_NE(std::find(of_1000.begin(), of_1000.end(), a), of_1000.end());
  EXPECT_NE(std::find(of_1000.begin(), of_1000.end(), b), of_1000.end());
  EXPECT_EQ(peers.LeasedWorkersOfUid(2000), std::vector<std::shared_ptr<WorkerConn>>{c});
  EXPECT_EQ(peers.LiveJobsOfUid(1000), 0u) << "a lease is not an accepted job";
  b->leased_to.store(0);
  EXPECT_EQ(peers.LeasesOfUid(1000), 1u);
  c->leased_to.store(8);  // a session whose uid is not known
  EXPECT_EQ(peers.LeasesOfUid(2000), 0u);
  EXPECT_TRUE(peers.LeasedWorkersOfUid(2000).empty());
}

TEST(PeerRegistryTest, LeasedWorkersAreFoundBySession) {
  PeerRegistry peers;
  auto a = Worker(3);
  auto b = Worker(5);
  peers.AddWorker(a);
  peers.AddWorker(b);
  EXPECT_TRUE(peers.LeasedWorkers().empty());
  EXPECT_EQ(peers.WorkerLeasedTo(2), nullptr);
  b->leased_to.store(2);
  ASSERT_EQ(peers.LeasedWorkers().size(), 1u);
  EXPECT_EQ(peers.LeasedWorkers()[0]->id, 5u);
  EXPECT_EQ(peers.WorkerLeasedTo(2), b);
  EXPECT_EQ(peers.Workers().size(), 2u);
}

}  // namespace
}  // namespace jobd::agent
