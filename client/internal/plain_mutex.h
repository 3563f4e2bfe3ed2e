// The client SDK's locks: std::mutex and std::condition_variable behind Abseil's lock
// annotations and absl::Mutex's calling shape.
//
// Why not absl::Mutex: Debian's Abseil runs its deadlock detection on every lock and unlock (a
// process-wide lock graph behind a spin lock, and a stack trace for each new lock edge). A
// service links the SDK into its own process, so the SDK cannot switch that off without
// changing its host's globals; on jobs paced at 100/s, cold, the SDK's p50 fell from a median of
// 150 to 134 µs without it (docs/benchmarks.md). These do no bookkeeping.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "shm/wall_clock.h"

namespace jobd::client::internal {

class ABSL_LOCKABLE PlainMutex {
 public:
  PlainMutex() = default;
  PlainMutex(const PlainMutex&) = delete;
  PlainMutex& operator=(const PlainMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class PlainCondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE PlainMutexLock {
 public:
  explicit PlainMutexLock(PlainMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~PlainMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  PlainMutexLock(const PlainMutexLock&) = delete;
  PlainMutexLock& operator=(const PlainMutexLock&) = delete;

 private:
  PlainMutex* const mu_;
};

// As absl::CondVar: the caller holds `mu`, which is released while waiting and held again on
// return. Wake-ups may be spurious; callers re-check their condition.
class PlainCondVar {
 public:
  void Wait(PlainMutex* mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // True when `deadline` passed (absl::CondVar's convention). Waits on the monotonic clock, at
  // most a day at a time (a far deadline returns early, as a spurious wake-up would).
  bool WaitWithDeadline(PlainMutex* mu, absl::Time deadline) {
    const absl::Duration left = deadline - shm::WallNow();
    if (left <= absl::ZeroDuration()) return true;
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const std::cv_status status = cv_.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, absl::Hours(24))));
    lock.release();
    return status == std::cv_status::timeout && shm::WallNow() >= deadline;
  }
  bool WaitWithTimeout(PlainMutex* mu, absl::Duration timeout) {
    return WaitWithDeadline(mu, shm::WallNow() + timeout);
  }
  void Signal() { cv_.notify_one(); }

 private:
  std::condition_variable cv_;
};

}  // namespace jobd::client::internal
