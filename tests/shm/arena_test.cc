#include "shm/arena.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shm/internal/arena_layout.h"
#include "tests/shm/arena_test_util.h"

namespace jobd::shm {
namespace {

using ::testing::HasSubstr;
using testing::TempArenaPath;

constexpr OwnerId kA = 7, kB = 9;

class ArenaTest : public ::testing::Test {
 protected:
  std::unique_ptr<Arena> Make(std::vector<SizeClass> classes = {{4096, 4}, {65536, 2}, {1 << 20, 1}},
                              mode_t mode = 0600) {
    auto a = Arena::Create({path_.path(), std::move(classes), mode});
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? std::move(*a) : nullptr;
  }
  void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& words) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(words));
  }
  TempArenaPath path_;
};

TEST(HandleTest, PacksClassIndexAndGenerationIntoSixtyFourBits) {
  const Handle h = Handle::Make(3, 0xABCDEF, 0x12345678);
  EXPECT_EQ(h.size_class(), 3u);
  EXPECT_EQ(h.index(), 0xABCDEFu);
  EXPECT_EQ(h.generation(), 0x12345678u);
  EXPECT_EQ(Handle::FromBits(h.bits()), h);
  EXPECT_TRUE(Handle().is_null());
  EXPECT_FALSE(h.is_null());
}

TEST_F(ArenaTest, AttachSeesTheSameClassesAndTheSameBytes) {
  auto a = Make();
  auto b = Arena::Attach(path_.path());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->classes(), a->classes());
  auto slab = a->Allocate(5, kA);
  ASSERT_TRUE(slab.ok());
  std::memcpy(slab->data.data(), "hello", 5);
  auto view = (*b)->Resolve(slab->handle, 5, kA);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(view->data()), 5), "hello");
  EXPECT_EQ((*b)->OwnerOf(slab->handle).value(), kA);
}

TEST_F(ArenaTest, FileModeIsOwnerOnlyByDefaultAndGroupReadableOnRequest) {
  Make();
  struct stat st;
  ASSERT_EQ(stat(path_.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Make({{4096, 1}}, 0640);
  ASSERT_EQ(stat(path_.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(ArenaTest, AttachRefusesAFileThatIsNotAnArena) {
  { std::ofstream(path_.path()) << std::string(8192, 'x'); }
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "not a jobd arena");
  { std::ofstream(path_.path()) << "short"; }
  a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "shorter than");
}

TEST_F(ArenaTest, AttachRefusesAnotherLayoutVersion) {
  Make();
  const int fd = open(path_.path().c_str(), O_RDWR);
  const uint32_t other = internal::kLayoutVersion + 1;
  ASSERT_EQ(pwrite(fd, &other, sizeof other, offsetof(internal::ArenaHeader, layout_version)), 4);
  close(fd);
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "layout version 2");
}

TEST_F(ArenaTest, AttachRefusesATruncatedFile) {
  auto a = Make();
  ASSERT_EQ(truncate(path_.path().c_str(), static_cast<off_t>(a->mapped_bytes() / 2)), 0);
  auto b = Arena::Attach(path_.path());
  ASSERT_FALSE(b.ok());
  ExpectError(b.status(), absl::StatusCode::kFailedPrecondition, "truncated");
}

TEST_F(ArenaTest, AttachToAMissingFileIsNotFound) {
  auto a = Arena::Attach(path_.path() + ".missing");
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kNotFound, "no arena at");
}

TEST_F(ArenaTest, CreateRefusesBadClasses) {
  auto a = Arena::Create({path_.path(), {{100, 1}}, 0600});
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kInvalidArgument, "multiple of 64");
  a = Arena::Create({path_.path(), {}, 0600});
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kInvalidArgument, "at least one");
}

TEST_F(ArenaTest, AllocatePicksTheSmallestClassThatFits) {
  auto a = Make();
  auto small = a->Allocate(8, kA);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->size_class, 0u);
  EXPECT_EQ(small->data.size(), 4096u);
  EXPECT_FALSE(small->fell_back);
  auto mid = a->Allocate(4097, kA);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->size_class, 1u);
  auto zero = a->Allocate(0, kA);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->size_class, 0u);
}

TEST_F(ArenaTest, FullClassFallsBackToALargerOneAndSaysSo) {
  auto a = Make({{4096, 1}, {65536, 1}});
  ASSERT_TRUE(a->Allocate(10, kA).ok());
  auto second = a->Allocate(10, kA);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->size_class, 1u);
  EXPECT_TRUE(second->fell_back);
}

TEST_F(ArenaTest, ExhaustionIsResourceExhaustedAndCountedOnTheSmallestFittingClass) {
  auto a = Make({{4096, 1}, {65536, 1}});
  ASSERT_TRUE(a->Allocate(10, kA).ok());
  ASSERT_TRUE(a->Allocate(10, kA).ok());
  auto third = a->Allocate(10, kA);
  ASSERT_FALSE(third.ok());
  ExpectError(third.status(), absl::StatusCode::kResourceExhausted, "arena full");
  auto occ = a->Occupancy();
  EXPECT_EQ(occ[0].acquire_failures, 1u);
  EXPECT_EQ(occ[1].acquire_failures, 0u);
}

TEST_F(ArenaTest, OversizedPayloadNamesBothSizes) {
  auto a = Make();
  auto big = a->Allocate((1 << 20) + 1, kA);
  ASSERT_FALSE(big.ok());
  ExpectError(big.status(), absl::StatusCode::kInvalidArgument, "1048577 bytes");
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("1048576 bytes"));
}

