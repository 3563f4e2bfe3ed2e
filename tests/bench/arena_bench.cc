// Arena allocation and payload writes. Baselines in the same run: an uncontended
// allocate+free against one contended by a second process, and writing 1 MiB into a slab
// against memcpy of 1 MiB between heap buffers.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "benchmark/benchmark.h"
#include "shm/arena.h"
#include "tests/shm/arena_test_util.h"

namespace {

using jobd::shm::Arena;

std::unique_ptr<Arena> MakeArena(const std::string& path) {
  return std::move(*Arena::Create({path, {{4096, 1024}, {65536, 64}, {1 << 20, 8}}, 0600}));
}

void BM_AllocateFree(benchmark::State& state) {
  jobd::testing::TempArenaPath path;
  auto arena = MakeArena(path.path());
  for (auto _ : state) {
    auto s = arena->Allocate(64, 7);
    benchmark::DoNotOptimize(s);
    (void)arena->Free(s->handle, 7);
  }
}
BENCHMARK(BM_AllocateFree);

void BM_AllocateFreeContendedByAnotherProcess(benchmark::State& state) {
  jobd::testing::TempArenaPath path;
  auto arena = MakeArena(path.path());
  const pid_t child = fork();
  if (child == 0) {
    auto a = Arena::Attach(path.path());
    for (;;) {
      auto s = (*a)->Allocate(64, 8);
      if (s.ok()) (void)(*a)->Free(s->handle, 8);
    }
  }
  for (auto _ : state) {
    auto s = arena->Allocate(64, 7);
    benchmark::DoNotOptimize(s);
    (void)arena->Free(s->handle, 7);
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}
BENCHMARK(BM_AllocateFreeContendedByAnotherProcess);

void BM_Write1MiBIntoSlab(benchmark::State& state) {
  jobd::testing::TempArenaPath path;
  auto arena = MakeArena(path.path());
  std::vector<char> src(1 << 20, 'x');
  auto slab = arena->Allocate(src.size(), 7);
  std::memcpy(slab->data.data(), src.data(), src.size());  // fault the pages in, as a reused slab is
  for (auto _ : state) {
    std::memcpy(slab->data.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(src.size()));
}
BENCHMARK(BM_Write1MiBIntoSlab);

void BM_Memcpy1MiBHeapToHeap(benchmark::State& state) {
  std::vector<char> src(1 << 20, 'x'), dst(1 << 20, 0);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(src.size()));
}
BENCHMARK(BM_Memcpy1MiBHeapToHeap);

}  // namespace

BENCHMARK_MAIN();
