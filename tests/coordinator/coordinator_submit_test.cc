// Submit: every refusal has its exact code and key words and changes nothing; limits and
// quotas; the request and shared piece move to the agent only when the job is accepted.
#include <functional>

#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::HasSubstr;

struct BadSubmit {
  std::string name;
  std::function<void(JobRequest&)> mutate;
  absl::StatusCode code;
  std::string words;
};

TEST_F(CoordinatorTest, EveryBadSubmitGetsAClearErrorAndChangesNothing) {
  AddWorker(kW1, {"echo"});
  Submit(Req(100));  // occupies the worker
  Submit(Req(101));  // queued
  const shm::Handle first = ledger_.Allocate(kS);
  ledger_.Free(first, kS).IgnoreError();
  const shm::Handle reused = ledger_.Allocate(kS);  // the same slot, a newer generation
  ASSERT_EQ(reused.index(), first.index());
  const shm::Handle old_generation = shm::Handle::Make(reused.size_class(), reused.index(), reused.generation() - 1);
  const shm::Handle foreign = ledger_.Allocate(kS2);
  const std::vector<BadSubmit> cases = {
      {"unknown session", [](JobRequest& r) { r.session = 99; }, absl::StatusCode::kFailedPrecondition,
       "session 99 is not open"},
      {"empty type", [](JobRequest& r) { r.type = ""; }, absl::StatusCode::kInvalidArgument, "empty"},
      {"long type", [](JobRequest& r) { r.type = std::string(129, 'x'); }, absl::StatusCode::kInvalidArgument,
       "longer than the 128 allowed"},
      {"space in type", [](JobRequest& r) { r.type = "a b"; }, absl::StatusCode::kInvalidArgument, "printable"},
      {"control byte in type", [](JobRequest& r) { r.type = "echo\x01"; }, absl::StatusCode::kInvalidArgument,
       "printable"},
      {"negative timeout", [](JobRequest& r) { r.timeout = absl::Seconds(-1); }, absl::StatusCode::kInvalidArgument,
       "negative"},
      {"timeout over the maximum", [](JobRequest& r) { r.timeout = absl::Hours(24) + absl::Seconds(1); },
       absl::StatusCode::kInvalidArgument, "exceeds the maximum of 24h"},
      {"big context", [](JobRequest& r) { r.context["k"] = std::string(4096, 'v'); },
       absl::StatusCode::kInvalidArgument, "context of 4097 bytes exceeds the 4096 allowed"},
      {"zero attempts", [](JobRequest& r) { r.retry.max_attempts = 0; }, absl::StatusCode::kInvalidArgument,
       "max_attempts 0 is out of range 1..10"},
      {"too many attempts", [](JobRequest& r) { r.retry.max_attempts = 11; }, absl::StatusCode::kInvalidArgument,
       "max_attempts 11"},
      {"negative backoff", [](JobRequest& r) { r.retry.backoff = absl::Seconds(-1); },
       absl::StatusCode::kInvalidArgument, "backoff"},
      {"unknown priority", [](JobRequest& r) { r.priority = static_cast<Priority>(7); },
       absl::StatusCode::kInvalidArgument, "priority 7"},
      {"unknown policy", [](JobRequest& r) { r.policy = static_cast<Policy>(7); },
       absl::StatusCode::kInvalidArgument, "policy 7"},
      {"NoReply with shared", [this](JobRequest& r) {
         r.policy = Policy::kNoReply;
         r.shared = {ledger_.Allocate(kS), 10};
       }, absl::StatusCode::kInvalidArgument, "cannot share"},
      {"duplicate id", [](JobRequest& r) { r.id = 101; }, absl::StatusCode::kAlreadyExists,
       "job id 101 is already live"},
      {"unknown type", [](JobRequest& r) { r.type = "resize"; }, absl::StatusCode::kNotFound,
       "no worker handles job type 'resize' (known: echo)"},
      {"another session's slab", [&](JobRequest& r) { r.request.handle = foreign; },
       absl::StatusCode::kPermissionDenied, "held by owner 11"},
      {"freed slab", [this](JobRequest& r) {
         r.request.handle = ledger_.Allocate(kS);
         ledger_.Free(r.request.handle, kS).IgnoreError();
       }, absl::StatusCode::kFailedPrecondition, "is free"},
      {"old generation", [&](JobRequest& r) { r.request.handle = old_generation; },
       absl::StatusCode::kFailedPrecondition, "stale handle"},
      {"handle out of range", [](JobRequest& r) { r.request.handle = shm::Handle::Make(3, 9999, 1); },
       absl::StatusCode::kInvalidArgument, "out of range"},
      {"size beyond slab", [](JobRequest& r) { r.request.size = 4097; }, absl::StatusCode::kOutOfRange,
       "size 4097 exceeds"},
      {"size without slab", [](JobRequest& r) { r.request = {shm::Handle(), 10}; },
       absl::StatusCode::kInvalidArgument, "no slab"},
      {"shared piece of another session", [&](JobRequest& r) { r.shared = {foreign, 10}; },
       absl::StatusCode::kPermissionDenied, "shared piece: "},
      {"shared size without slab", [](JobRequest& r) { r.shared = {shm::Handle(), 10}; },
       absl::StatusCode::kInvalidArgument, "shared size without a shared slab"},
  };
  for (const BadSubmit& b : cases) {
    JobRequest r = Req(1);
    b.mutate(r);
    const World before = Snapshot();
    auto fx = c_->Submit(std::move(r));
    ASSERT_FALSE(fx.ok()) << b.name;
    EXPECT_EQ(fx.status().code(), b.code) << b.name << ": " << fx.status();
    EXPECT_THAT(Message(fx.status()), HasSubstr(b.words)) << b.name;
    EXPECT_EQ(Snapshot(), before) << b.name << ": slab owners, queue, jobs and workers must not change";
    EXPECT_EQ(c_->Stats().at("echo").submitted, 2u) << b.name;
  }
}

