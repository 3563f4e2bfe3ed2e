#include "shm/arena.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
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

// Overwrites bytes of the file in place, as a foreign or corrupted writer would.
template <typename T>
void PatchFile(const std::string& path, uint64_t offset, T value) {
  const int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)), static_cast<ssize_t>(sizeof value));
  close(fd);
}

uint64_t ClassField(size_t size_class, size_t field_offset) {
  return offsetof(internal::ArenaHeader, classes) + size_class * sizeof(internal::ClassHeader) + field_offset;
}

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
  const Handle max = Handle::Make(Handle::kMaxClasses - 1, Handle::kMaxIndex, 0xFFFFFFFF);
  EXPECT_EQ(max.size_class(), 255u);
  EXPECT_EQ(max.index(), Handle::kMaxIndex);
  EXPECT_EQ(max.generation(), 0xFFFFFFFFu);
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
  PatchFile(path_.path(), offsetof(internal::ArenaHeader, layout_version), internal::kLayoutVersion + 1);
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "layout version 2");
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("this build reads version 1"));
}

TEST_F(ArenaTest, AttachRefusesAHeaderOfAnotherSize) {
  Make();
  PatchFile(path_.path(), offsetof(internal::ArenaHeader, header_size), uint32_t{64});
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "header size 64");
}

TEST_F(ArenaTest, AttachRefusesAFileLongerThanItsHeaderSays) {
  auto a = Make();
  ASSERT_EQ(truncate(path_.path().c_str(), static_cast<off_t>(a->mapped_bytes() + 4096)), 0);
  auto b = Arena::Attach(path_.path());
  ASSERT_FALSE(b.ok());
  ExpectError(b.status(), absl::StatusCode::kFailedPrecondition, "its header says");
}

TEST_F(ArenaTest, AttachRefusesAClassTableThatPointsOutsideTheFile) {
  Make();
  PatchFile(path_.path(), ClassField(1, offsetof(internal::ClassHeader, data_offset)), uint64_t{1} << 40);
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "class 1 lies outside the file");
}

TEST_F(ArenaTest, AttachRefusesSlabDataThatOverlapsTheStateWords) {
  Make();
  const uint64_t states = internal::AlignUp(sizeof(internal::ArenaHeader), 64);
  PatchFile(path_.path(), ClassField(0, offsetof(internal::ClassHeader, data_offset)), states);
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "class 0: slab data");
}

TEST_F(ArenaTest, AttachRefusesClassesThatAreNotSortedBySize) {
  Make();
  PatchFile(path_.path(), ClassField(1, offsetof(internal::ClassHeader, slab_size)), uint64_t{4096});
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "strictly increasing");
}

TEST_F(ArenaTest, AttachRefusesAClassWithNoSlabs) {
  Make();
  PatchFile(path_.path(), ClassField(2, offsetof(internal::ClassHeader, count)), uint32_t{0});
  auto a = Arena::Attach(path_.path());
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kFailedPrecondition, "has 0 slabs");
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
  a = Arena::Create({path_.path(), {{65536, 16}, {4096, 16}}, 0600});
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kInvalidArgument, "strictly increasing");
  a = Arena::Create({path_.path(), {{uint64_t{1} << 40, 1u << 24}}, 0600});
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kInvalidArgument, "the most allowed");
  a = Arena::Create({"", {{4096, 1}}, 0600});
  ASSERT_FALSE(a.ok());
  ExpectError(a.status(), absl::StatusCode::kInvalidArgument, "path is empty");
}

TEST_F(ArenaTest, GenerationsStartAtOneAndWrapPastZero) {
  auto a = Make({{4096, 1}});
  auto first = a->Allocate(1, kA);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->handle.generation(), 1u);
  ASSERT_TRUE(a->Free(first->handle, kA).ok());
  // Put the slab at the last generation, as four billion allocations would.
  const uint64_t states = internal::AlignUp(sizeof(internal::ArenaHeader), 64);
  PatchFile(path_.path(), states, internal::MakeState(0xFFFFFFFF, kNoOwner));
  auto wrapped = a->Allocate(1, kA);
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->handle.generation(), 1u);
  EXPECT_FALSE(wrapped->handle.is_null());
  EXPECT_EQ(a->OwnerOf(wrapped->handle).value(), kA);
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
  ExpectError(a->Free(h, kNoOwner), absl::StatusCode::kInvalidArgument, "owner 0");
  ExpectError(a->Free(Handle::Make(9, 0, 1), kA), absl::StatusCode::kInvalidArgument, "size class 9");
  ExpectError(a->Free(Handle::Make(9, 0, 1), kA), absl::StatusCode::kInvalidArgument, "the arena has 3 classes");
  ExpectError(a->Free(Handle::Make(0, 4, 1), kA), absl::StatusCode::kInvalidArgument, "index 4 out of range");
  ExpectError(a->Free(Handle::Make(0, 4, 1), kA), absl::StatusCode::kInvalidArgument, "(4 KiB, 4 slabs)");
  ExpectError(a->Free(Handle::Make(0, h.index(), h.generation() + 1), kA), absl::StatusCode::kFailedPrecondition,
              "stale handle");
  ExpectError(a->Free(h, kB), absl::StatusCode::kPermissionDenied, "held by owner 7, not 9");
  ASSERT_TRUE(a->Free(h, kA).ok());
  ExpectError(a->Free(h, kA), absl::StatusCode::kFailedPrecondition, "double free");
  ExpectError(a->OwnerOf(h).status(), absl::StatusCode::kFailedPrecondition, "is free");
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

