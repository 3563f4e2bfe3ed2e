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
#include "shm/monotonic.h"
#include "shm/spin_policy.h"

namespace jobd::shm {

// What one wait did, for the waiter's spin policy (shm/spin_policy.h).
struct WaitTrace {
  bool spun = false;
  bool slept = false;
  int64_t rung_ns = 0;  // read after the sleep: when a ringer last woke this bell (a peer's word)
};

struct alignas(64) Doorbell {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> sleepers;
  // When the bell last woke a sleeper (MonotonicNanos): tells the sleeper how long the gap
  // really was, without the wake-up that followed. Any mapper can write it, so it only ever
  // steers how long a waiter spins, never what it reads.
  std::atomic<int64_t> rung_ns;

  // After the data is published with a seq_cst store (MessageRing's head). That store, this
  // load and the sleeper's increment and data check are all seq_cst, so in their single total
  // order either the sleeper sees the data or the ringer sees the sleeper. Written on the atomics
  // themselves rather than with fences, which ThreadSanitizer does not model.
  void Ring() {
    if (sleepers.load(std::memory_order_seq_cst) != 0) {
      rung_ns.store(MonotonicNanos(), std::memory_order_relaxed);
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

// A spin goes past its window while its yields hand the CPU to other processes: there are then
// more runnable processes than CPUs, a spinner's turn costs only a check and a switch, and going
// to sleep would make its peer pay a futex wake-up (the largest cost of the agent's hop at 64
// client processes, docs/benchmarks.md "A spin that outlasts its window while the CPUs are
// full"). Where its yields return at once (the CPU has nothing else to run) it stops at its
// window, so an idle machine burns no more than before. At most kSpinStretch windows.
inline constexpr int64_t kSpinStretch = 10;
// A yield that took this long on average, over the last four, gave the CPU to someone else.
inline constexpr int64_t kHandedOverNs = 5'000;

// Whether a spin `elapsed_ns` long, with a window of `window_ns`, goes on, given that its last
// four yields took `last_four_ns`. Past the window, never past the waiter's `timeout_ns`.
inline bool SpinGoesOn(int64_t elapsed_ns, int64_t window_ns, int64_t last_four_ns, int64_t timeout_ns) {
  if (elapsed_ns < window_ns) return true;
  return elapsed_ns < kSpinStretch * window_ns && elapsed_ns < timeout_ns && last_four_ns >= 4 * kHandedOverNs;
}

// Spins for up to `spin` (longer while the CPUs are full: SpinGoesOn, never past `timeout`)
// checking `ready()`; true once it is. Spinning first is what makes a hand-off cheap here: waking
// a sleeping process on another CPU costs tens of microseconds, a spinning one notices in well
// under one.
template <typename Ready>
bool SpinUntil(Ready ready, absl::Duration spin, absl::Duration timeout) {
  const int64_t spin_ns = absl::ToInt64Nanoseconds(spin);
  const int64_t timeout_ns = absl::ToInt64Nanoseconds(timeout);  // an infinite one: the largest
  const int64_t start = MonotonicNanos();
  int64_t checked = start;
  for (int i = 1;; ++i) {
    // Yielding, not just pausing: on a machine with fewer CPUs than busy processes, the peer
    // this spinner waits for may be runnable on this very CPU.
    sched_yield();
    if (ready()) return true;
    for (int k = 0; k < 16; ++k) CpuRelax();
    if (ready()) return true;
    if ((i & 3) == 0) {
      const int64_t now = MonotonicNanos();
      if (!SpinGoesOn(now - start, spin_ns, now - checked, timeout_ns)) return false;
      checked = now;
    }
  }
}

// Spins (SpinUntil) for up to `spin`, then sleeps on `bell` for up to `timeout`, until `ready()`.
// `trace`, when given, says what the wait did.
template <typename Ready>
bool SpinThenSleep(Doorbell& bell, Ready ready, absl::Duration spin, absl::Duration timeout,
                   WaitTrace* trace = nullptr) {
  if (ready()) return true;
  if (spin > absl::ZeroDuration()) {
    if (trace != nullptr) trace->spun = true;
    if (SpinUntil(ready, spin, timeout)) return true;
  }
  const bool r = bell.Sleep(ready, timeout);
  if (trace != nullptr) {
    trace->slept = true;
    trace->rung_ns = bell.rung_ns.load(std::memory_order_relaxed);
  }
  return r;
}

// SpinThenSleep with `policy`'s spin, which then learns from the wait (once `ready()`): after a
// sleep the gap ends when the peer rang, if the bell's stamp is plausible.
template <typename Ready>
bool WaitWithPolicy(Doorbell& bell, Ready ready, SpinPolicy& policy, absl::Duration timeout) {
  const int64_t start = MonotonicNanos();
  WaitTrace trace;
  const bool got = SpinThenSleep(bell, ready, policy.Spin(), timeout, &trace);
  if (got) {
    const int64_t end = MonotonicNanos();
    const bool rung = trace.slept && trace.rung_ns >= start && trace.rung_ns <= end;
    policy.Waited(absl::Nanoseconds((rung ? trace.rung_ns : end) - start), trace.spun, trace.slept,
                  /*exact=*/!trace.slept || rung);
  }
  return got;
}

}  // namespace jobd::shm
