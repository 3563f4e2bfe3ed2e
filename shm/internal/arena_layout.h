// The arena file's layout. Everything here lives in shared memory: offsets, never pointers;
// fixed-size fields; no constructors. Changing any of it means bumping kLayoutVersion, so an
// agent and a client built from different layouts refuse to share an arena.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace jobd::shm::internal {

inline constexpr char kMagic[8] = {'J', 'O', 'B', 'D', 'A', 'R', 'N', 'A'};
// Bump on any change to ArenaHeader, ClassHeader or the state-word format.
inline constexpr uint32_t kLayoutVersion = 1;
inline constexpr uint32_t kMaxClasses = 32;
inline constexpr uint64_t kPage = 4096;

// One per size class, one cache line each so allocators of different classes do not share one.
struct alignas(64) ClassHeader {
  uint64_t slab_size;
  uint32_t count;
  uint32_t reserved0;
  uint64_t states_offset;  // `count` state words (see StateWord)
  uint64_t data_offset;    // `count` slabs of slab_size bytes, page-aligned
  std::atomic<uint64_t> free_hint;         // where the next allocation starts scanning (see Arena::Allocate)
  std::atomic<uint64_t> acquire_failures;  // allocations that found this class and all above full
  uint64_t reserved[2];
};
static_assert(sizeof(ClassHeader) == 64);

struct alignas(64) ArenaHeader {
  char magic[8];
  uint32_t layout_version;
  uint32_t header_size;  // sizeof(ArenaHeader)
  uint64_t file_size;
  uint32_t class_count;
  uint32_t reserved0;
  // A futex word bumped by every free while someone waits for a slab (AllocateWait).
  std::atomic<uint32_t> free_epoch;
  std::atomic<uint32_t> waiters;
  uint8_t reserved[128 - 40];
  ClassHeader classes[kMaxClasses];
};
static_assert(offsetof(ArenaHeader, free_epoch) == 32);
static_assert(offsetof(ArenaHeader, classes) == 128);
static_assert(sizeof(ArenaHeader) == 128 + 64 * kMaxClasses);
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "cross-process atomics must be lock-free");

// A slab's state word: generation in the high 32 bits, owner in the low 32 (0: free). Claiming
// a slab and naming its owner is one compare-and-swap on this word.
inline constexpr uint64_t MakeState(uint32_t generation, uint32_t owner) {
  return (uint64_t{generation} << 32) | owner;
}
inline constexpr uint32_t StateGeneration(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
inline constexpr uint32_t StateOwner(uint64_t s) { return static_cast<uint32_t>(s); }

inline constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// A header's magic is written last (release) and read first (acquire), so whoever sees it sees
// the rest of the header. Done on the 8 bytes as one atomic word (the magic is 8-aligned), not
// with fences, so ThreadSanitizer can check it.
inline void PublishMagic(char* magic, const char (&value)[8]) {
  uint64_t word;
  std::memcpy(&word, value, 8);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(magic)).store(word, std::memory_order_release);
}
inline bool MagicIs(const char* magic, const char (&value)[8]) {
  uint64_t want;
  std::memcpy(&want, value, 8);
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(const_cast<char*>(magic)))
             .load(std::memory_order_acquire) == want;
}

}  // namespace jobd::shm::internal
