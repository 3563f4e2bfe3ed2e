// A thread that runs a round of housekeeping now and again: at once when woken (from any
// thread, or from a signal handler writing wake_fd()), else when the time its last round
// returned comes. Between rounds it sleeps in one poll, so an idle agent makes no calls.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shm/unique_fd.h"

namespace jobd::agent {

class HousekeepingThread {
 public:
  // Does the round's work; returns when the next round is due (clamped to a minute).
  using Round = std::function<absl::Time()>;
  struct Options {
    // Unblock SIGCHLD in this thread alone, so that its handler (which writes wake_fd()) runs
    // here; the process blocks it everywhere else.
    bool takes_sigchld = false;
  };

  // Its wake eventfd only: wakes before Run are kept for the first round.
  static absl::StatusOr<std::unique_ptr<HousekeepingThread>> Create(Options options);
  // Starts the thread (once).
  void Run(Round round);
  // Stops after the round in progress, and joins.
  ~HousekeepingThread();
  void Stop();

  // Any thread: a round runs as soon as the one in progress (if any) ends.
  void Wake();
  // For an async-signal-safe wake: write 8 bytes to it.
  int wake_fd() const { return wake_.get(); }

 private:
  HousekeepingThread(shm::UniqueFd wake, Options options) : wake_(std::move(wake)), options_(options) {}
  void Loop(const Round& round);

  shm::UniqueFd wake_;
  Options options_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jobd::agent
