// The agent's record of who holds what in each session's segment: a slab a job holds stays the
// job's whatever the session writes into its own state words, and every check names the segment
// and the reason.
#include "agent/segment_ledger.h"

#include <sys/mman.h>

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shm/internal/arena_layout.h"

namespace jobd::agent {
namespace {

using ::testing::HasSubstr;

constexpr shm::OwnerId kSession = 7, kWorker = 9;

class SegmentLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = shm::Segment::Create("ledger-test", {{{4096, 4}, {65536, 2}}, 4096});
    ASSERT_TRUE(s.ok()) << s.status();
    segment_ = std::move(*s);
    ledger_.Add(kSession, segment_);
  }
  shm::Arena& arena() { return *segment_->arena(); }
  // What a client can do to its own words: rewrite any of them.
  void ForgeStateWord(shm::Handle h, uint32_t generation, shm::OwnerId owner) {
    auto* base = static_cast<std::byte*>(
        mmap(nullptr, segment_->bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, segment_->fd(), 0));
    ASSERT_NE(base, MAP_FAILED);
    const uint64_t arena_at = segment_->bytes() - arena().mapped_bytes();
    const uint64_t word = shm::internal::MakeState(generation, owner);
    // Class 0's state words come right after the 64-aligned header.
    const uint64_t at = arena_at + shm::internal::AlignUp(sizeof(shm::internal::ArenaHeader), 64) + 8 * h.index();
    std::memcpy(base + at, &word, 8);
    munmap(base, segment_->bytes());
  }
  std::shared_ptr<shm::Segment> segment_;
  SegmentLedger ledger_;
};

TEST_F(SegmentLedgerTest, ASlabTakenForAJobCannotBeSubmittedAgainEvenAfterItsWordIsRewritten) {
  const shm::Handle h = arena().Allocate(100, kSession)->handle;
  ASSERT_TRUE(ledger_.Check(kSession, h, 100, kSession).ok());
  ASSERT_TRUE(ledger_.Transfer(kSession, h, kSession, shm::kAgentOwner).ok());
  ForgeStateWord(h, h.generation(), kSession);  // "it is mine again"
  const absl::Status again = ledger_.Check(kSession, h, 100, kSession);
  EXPECT_EQ(again.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(again.message()), HasSubstr("held by one of its jobs"));
  // Nor can a worker answer with it.
  ForgeStateWord(h, h.generation(), kWorker);
  EXPECT_EQ(ledger_.Check(kSession, h, 4, kWorker).code(), absl::StatusCode::kPermissionDenied);
  // And the job can always let it go, whatever the word says.
  ForgeStateWord(h, 12345, 42);
  EXPECT_TRUE(ledger_.Free(kSession, h, shm::kAgentOwner).ok());
  EXPECT_EQ(ledger_.Free(kSession, h, shm::kAgentOwner).code(), absl::StatusCode::kFailedPrecondition)
      << "freed once only";
}

TEST_F(SegmentLedgerTest, AWorkersResponseMovesToTheSessionOnlyWhenTheWorkerHoldsIt) {
  const shm::Handle mine = arena().Allocate(10, kWorker)->handle;
  const shm::Handle theirs = arena().Allocate(10, kSession)->handle;
  EXPECT_EQ(ledger_.Check(kSession, theirs, 4, kWorker).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ledger_.Check(kSession, mine, 1 << 20, kWorker).code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(ledger_.Transfer(kSession, mine, kWorker, kSession).ok());
  EXPECT_EQ(*arena().OwnerOf(mine), kSession);
  EXPECT_EQ(ledger_.SlabsOf(kSession), 2u);
}

TEST_F(SegmentLedgerTest, AnUnknownSegmentIsNotFoundAndAWorkerGoneGivesBackWhatItHeld) {
  const shm::Handle h = arena().Allocate(10, kWorker)->handle;
  EXPECT_EQ(ledger_.Check(99, h, 1, kWorker).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger_.ReclaimWorker(kWorker), 1u);
  EXPECT_EQ(ledger_.Occupancy()[0].in_use, 0u);
  ledger_.Remove(kSession);
  EXPECT_EQ(ledger_.size(), 0u);
  EXPECT_EQ(ledger_.Get(kSession), nullptr);
}

}  // namespace
}  // namespace jobd::agent
