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

uint8_t PatternByte(uint64_t seed, size_t i) { return static_cast<uint8_t>((seed * 2654435761u + i * 131) >> 7); }

// Child body for the stress test. Exit codes say what broke.
int StressChild(const std::string& path, OwnerId me, absl::Duration run) {
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
    if (stamped != me) return 11;  // someone else wrote into our slab
    for (size_t i = 8; i < x.size; i += 97) {
      if (static_cast<uint8_t>(x.data[i]) != PatternByte(x.h.bits(), i)) return 12;
    }
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
    const uint64_t stamp = me;
    std::memcpy(s->data.data(), &stamp, 8);
    for (size_t i = 8; i < size; i += 97) s->data[i] = static_cast<std::byte>(PatternByte(s->handle.bits(), i));
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

TEST(ArenaMultiProcessTest, FourProcessesAllocateWriteVerifyAndFreeWithoutEverSharingASlab) {
  TempArenaPath path;
  auto arena = Arena::Create({path.path(), kClasses, 0600});
  ASSERT_TRUE(arena.ok()) << arena.status();
  std::vector<pid_t> children;
  for (OwnerId owner = 100; owner < 104; ++owner) {
    const pid_t pid = fork();
    if (pid == 0) _exit(StressChild(path.path(), owner, absl::Seconds(3)));
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << pid << " found a broken invariant (see exit codes)";
  }
  EXPECT_EQ((*arena)->SlabsInUse(), 0u);
}

TEST(ArenaMultiProcessTest, ReclaimOwnerReturnsTheSlabsOfAChildKilledWhileHoldingThem) {
  TempArenaPath path;
  auto arena = Arena::Create({path.path(), kClasses, 0600});
  ASSERT_TRUE(arena.ok());
  auto mine = (*arena)->Allocate(100, 1);
  ASSERT_TRUE(mine.ok());
  std::memcpy(mine->data.data(), "parent's bytes", 14);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    auto a = Arena::Attach(path.path());
    for (int i = 0; i < 5 && a.ok(); ++i) (void)(*a)->Allocate(60000, 200);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  EXPECT_EQ((*arena)->SlabsInUse(), 6u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ((*arena)->ReclaimOwner(200), 5u);
  EXPECT_EQ((*arena)->SlabsInUse(), 1u);
  auto view = (*arena)->Resolve(mine->handle, 14, 1);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(std::memcmp(view->data(), "parent's bytes", 14), 0);
  close(ready[0]);
  close(ready[1]);
}

TEST(ArenaMultiProcessTest, AChildKilledAtAnyMomentOfAllocatingLeavesEverySlabFreeOrNamed) {
  TempArenaPath path;
  auto arena = Arena::Create({path.path(), kClasses, 0600});
  ASSERT_TRUE(arena.ok());
  std::vector<Handle> mine;
  for (int i = 0; i < 3; ++i) mine.push_back((*arena)->Allocate(4000, 1)->handle);
  std::mt19937 rng(42);
  for (int round = 0; round < 25; ++round) {
    const OwnerId victim = 300 + round;
    const pid_t child = fork();
    if (child == 0) {
      auto a = Arena::Attach(path.path());
      if (!a.ok()) _exit(1);
      std::vector<Handle> held;
      for (uint64_t i = 0;; ++i) {
        auto s = (*a)->Allocate(1 + i % 200000, victim);
        if (s.ok()) held.push_back(s->handle);
        if (held.size() > 3 || !s.ok()) {
          (void)(*a)->Free(held.front(), victim);
          held.erase(held.begin());
        }
      }
    }
    absl::SleepFor(absl::Microseconds(200 + rng() % 5000));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    (*arena)->ReclaimOwner(victim);
    ASSERT_EQ((*arena)->SlabsInUse(), mine.size()) << "round " << round << ": a slab was left neither free nor named";
  }
  for (Handle h : mine) EXPECT_TRUE((*arena)->Free(h, 1).ok());
  EXPECT_EQ((*arena)->SlabsInUse(), 0u);
}

}  // namespace
}  // namespace jobd::shm