TEST_F(ArenaTest, OwnerZeroCannotAllocate) {
  auto a = Make();
  ExpectError(a->Allocate(1, kNoOwner).status(), absl::StatusCode::kInvalidArgument, "owner 0");
}

TEST_F(ArenaTest, FreeChecksEveryPartOfTheHandle) {
  auto a = Make();
  auto s = a->Allocate(10, kA);
  ASSERT_TRUE(s.ok());
  const Handle h = s->handle;
  ExpectError(a->Free(Handle(), kA), absl::StatusCode::kInvalidArgument, "null");
  ExpectError(a->Free(Handle::Make(9, 0, 1), kA), absl::StatusCode::kInvalidArgument, "size class 9");
  ExpectError(a->Free(Handle::Make(0, 4, 1), kA), absl::StatusCode::kInvalidArgument, "index 4 out of range");
  ExpectError(a->Free(Handle::Make(0, h.index(), h.generation() + 1), kA), absl::StatusCode::kFailedPrecondition,
              "stale handle");
  ExpectError(a->Free(h, kB), absl::StatusCode::kPermissionDenied, "held by owner 7, not 9");
  ASSERT_TRUE(a->Free(h, kA).ok());
  ExpectError(a->Free(h, kA), absl::StatusCode::kFailedPrecondition, "double free");
  EXPECT_EQ(a->SlabsInUse(), 0u);
}

TEST_F(ArenaTest, AStaleHandleNeverReachesTheSlabsNextOwner) {
  auto a = Make({{4096, 1}});
  auto first = a->Allocate(10, kA);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(a->Free(first->handle, kA).ok());
  auto second = a->Allocate(10, kB);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->handle.index(), first->handle.index());
  EXPECT_NE(second->handle, first->handle);
  ExpectError(a->Resolve(first->handle, 10).status(), absl::StatusCode::kFailedPrecondition, "stale");
  ExpectError(a->Free(first->handle, kB), absl::StatusCode::kFailedPrecondition, "stale");
  EXPECT_EQ(a->OwnerOf(second->handle).value(), kB);
}

TEST_F(ArenaTest, TransferMovesOwnershipInOneStep) {
  auto a = Make();
  auto s = a->Allocate(10, kA);
  ASSERT_TRUE(s.ok());
  ExpectError(a->Transfer(s->handle, kB, kA), absl::StatusCode::kPermissionDenied, "held by owner 7");
  ExpectError(a->Transfer(s->handle, kA, kNoOwner), absl::StatusCode::kInvalidArgument, "owner 0");
  ASSERT_TRUE(a->Transfer(s->handle, kA, kB).ok());
  EXPECT_EQ(a->OwnerOf(s->handle).value(), kB);
  ExpectError(a->Free(s->handle, kA), absl::StatusCode::kPermissionDenied, "held by owner 9");
  EXPECT_TRUE(a->Free(s->handle, kB).ok());
}

TEST_F(ArenaTest, ResolveChecksSizeAndOwner) {
  auto a = Make();
  auto s = a->Allocate(10, kA);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(a->Resolve(s->handle, 4096).value().size(), 4096u);
  ExpectError(a->Resolve(s->handle, 4097).status(), absl::StatusCode::kOutOfRange, "exceeds");
  ExpectError(a->Resolve(s->handle, 10, kB).status(), absl::StatusCode::kPermissionDenied, "not 9");
  EXPECT_TRUE(a->Resolve(s->handle, 10, kA).ok());
}

TEST_F(ArenaTest, ReclaimOwnerFreesExactlyThatOwnersSlabs) {
  auto a = Make();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->Allocate(10, kA).ok());
  auto keep = a->Allocate(10, kB);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(a->ReclaimOwner(kA), 3u);
  EXPECT_EQ(a->SlabsInUse(), 1u);
  EXPECT_EQ(a->OwnerOf(keep->handle).value(), kB);
  EXPECT_EQ(a->ReclaimOwner(kA), 0u);
}

TEST_F(ArenaTest, OccupancyCountsSlabsAndBytesPerClass) {
  auto a = Make();
  ASSERT_TRUE(a->Allocate(1, kA).ok());
  ASSERT_TRUE(a->Allocate(1, kA).ok());
  ASSERT_TRUE(a->Allocate(5000, kA).ok());
  auto occ = a->Occupancy();
  ASSERT_EQ(occ.size(), 3u);
  EXPECT_EQ(occ[0].in_use, 2u);
  EXPECT_EQ(occ[0].total, 4u);
  EXPECT_EQ(occ[0].bytes_in_use, 8192u);
  EXPECT_EQ(occ[1].in_use, 1u);
  EXPECT_EQ(occ[2].in_use, 0u);
}

TEST_F(ArenaTest, AllocateWaitGivesUpAfterTheBound) {
  auto a = Make({{4096, 1}});
  ASSERT_TRUE(a->Allocate(1, kA).ok());
  const absl::Time start = absl::Now();
  auto s = a->AllocateWait(1, kB, absl::Milliseconds(100));
  ASSERT_FALSE(s.ok());
  ExpectError(s.status(), absl::StatusCode::kResourceExhausted, "waited");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
}

TEST_F(ArenaTest, AllocateWaitWakesWhenASlabIsFreed) {
  auto a = Make({{4096, 1}});
  auto held = a->Allocate(1, kA);
  ASSERT_TRUE(held.ok());
  std::thread freer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(a->Free(held->handle, kA).ok());
  });
  auto s = a->AllocateWait(1, kB, absl::Seconds(30));
  freer.join();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(a->OwnerOf(s->handle).value(), kB);
}

}  // namespace
}  // namespace jobd::shm
