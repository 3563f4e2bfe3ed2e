// The arena shared by real processes: a stress test with four allocating children, and crash
// tests that SIGKILL a child holding slabs or in the middle of allocating.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "shm/arena.h"
#include "tests/shm/arena_test_util.h"

namespace jobd::shm {
namespace {

using testing::TempArenaPath;

const std::vector<SizeClass> kClasses = {{4096, 64}, {65536, 16}, {1 << 20, 4}};

// The bytes a child writes into a slab: a function of who it is and which handle it holds, so
// bytes left by another child or by this slab's previous life do not match.
uint64_t PatternWord(OwnerId me, Handle h, size_t i) {
  return (h.bits() ^ (uint64_t{me} << 40)) * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
}

// Fills [8, size) with the pattern; the first 8 bytes hold the owner's id.
void WritePattern(std::span<std::byte> data, size_t size, OwnerId me, Handle h) {
  const uint64_t stamp = me;
  std::memcpy(data.data(), &stamp, 8);
  size_t i = 8;
  for (; i + 8 <= size; i += 8) {
    const uint64_t w = PatternWord(me, h, i);
    std::memcpy(data.data() + i, &w, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<std::byte>(PatternWord(me, h, i));
}

bool PatternIntact(std::span<const std::byte> data, size_t size, OwnerId me, Handle h) {
  size_t i = 8;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    if (w != PatternWord(me, h, i)) return false;
  }
  for (; i < size; ++i) {
    if (data[i] != static_cast<std::byte>(PatternWord(me, h, i))) return false;
  }
  return true;
}

// Child body for the stress test. Returns 0, or the exit code that names what broke:
// 10 attach failed, 11 another process's id in our slab, 12 our pattern changed, 13 OwnerOf
// does not name us, 14 Free refused, 15 an error other than a full arena, 16 a short slab.
// Counts its successful allocations into *allocations.
int StressChild(const std::string& path, OwnerId me, absl::Duration run, uint64_t* allocations) {
  auto arena = Arena::Attach(path);
  if (!arena.ok()) return 10;
  std::mt19937_64 rng(me);
  struct Held {
    Handle h;
    std::span<std::byte> data;
    size_t size;
  };
  std::vector<Held> held;
  const absl::Time until = absl::Now() + run;
  auto verify_and_free = [&](size_t k) -> int {
    Held x = held[k];
    held.erase(held.begin() + static_cast<long>(k));
    uint64_t stamped;
    std::memcpy(&stamped, x.data.data(), 8);
    if (stamped != me) return 11;
    if (!PatternIntact(x.data, x.size, me, x.h)) return 12;
    auto owner = (*arena)->OwnerOf(x.h);
    if (!owner.ok() || *owner != me) return 13;
    if (!(*arena)->Free(x.h, me).ok()) return 14;
    return 0;
  };
  while (absl::Now() < until) {
    const size_t size = 8 + rng() % (300 * 1024);
    auto s = (*arena)->Allocate(size, me);
    if (!s.ok()) {
      if (s.status().code() != absl::StatusCode::kResourceExhausted) return 15;
      if (!held.empty()) {
        if (int rc = verify_and_free(rng() % held.size()); rc != 0) return rc;
      }
      continue;
    }
    ++*allocations;
    if (s->data.size() < size) return 16;
    WritePattern(s->data, size, me, s->handle);
    held.push_back({s->handle, s->data, size});
    if (held.size() > 6 || rng() % 2 == 0) {
      if (int rc = verify_and_free(rng() % held.size()); rc != 0) return rc;
    }
  }
  while (!held.empty()) {
    if (int rc = verify_and_free(0); rc != 0) return rc;
  }
  return 0;
}

// Waits for a child and returns its wait status.
int Reap(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

TEST(ArenaMultiProcessTest, FourProcessesAllocateWriteVerifyAndFreeWithoutEverSharingASlab) {
  TempArenaPath path;
  auto arena = Arena::Create({path.path(), kClasses, 0600});
  ASSERT_TRUE(arena.ok()) << arena.status();
  int counts[2];
  ASSERT_EQ(pipe(counts), 0);
  std::vector<pid_t> children;
  for (OwnerId owner = 100; owner < 104; ++owner) {
    const pid_t pid = fork();
    if (pid == 0) {
      uint64_t allocations = 0;
      const int rc = StressChild(path.path(), owner, absl::Seconds(3), &allocations);
      (void)!write(counts[1], &allocations, sizeof allocations);
      _exit(rc);
    }
    children.push_back(pid);
  }
  close(counts[1]);
  for (pid_t pid : children) {
    const int status = Reap(pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child " << pid << " died: status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << pid << " found a broken invariant (see StressChild)";
  }
  for (size_t i = 0; i < children.size(); ++i) {
    uint64_t allocations = 0;
    ASSERT_EQ(read(counts[0], &allocations, sizeof allocations), static_cast<ssize_t>(sizeof allocations));
    EXPECT_GT(allocations, 0u) << "a child never got a slab, so it tested nothing";
  }
  close(counts[0]);
  uint32_t in_use = 0;
  for (const ClassOccupancy& c : (*arena)->Occupancy()) in_use += c.in_use;
  EXPECT_EQ(in_use, 0u);
}

TEST(ArenaMultiProcessTest, ReclaimOwnerReturnsTheSlabsOfAChildKilledWhileHoldingThem) {
  constexpr OwnerId kParent = 2, kChild = 200;
  constexpr int kHeld = 5;
  TempArenaPath path;
  auto arena = Arena::Create({path.path(), kClasses, 0600});
  ASSERT_TRUE(arena.ok());
  auto mine = (*arena)->Allocate(100, kParent);
  ASSERT_TRUE(mine.ok());
  std::memcpy(mine->data.data(), "parent's bytes", 14);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    auto a = Arena::Attach(path.path());
    int held = 0;
    for (int i = 0; i < kHeld && a.ok(); ++i) held += (*a)->Allocate(60000, kChild).ok();
    (void)!write(ready[1], &held, sizeof held);
    pause();
    _exit(0);
  }
  close(ready[1]);  // so that a child dying early reads as end of file, not a hang
  int held = 0;
  ASSERT_EQ(read(ready[0], &held, sizeof held), static_cast<ssize_t>(sizeof held));
  close(ready[0]);
  EXPECT_EQ(held, kHeld);
  EXPECT_EQ((*arena)->CountOwnedBy(kChild), uint32_t{kHeld});
  EXPECT_EQ((*arena)->SlabsInUse(), uint32_t{kHeld} + 1);
  kill(child, SIGKILL);
  const int status = Reap(child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // The child is gone but its slabs are still named: nothing leaked anonymously.
  EXPECT_EQ((*arena)->SlabsInUse(), uint32_t{kHeld} + 1);
  EXPECT_EQ((*arena)->ReclaimOwner(kChild), uint32_t{kHeld});
  EXPECT_EQ((*arena)->SlabsInUse(), 1u);
  EXPECT_EQ((*arena)->OwnerOf(mine->handle).value(), kParent);
  auto view = (*arena)->Resolve(mine->handle, 14, kParent);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(std::memcmp(view->data(), "parent's bytes", 14), 0);
}

TEST(ArenaMultiProcessTest, AChildKilledAtAnyMomentOfAllocatingLeavesEverySlabFreeOrNamed) {
  constexpr OwnerId kParent = 2;
  TempArenaPath path;
  auto arena = Arena::Create({path.path(), kClasses, 0600});
  ASSERT_TRUE(arena.ok());
  std::vector<Allocation> mine;
  for (int i = 0; i < 3; ++i) {
    auto s = (*arena)->Allocate(4000, kParent);
    ASSERT_TRUE(s.ok());
    WritePattern(s->data, 4000, kParent, s->handle);
    mine.push_back(*s);
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 25; ++round) {
    const OwnerId victim = 300 + round;
    int running[2];
    ASSERT_EQ(pipe(running), 0);
    const pid_t child = fork();
    if (child == 0) {
      auto a = Arena::Attach(path.path());
      if (!a.ok()) _exit(1);
      std::vector<Handle> held;
      for (uint64_t i = 0;; ++i) {
        auto s = (*a)->Allocate(1 + i % 200000, victim);
        if (s.ok()) held.push_back(s->handle);
        if (i == 0) (void)!write(running[1], "x", 1);
        if (!held.empty() && (held.size() > 3 || !s.ok())) {
          (void)(*a)->Free(held.front(), victim);
          held.erase(held.begin());
        }
      }
    }
    close(running[1]);
    char c;
    ASSERT_EQ(read(running[0], &c, 1), 1) << "round " << round << ": the child never started allocating";
    close(running[0]);
    absl::SleepFor(absl::Microseconds(rng() % 3000));
    kill(child, SIGKILL);
    const int status = Reap(child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "round " << round;
    // Every slab in use has a name: the parent's or the dead child's.
    const uint32_t victims = (*arena)->CountOwnedBy(victim);
    ASSERT_EQ((*arena)->SlabsInUse(), mine.size() + victims) << "round " << round << ": a slab has no named owner";
    EXPECT_EQ((*arena)->ReclaimOwner(victim), victims);
    ASSERT_EQ((*arena)->SlabsInUse(), mine.size()) << "round " << round;
  }
  for (const Allocation& m : mine) {
    EXPECT_EQ((*arena)->OwnerOf(m.handle).value(), kParent);
    EXPECT_TRUE(PatternIntact(m.data, 4000, kParent, m.handle));
    EXPECT_TRUE((*arena)->Free(m.handle, kParent).ok());
  }
  EXPECT_EQ((*arena)->SlabsInUse(), 0u);
}

}  // namespace
}  // namespace jobd::shm
