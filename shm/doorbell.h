// A doorbell in shared memory: the one word a consumer sleeps on and a producer rings after
// publishing. Ringing costs one load when nobody sleeps, so a busy consumer is never woken by a
// system call. Any process that maps the word may ring or wait; a peer that scribbles on it
// can only cost wake-ups, never data, because every wait has a timeout and the data is
// re-checked after it.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "shm/internal/futex.h"

namespace jobd::shm {

struct alignas(64) Doorbell {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> sleepers;

  // After the data is published with a seq_cst store (MessageRing's head). That store, this
  // load and the sleeper's increment and data check are all seq_cst, so in their single total
  // order either the sleeper sees the data or the ringer sees the sleeper. Written on the atomics
  // themselves rather than with fences, which ThreadSanitizer does not model.
  void Ring() {
    if (sleepers.load(std::memory_order_seq_cst) != 0) {
      seq.fetch_add(1, std::memory_order_seq_cst);
      internal::FutexWakeAll(&seq);
    }
  }

  // Sleeps until rung or `timeout`, unless `ready()` is already true once the sleeper is
  // announced. Returns ready()'s last value.
  template <typename Ready>
  bool Sleep(Ready ready, absl::Duration timeout) {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seen = seq.load(std::memory_order_seq_cst);
    bool r = ready();
    if (!r) {
      internal::FutexWait(&seq, seen, timeout);
      r = ready();
    }
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    return r;
  }
};
static_assert(sizeof(Doorbell) == 64);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins for up to `spin` checking `ready()`, then sleeps on `bell` for up to `timeout`.
// Spinning first is what makes a hand-off cheap here: waking a sleeping process on another CPU
// costs tens of microseconds, a spinning one notices in well under one.
template <typename Ready>
bool SpinThenSleep(Doorbell& bell, Ready ready, absl::Duration spin, absl::Duration timeout) {
  if (ready()) return true;
  if (spin > absl::ZeroDuration()) {
    const int64_t spin_ns = absl::ToInt64Nanoseconds(spin);
    const absl::Time start = absl::Now();
    for (int i = 1;; ++i) {
      // Yielding, not just pausing: on a machine with fewer CPUs than busy processes, the peer
      // this spinner waits for may be runnable on this very CPU.
      sched_yield();
      if (ready()) return true;
      for (int k = 0; k < 16; ++k) CpuRelax();
      if (ready()) return true;
      if ((i & 3) == 0 && absl::ToInt64Nanoseconds(absl::Now() - start) >= spin_ns) break;
    }
  }
  return bell.Sleep(ready, timeout);
}

}  // namespace jobd::shm