TEST_F(ArenaTest, AFreedSlabIsTheNextOneTakenSoAFewJobsInFlightStayOnTheSameSlabs) {
  auto a = Make({{4096, 64}});
  auto first = a->Allocate(10, kA);
  auto second = a->Allocate(10, kA);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->handle.index(), 0u);
  EXPECT_EQ(second->handle.index(), 1u);
  ASSERT_TRUE(a->Free(first->handle, kA).ok());
  auto third = a->Allocate(10, kB);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->handle.index(), 0u) << "the freed slab, not a fresh one past it";
  ASSERT_TRUE(a->Free(second->handle, kA).ok());
  ASSERT_TRUE(a->Free(third->handle, kB).ok());
  // A job's life, a thousand times: the request, the response, both freed (in either order).
  std::set<uint32_t> used;
  for (int job = 0; job < 1000; ++job) {
    auto request = a->Allocate(10, kA);
    auto response = a->Allocate(10, kB);
    ASSERT_TRUE(request.ok() && response.ok());
    used.insert(request->handle.index());
    used.insert(response->handle.index());
    if (job % 2 == 0) {
      ASSERT_TRUE(a->Free(request->handle, kA).ok());
      ASSERT_TRUE(a->Free(response->handle, kB).ok());
    } else {
      ASSERT_TRUE(a->Free(response->handle, kB).ok());
      ASSERT_TRUE(a->Free(request->handle, kA).ok());
    }
  }
  EXPECT_EQ(used, (std::set<uint32_t>{0, 1})) << "a round-robin cursor would have touched all 64";
}

TEST_F(ArenaTest, AHintRewrittenByAPeerOnlyMovesWhereTheScanStarts) {
  auto a = Make({{4096, 8}});
  for (uint64_t garbage : {uint64_t{7}, uint64_t{8}, uint64_t{1} << 40, ~uint64_t{0}}) {
    PatchFile(path_.path(), ClassField(0, offsetof(internal::ClassHeader, free_hint)), garbage);
    std::vector<Handle> taken;
    for (int n = 0; n < 8; ++n) {
      auto s = a->Allocate(10, kA);
      ASSERT_TRUE(s.ok()) << "hint " << garbage << ", slab " << n << ": " << s.status();
      taken.push_back(s->handle);
    }
    EXPECT_FALSE(a->Allocate(10, kA).ok()) << "all eight are taken, once each";
    std::set<uint32_t> indices;
    for (Handle h : taken) indices.insert(h.index());
    EXPECT_EQ(indices.size(), 8u);
    for (Handle h : taken) ASSERT_TRUE(a->Free(h, kA).ok());
  }
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
  EXPECT_EQ(a->CountOwnedBy(kA), 3u);
  EXPECT_EQ(a->CountOwnedBy(kB), 1u);
  EXPECT_EQ(a->ReclaimOwner(kA), 3u);
  EXPECT_EQ(a->CountOwnedBy(kA), 0u);
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

TEST_F(ArenaTest, AllocateWaitWithNoWaitIsAllocate) {
  auto a = Make({{4096, 1}});
  ASSERT_TRUE(a->Allocate(1, kA).ok());
  auto s = a->AllocateWait(1, kB, absl::ZeroDuration());
  ASSERT_FALSE(s.ok());
  ExpectError(s.status(), absl::StatusCode::kResourceExhausted, "arena full");
  EXPECT_THAT(std::string(s.status().message()), ::testing::Not(HasSubstr("waited")));
  ExpectError(a->AllocateWait(8192, kB, absl::Seconds(30)).status(), absl::StatusCode::kInvalidArgument,
              "exceeds the largest");
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