TEST_F(CoordinatorTest, LimitsAtTheirEdgeAreAccepted) {
  AddWorker(kW1, {std::string(128, 't')});
  JobRequest r = Req(1, std::string(128, 't'), kS, absl::Hours(24));
  r.context["k"] = std::string(4095, 'v');
  r.retry.max_attempts = 10;
  EXPECT_EQ(Submit(std::move(r)).dispatches.size(), 1u);
}

TEST_F(CoordinatorTest, FullQueueIsResourceExhaustedNamingTheLimitAndChangesNothing) {
  CoordinatorOptions o;
  o.max_queue = 3;
  Make(o);
  Submit(Req(1));
  Submit(Req(2, "echo", kS2));
  Submit(Req(3));
  JobRequest r = Req(4, "echo", kS2);
  const shm::Handle request = r.request.handle;
  const World before = Snapshot();
  auto full = c_->Submit(std::move(r));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(full.status()), "queue full: 3 jobs queued (--max_queue=3)");
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(ledger_.OwnerOf(request), kS2);
  AddWorker(kW1);
  EXPECT_TRUE(c_->Submit(Req(5)).ok()) << "a running job does not count against the queue";
}

TEST_F(CoordinatorTest, SessionQuotaIsResourceExhaustedForThatSessionOnly) {
  CoordinatorOptions o;
  o.max_queued_per_session = 2;
  Make(o);
  Submit(Req(1));
  Submit(Req(2));
  const World before = Snapshot();
  auto quota = c_->Submit(Req(3));
  ASSERT_FALSE(quota.ok());
  EXPECT_EQ(quota.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(quota.status()), HasSubstr("2 jobs queued by this session"));
  EXPECT_THAT(Message(quota.status()), HasSubstr("max_queued_per_session=2"));
  ledger_.ReclaimOwner(kS);  // the refused request's slab; the queued ones are the agent's now
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 2u);
  EXPECT_EQ(c_->QueueDepth(), before.queue_depth);
  EXPECT_TRUE(c_->Submit(Req(4, "echo", kS2)).ok()) << "another session has its own quota";
  AddWorker(kW1);  // takes job 1: the session has one queued job again
  EXPECT_TRUE(c_->Submit(Req(5)).ok()) << "the quota counts queued jobs, not running ones";
}

