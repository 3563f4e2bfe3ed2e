// The agent's end of one peer's channel (the ring pair in the peer's segment). Sends go down
// the ring and ring the peer's doorbell; the pump drains the up ring. A send never blocks: when
// the down ring is full the message waits in a backlog in the agent's own memory, which the pump
// flushes as the peer reads. A peer whose backlog passes its bound in bytes, or that has not
// read for `max_stall`, is cut off (its stream ended, its jobs failed, its memory freed), so a
// peer that stops reading costs the agent a bounded amount of memory and nothing else.
#pragma once

#include <atomic>
#include <deque>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/deferred_rings.h"
#include "google/protobuf/message_lite.h"
#include "proto/ring_messages.h"
#include "proto/session_records.h"
#include "proto/worker_records.h"
#include "shm/channel_file.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

struct BacklogLimits {
  size_t max_bytes = 1 << 20;
  absl::Duration max_stall = absl::Seconds(10);
};

class AgentChannel {
 public:
  // `memory`: what maps `slot` (the peer's segment), kept while a ring is deferred.
  AgentChannel(shm::ChannelSlot slot, BacklogLimits limits, std::shared_ptr<const void> memory = nullptr)
      : slot_(slot), limits_(limits), memory_(std::move(memory)) {}
  AgentChannel(const AgentChannel&) = delete;
  AgentChannel& operator=(const AgentChannel&) = delete;

  // Queues `message` for the peer. False when the peer is cut off (broken ring, or backlog over
  // its bound): the caller ends the peer.
  bool Send(const google::protobuf::MessageLite& message) {
    return SendWith(message.ByteSizeLong(), [&](std::span<std::byte> out) {
      message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data()));
    });
  }
  // The same for a fixed record (proto/session_records.h); a message longer than the ring takes
  // is cut.
  bool Send(const wire::CompletionRecord& record) {
    return SendWith(wire::CompletionRecordBytes(record, slot_.down.max_message()),
                    [&](std::span<std::byte> out) { wire::EncodeCompletionRecord(record, out); });
  }
  // A job for a worker (proto/worker_records.h), its type and context encoded from the caller's.
  template <typename Context>
  bool Send(const wire::AssignmentRecord& record, absl::string_view type, const Context& context) {
    return SendWith(wire::AssignmentRecordBytes(type, context),
                    [&](std::span<std::byte> out) { wire::EncodeAssignmentRecord(record, type, context, out); });
  }

  // The pump: pushes what waits. False when the peer must be cut off (stalled past the bound).
  bool Flush() {
    if (!backlogged_.load(std::memory_order_relaxed)) return !broken();
    absl::MutexLock lock(&mu_);
    bool moved = false;
    while (!backlog_.empty()) {
      const std::string& m = backlog_.front();
      absl::StatusOr<bool> pushed = slot_.down.TryPush(std::as_bytes(std::span(m.data(), m.size())));
      if (!pushed.ok()) return BreakLocked(pushed.status());
      if (!*pushed) break;
      moved = true;
      backlog_bytes_ -= m.size();
      backlog_.pop_front();
      backlog_since_ = absl::Now();
    }
    if (moved) DeferredRings::Ring(slot_.peer_bell, memory_);
    if (backlog_.empty()) {
      backlogged_.store(false, std::memory_order_relaxed);
      return true;
    }
    if (absl::Now() - backlog_since_ > limits_.max_stall) {
      return BreakLocked(absl::DeadlineExceededError(absl::StrCat(
          "the peer has not read its channel for ", absl::FormatDuration(limits_.max_stall))));
    }
    return true;
  }

  bool backlogged() const { return backlogged_.load(std::memory_order_relaxed); }
  shm::MessageRing& up() { return slot_.up; }

  // The peer broke the ring's invariants, or stopped reading: nothing more goes through it.
  void Break(const absl::Status& why) {
    absl::MutexLock lock(&mu_);
    BreakLocked(why);
  }
  bool broken() const { return broken_.load(std::memory_order_relaxed); }
  std::string why() const {
    absl::MutexLock lock(&mu_);
    return why_;
  }

 private:
  // `encode` writes exactly `size` bytes: into the ring, or into the backlog when the ring is
  // full or others wait before it.
  template <typename Encode>
  bool SendWith(size_t size, Encode encode) {
    if (broken_.load(std::memory_order_relaxed)) return false;
    absl::MutexLock lock(&mu_);
    if (backlog_.empty()) {
      absl::StatusOr<bool> pushed = slot_.down.TryPushWith(size, encode);
      if (!pushed.ok()) return BreakLocked(pushed.status());
      if (*pushed) {
        DeferredRings::Ring(slot_.peer_bell, memory_);
        return true;
      }
      backlog_since_ = absl::Now();
    }
    if (backlog_bytes_ + size > limits_.max_bytes) {
      return BreakLocked(absl::ResourceExhaustedError(absl::StrCat(
          "the peer does not read its channel: ", backlog_bytes_ + size, " bytes waiting, more than ",
          limits_.max_bytes)));
    }
    std::string bytes(size, '\0');
    encode(std::as_writable_bytes(std::span(bytes.data(), bytes.size())));
    backlog_bytes_ += bytes.size();
    backlog_.push_back(std::move(bytes));
    backlogged_.store(true, std::memory_order_relaxed);
    return true;
  }

  bool BreakLocked(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!broken_.exchange(true)) why_ = why.ToString();
    backlog_.clear();
    backlog_bytes_ = 0;
    backlogged_.store(false, std::memory_order_relaxed);
    return false;
  }

  shm::ChannelSlot slot_;
  BacklogLimits limits_;
  std::shared_ptr<const void> memory_;
  mutable absl::Mutex mu_;
  std::deque<std::string> backlog_ ABSL_GUARDED_BY(mu_);
  size_t backlog_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time backlog_since_ ABSL_GUARDED_BY(mu_);
  std::string why_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> backlogged_{false};
  std::atomic<bool> broken_{false};
};

}  // namespace jobd::agent
