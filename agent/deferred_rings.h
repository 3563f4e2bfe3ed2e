// Doorbells the pump rings once, at the end of a pass over every channel, instead of at each
// send. A ring that finds its peer asleep wakes it, and where the woken peer shares the agent's
// CPU the kernel lets it run at once: rung at each send, a worker would wake for the first job
// of a pass and sleep again before the rest were pushed, and the agent would be put off its CPU
// once per message (measured in docs/benchmarks.md, "The pump's rings at the end of its pass").
// Rung at the end, each peer wakes once per pass with everything of that pass in its ring. The
// pump opens a pass only where the agent has one CPU: with CPUs to spare a peer woken mid-pass
// runs beside the agent, and a long pass would keep a sleeping client waiting.
//
// A ring only announces what is already published (the peer re-checks its ring after every
// wake), so a later ring is never a wrong one; what matters is that every deferred ring happens
// before the pump sleeps, which the pass's end guarantees.
//
// Only the pump's thread opens a pass. Sends on other threads ring at once.
#pragma once

#include <memory>
#include <vector>

#include "shm/doorbell.h"

namespace jobd::agent {

class DeferredRings {
 public:
  DeferredRings() = default;
  DeferredRings(const DeferredRings&) = delete;
  DeferredRings& operator=(const DeferredRings&) = delete;

  // Opens `rings` on the calling thread while it lives; at its end every bell rung meanwhile
  // rings once. `rings` keeps its buffer from one pass to the next: a pass allocates nothing.
  class Pass {
   public:
    explicit Pass(DeferredRings& rings) : rings_(rings), previous_(current_) { current_ = &rings_; }
    ~Pass() {
      current_ = previous_;
      for (const Entry& e : rings_.bells_) e.bell->Ring();
      rings_.bells_.clear();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

   private:
    DeferredRings& rings_;
    DeferredRings* previous_;
  };

  // Rings `bell` now, or at the end of the calling thread's open pass. `keep` holds the memory
  // the bell lives in (the peer's segment) until then: the peer may end meanwhile.
  static void Ring(shm::Doorbell* bell, const std::shared_ptr<const void>& keep) {
    if (current_ == nullptr) {
      bell->Ring();
      return;
    }
    current_->Add(bell, keep);
  }

  size_t pending() const { return bells_.size(); }

 private:
  struct Entry {
    shm::Doorbell* bell;
    std::shared_ptr<const void> keep;
  };

  void Add(shm::Doorbell* bell, const std::shared_ptr<const void>& keep) {
    for (const Entry& e : bells_) {
      if (e.bell == bell) return;  // the peer wakes once however many messages it got
    }
    bells_.push_back(Entry{bell, keep});
  }

  std::vector<Entry> bells_;
  static thread_local DeferredRings* current_;
};

inline thread_local DeferredRings* DeferredRings::current_ = nullptr;

}  // namespace jobd::agent