TEST_F(CoordinatorTest, FailedTransferReturnsItsErrorAndChangesNothing) {
  JobRequest r = Req(1);
  const shm::Handle request = r.request.handle;
  const World before = Snapshot();
  ledger_.FailNextTransfer(absl::FailedPreconditionError("slab 0/0 is free (reclaimed)"));
  auto fx = c_->Submit(std::move(r));
  ASSERT_FALSE(fx.ok());
  EXPECT_EQ(fx.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(fx.status()), HasSubstr("request slab: slab 0/0 is free"));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(ledger_.OwnerOf(request), kS);
  EXPECT_EQ(c_->LiveJobs(), 0u);
  EXPECT_EQ(c_->Status(1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, FailedTransferOfTheSharedPieceGivesTheRequestBack) {
  JobRequest r = Req(1);
  r.shared = {ledger_.Allocate(kS), 10};
  const World before = Snapshot();
  // The request's transfer succeeds; the piece's fails.
  struct FailSecond final : SlabLedger {
    testing::FakeSlabLedger& inner;
    int transfers = 0;
    explicit FailSecond(testing::FakeSlabLedger& l) : inner(l) {}
    absl::Status Transfer(shm::OwnerId, shm::Handle h, shm::OwnerId from, shm::OwnerId to) override {
      if (++transfers == 2) return absl::FailedPreconditionError("reclaimed");
      return inner.Transfer(h, from, to);
    }
    absl::Status Free(shm::OwnerId, shm::Handle h, shm::OwnerId owner) override { return inner.Free(h, owner); }
    absl::Status Check(shm::OwnerId, shm::Handle h, uint64_t size, shm::OwnerId owner) const override {
      return inner.Check(h, size, owner);
    }
  } flaky(ledger_);
  Coordinator c(CoordinatorOptions{}, clock_, flaky);
  c.OpenSession(kS);
  auto fx = c.Submit(std::move(r));
  ASSERT_FALSE(fx.ok());
  EXPECT_THAT(Message(fx.status()), HasSubstr("shared piece: reclaimed"));
  EXPECT_EQ(ledger_.LiveSlabList(), before.slabs);
  EXPECT_EQ(c.LiveJobs(), 0u);
}

TEST_F(CoordinatorTest, SharedPieceIsHeldOnceAndGoesBackToItsSessionWithTheLastJob) {
  AddWorker(kW1);
  const shm::Handle piece = ledger_.Allocate(kS, 1 << 20);
  for (JobId id = 1; id <= 3; ++id) {
    JobRequest r = Req(id);
    r.shared = {piece, 1000};
    Effects fx = Submit(std::move(r));
    if (!fx.dispatches.empty()) {
      EXPECT_EQ(fx.dispatches[0].shared.handle, piece);
    }
  }
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kAgentOwner);
  JobRequest bigger = Req(4);
  bigger.shared = {piece, (1 << 20) + 1};
  EXPECT_EQ(c_->Submit(std::move(bigger)).status().code(), absl::StatusCode::kOutOfRange);
  JobRequest stranger = Req(5, "echo", kS2);
  stranger.shared = {piece, 10};
  EXPECT_EQ(c_->Submit(std::move(stranger)).status().code(), absl::StatusCode::kPermissionDenied)
      << "another session cannot borrow the piece";
  Finish(kW1, 1);
  Finish(kW1, 2);
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kAgentOwner) << "job 3 still reads it";
  Finish(kW1, 3);
  EXPECT_EQ(ledger_.OwnerOf(piece), kS) << "back with its session, which frees it when the batch has answered";
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u);
}

// A fast job can end before the agent reads the next submit of its batch: the late one must
// still find the piece (it is the session's again) rather than a freed slab.
TEST_F(CoordinatorTest, ALateJobOfABatchStillFindsThePieceAfterTheFirstHasEnded) {
  AddWorker(kW1);
  const shm::Handle piece = ledger_.Allocate(kS, 1 << 20);
  JobRequest first = Req(1);
  first.shared = {piece, 1000};
  Submit(std::move(first));
  Finish(kW1, 1);
  JobRequest late = Req(2);
  late.shared = {piece, 1000};
  Effects fx = Submit(std::move(late));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].shared.handle, piece);
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kAgentOwner);
  Finish(kW1, 2);
  EXPECT_EQ(ledger_.OwnerOf(piece), kS);
}

TEST_F(CoordinatorTest, APieceWhoseSessionClosedIsFreedWithItsLastJob) {
  AddWorker(kW1);
  const shm::Handle piece = ledger_.Allocate(kS, 1 << 20);
  JobRequest r = Req(1, Policy::kSimple);
  r.shared = {piece, 1000};
  Submit(std::move(r));
  (void)c_->CloseSession(kS);
  Finish(kW1, 1);
  EXPECT_EQ(ledger_.OwnerOf(piece), shm::kNoOwner) << "nobody is left to give it back to";
}


}  // namespace
}  // namespace jobd::coordinator
