// The coordinator is single-threaded logic; the agent's threads (gRPC handlers, the pump,
// housekeeping) take turns on it here. Nothing else is done under its lock: the Effects a call
// returns are carried out after it is released. Lock order: the peer registry's lock is never
// taken inside this one.
#pragma once

#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "coordinator/coordinator.h"

namespace jobd::agent {

class SharedCoordinator {
 public:
  void Reset(std::unique_ptr<coordinator::Coordinator> coordinator) {
    absl::MutexLock lock(&mu_);
    coordinator_ = std::move(coordinator);
  }
  bool ready() const {
    absl::MutexLock lock(&mu_);
    return coordinator_ != nullptr;
  }
  // Runs f(coordinator) under the lock and returns what it returns.
  template <typename F>
  auto With(F&& f) {
    absl::MutexLock lock(&mu_);
    return std::forward<F>(f)(*coordinator_);
  }

 private:
  mutable absl::Mutex mu_;
  std::unique_ptr<coordinator::Coordinator> coordinator_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jobd::agent
