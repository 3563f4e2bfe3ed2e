// A single-producer single-consumer ring of length-prefixed messages in shared memory. The
// producer and the consumer are different processes and do not trust each other: every index
// and length read from the shared side is checked, and a ring found inconsistent reports
// DataLoss instead of reading outside its buffer.
//
// Record format: a 4-byte length at an 8-aligned offset, then the bytes; the next record starts
// at the next 8-aligned offset. A record that would cross the end of the buffer is preceded by
// a wrap marker (length kWrap) and starts at offset 0.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace jobd::shm {

// The two positions, each on its own cache line: byte counts since the ring was reset.
struct RingIndex {
  alignas(64) std::atomic<uint64_t> head;  // written by the producer
  alignas(64) std::atomic<uint64_t> tail;  // written by the consumer
};
static_assert(sizeof(RingIndex) == 128);

class MessageRing {
 public:
  static constexpr uint32_t kWrap = 0xFFFFFFFFu;

  // `capacity` is a power of two, at least 64, and the size of `data`.
  MessageRing(RingIndex* index, std::byte* data, uint64_t capacity)
      : index_(index), data_(data), capacity_(capacity) {}

  // The largest message TryPush accepts: half the ring, so one always fits after a wrap.
  uint64_t max_message() const { return capacity_ / 2 - 8; }

  // Producer: reserves room for `size` bytes, lets `fill` write them, publishes. False when the
  // ring has no room now; DataLoss when the consumer's tail is impossible.
  template <typename Fill>
  ABSL_ATTRIBUTE_HOT absl::StatusOr<bool> TryPushWith(uint64_t size, Fill fill) {
    if (size > max_message()) {
      return absl::InvalidArgumentError(
          absl::StrCat("message of ", size, " bytes exceeds the ring's limit of ", max_message()));
    }
    const uint64_t head = index_->head.load(std::memory_order_relaxed);
    const uint64_t tail = index_->tail.load(std::memory_order_acquire);
    if (tail > head || head - tail > capacity_ || tail % 8 != 0) {
      return absl::DataLossError(absl::StrCat("ring tail ", tail, " is impossible for head ", head));
    }
    const uint64_t record = Align8(4 + size);
    const uint64_t at = head & (capacity_ - 1);
    const uint64_t to_end = capacity_ - at;
    const uint64_t skip = record > to_end ? to_end : 0;
    if (capacity_ - (head - tail) < skip + record) return false;
    if (skip != 0) Store32(at, kWrap);
    const uint64_t start = (head + skip) & (capacity_ - 1);
    Store32(start, static_cast<uint32_t>(size));
    fill(std::span<std::byte>(data_ + start + 4, size));
    // seq_cst, not just release: the doorbell's and the agent beacon's wake-up checks order
    // against this store (see Doorbell::Ring).
    index_->head.store(head + skip + record, std::memory_order_seq_cst);
    return true;
  }

  absl::StatusOr<bool> TryPush(std::span<const std::byte> message) {
    return TryPushWith(message.size(), [&](std::span<std::byte> out) {
      if (!message.empty()) std::memcpy(out.data(), message.data(), message.size());
    });
  }

  // Producer: bytes in the ring now (a hint; the consumer's tail may be anything).
  uint64_t used() const {
    return index_->head.load(std::memory_order_relaxed) - index_->tail.load(std::memory_order_acquire);
  }
  uint64_t capacity() const { return capacity_; }

  // Consumer: drops whatever is waiting (a new consumer must not run an old one's messages).
  // The head is the producer's and may be anything; an impossible one is left for TryPop to
  // report.
  void DiscardAll() {
    const uint64_t head = index_->head.load(std::memory_order_acquire);
    const uint64_t tail = index_->tail.load(std::memory_order_relaxed);
    if (head >= tail && head - tail <= capacity_ && head % 8 == 0) {
      index_->tail.store(head, std::memory_order_release);
    }
  }

  // Consumer: true when a message is waiting (a hint; Pop decides).
  bool HasData() const {
    return index_->head.load(std::memory_order_seq_cst) != index_->tail.load(std::memory_order_relaxed);
  }

  // Consumer: hands the oldest message to `take` (a view into the ring, valid during the call;
  // the producer may be writing elsewhere but not there) and frees its room. False when empty.
  template <typename Take>
  ABSL_ATTRIBUTE_HOT absl::StatusOr<bool> TryPop(Take take) {
    const uint64_t tail = index_->tail.load(std::memory_order_relaxed);
    const uint64_t head = index_->head.load(std::memory_order_acquire);
    if (head == tail) return false;
    if (head < tail || head - tail > capacity_ || tail % 8 != 0) {
      return absl::DataLossError(absl::StrCat("ring head ", head, " is impossible for tail ", tail));
    }
    uint64_t pos = tail;
    uint32_t size = Load32(pos & (capacity_ - 1));
    if (size == kWrap) {
      pos += capacity_ - (pos & (capacity_ - 1));
      if (pos >= head) return absl::DataLossError("ring wrap marker points past the head");
      size = Load32(pos & (capacity_ - 1));
    }
    const uint64_t at = pos & (capacity_ - 1);
    if (size > max_message() || at + 4 + size > capacity_ || pos + Align8(4 + size) > head) {
      return absl::DataLossError(
          absl::StrCat("ring record of ", size, " bytes at ", pos, " does not fit before head ", head));
    }
    take(std::span<const std::byte>(data_ + at + 4, size));
    index_->tail.store(pos + Align8(4 + size), std::memory_order_release);
    return true;
  }

 private:
  static uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
  void Store32(uint64_t at, uint32_t v) { std::memcpy(data_ + at, &v, 4); }
  uint32_t Load32(uint64_t at) const {
    uint32_t v;
    std::memcpy(&v, data_ + at, 4);
    return v;
  }

  RingIndex* index_;
  std::byte* data_;
  uint64_t capacity_;
};

}  // namespace jobd::shm
