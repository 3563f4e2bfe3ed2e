// When waiting for a message should spin before it sleeps. Spinning wins only when the message
// is likely to come within the spin window: waking a sleeping process costs tens of
// microseconds, but spinning while messages come every few milliseconds (a service at 100
// jobs/s) burns a CPU for nothing. So each waiter spins only while most of its recent waits
// were short (a hit rate, not a mean: one long idle gap must not stop a busy waiter from
// spinning), probes now and then to notice that they have become short again, and never spins
// where its process may use one CPU only (the peer it waits for would need that CPU).
//
// Not thread-safe: one per waiting thread (or under the waiter's lock).
#pragma once

#include <sched.h>

#include <cstdint>

#include "absl/time/time.h"

namespace jobd::shm {

// The longest spin window anyone may ask for: the agent's `--spin-us` and `--client-spin-us`, and
// a client's own cap (ClientOptions::max_spin, $JOBD_CLIENT_SPIN_US).
inline constexpr absl::Duration kMaxSpinWindow = absl::Milliseconds(10);

// False when this process's CPU affinity allows a single CPU. Read once.
inline bool SpinningCanHelp() {
  static const bool can = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) > 1;
  }();
  return can;
}

class SpinPolicy {
 public:
  explicit SpinPolicy(absl::Duration max) : max_ns_(absl::ToInt64Nanoseconds(max)) {}

  // How long to spin before the next sleep.
  absl::Duration Spin() {
    if (max_ns_ <= 0 || !SpinningCanHelp()) return absl::ZeroDuration();
    // Every 64th wait spins regardless: a short wait then shows that spinning pays again.
    if (hits_ >= kScale / 2 || (++waits_ & 63) == 0) return absl::Nanoseconds(max_ns_);
    return absl::ZeroDuration();
  }
  // The last wait: whether it `spun` first and then `slept`, and `gap`, from its start until
  // the message was there. A wait that spun hits only if the spin caught the message: one that
  // slept after its spin spun for nothing, however short its gap (messages every 1.5 windows
  // would otherwise keep a waiter spinning a whole window before every sleep). One that did not
  // spin hits if a spin would have caught it: a gap within the window. When the gap is not
  // `exact` (it ends when this process ran again, not when the peer rang, so it holds a wake-up
  // of up to about a window), a gap between one and two windows says nothing either way; the
  // probes decide.
  void Waited(absl::Duration gap, bool spun, bool slept, bool exact) {
    const int64_t gap_ns = absl::ToInt64Nanoseconds(gap);
    bool hit;
    if (spun) {
      hit = !slept;
    } else if (gap_ns <= max_ns_) {
      hit = true;
    } else if (exact || gap_ns > 2 * max_ns_) {
      hit = false;
    } else {
      return;
    }
    hits_ += ((hit ? kScale : 0) - hits_) / 8;
  }

 private:
  static constexpr int32_t kScale = 1024;
  int64_t max_ns_;
  int32_t hits_ = kScale;  // start by spinning: a new peer is usually about to talk
  uint32_t waits_ = 0;
};

}  // namespace jobd::shm
