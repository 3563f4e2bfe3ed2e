// Internal to client/: ended jobs whose callbacks wait to run, and who runs them. One per
// JobClient, shared by its sessions, so a reconnect loses no callback.
//
// Two modes. Until completion_fd() is asked for, callbacks run on one completion thread that
// the queue starts on first use. Once it is asked for (the switch is for good), callbacks run
// only in RunReady() (JobClient::Poll) on the caller's thread, and the eventfd is readable
// while anything waits for it. Callbacks never run under an SDK lock.
#pragma once

#include <atomic>
#include <deque>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "client/internal/plain_mutex.h"
#include "client/response.h"

namespace jobd::client::internal {

class CompletionQueue {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<Response>)>;

  CompletionQueue() = default;
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Queues `callback(result)` for the completion thread or for RunReady. Thread-safe; may be
  // called with a session's lock held (it takes only its own).
  void Push(Callback callback, absl::StatusOr<Response> result);
  // In poll mode, makes the eventfd readable (a future without a callback ended). Else nothing.
  void Notify();

  // Switches to poll mode (once; later calls return the same fd). -1 if no eventfd could be made.
  int fd();
  bool poll_mode() const { return poll_mode_.load(std::memory_order_acquire); }
  // Poll mode: empties the eventfd and runs what is queued, here. Returns how many ran.
  size_t RunReady();

  // Runs what is still queued (on the completion thread, or here in poll mode) and stops the
  // thread. Later pushes run at once on the pushing thread.
  void Shutdown();

  // Runs `callback(result)`; an exception it throws is caught and logged, never rethrown.
  static void Invoke(Callback& callback, absl::StatusOr<Response> result);

 private:
  struct Item {
    Callback callback;
    absl::StatusOr<Response> result;
  };
  void ThreadLoop();
  void SignalFdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  PlainMutex mu_;
  PlainCondVar wake_;  // the thread's: something queued in thread mode, or stopped
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> poll_mode_{false};
  int event_fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool fd_signalled_ ABSL_GUARDED_BY(mu_) = false;  // written to the eventfd since the last RunReady
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started under mu_ on the first push in thread mode
};

}  // namespace jobd::client::internal
