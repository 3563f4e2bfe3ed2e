// A slab handle: the only way a slab is named outside the process that maps it.
#pragma once

#include <cstdint>
#include <utility>

namespace jobd::shm {

// Who holds a slab, as recorded in the arena. The agent hands out ids; 0 and 1 are reserved.
using OwnerId = uint32_t;
inline constexpr OwnerId kNoOwner = 0;     // the slab is free
inline constexpr OwnerId kAgentOwner = 1;  // held by the agent on behalf of a job

// 64 bits: size class (8) | index within the class (24) | generation (32).
// Generations start at 1, so a valid handle is never 0 and Handle{} means "none".
// A handle is a plain value: it proves nothing until the arena has validated it.
class Handle {
 public:
  static constexpr int kClassBits = 8;
  static constexpr int kIndexBits = 24;
  static constexpr uint32_t kMaxClasses = 1u << kClassBits;
  static constexpr uint32_t kMaxIndex = (1u << kIndexBits) - 1;

  constexpr Handle() = default;
  static constexpr Handle Make(uint32_t size_class, uint32_t index, uint32_t generation) {
    return Handle((uint64_t{size_class} << 56) | (uint64_t{index & kMaxIndex} << 32) | generation);
  }
  static constexpr Handle FromBits(uint64_t bits) { return Handle(bits); }

  constexpr uint64_t bits() const { return bits_; }
  constexpr uint32_t size_class() const { return static_cast<uint32_t>(bits_ >> 56); }
  constexpr uint32_t index() const { return static_cast<uint32_t>(bits_ >> 32) & kMaxIndex; }
  constexpr uint32_t generation() const { return static_cast<uint32_t>(bits_); }
  constexpr bool is_null() const { return bits_ == 0; }

  friend constexpr bool operator==(Handle a, Handle b) { return a.bits_ == b.bits_; }
  friend constexpr bool operator!=(Handle a, Handle b) { return a.bits_ != b.bits_; }
  template <typename H>
  friend H AbslHashValue(H h, Handle handle) {
    return H::combine(std::move(h), handle.bits_);
  }

 private:
  explicit constexpr Handle(uint64_t bits) : bits_(bits) {}
  uint64_t bits_ = 0;
};

}  // namespace jobd::shm
