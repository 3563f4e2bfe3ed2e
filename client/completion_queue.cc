// The completion thread, and the eventfd an event loop polls instead.
#include "client/internal/completion_queue.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

namespace jobd::client::internal {

CompletionQueue::~CompletionQueue() {
  Shutdown();
  PlainMutexLock lock(&mu_);
  if (event_fd_ >= 0) close(event_fd_);
}

void CompletionQueue::Invoke(Callback& callback, absl::StatusOr<Response> result) {
  // A callback runs on an SDK thread or inside Poll: an exception must not unwind through
  // either, and there is nobody to hand it to.
  try {
    callback(std::move(result));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobd client: a completion callback threw (ignored): %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "jobd client: a completion callback threw a non-standard exception (ignored)\n");
  }
}

void CompletionQueue::SignalFdLocked() {
  if (fd_signalled_ || event_fd_ < 0) return;
  fd_signalled_ = true;
  const uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof one);
}

void CompletionQueue::Push(Callback callback, absl::StatusOr<Response> result) {
  {
    PlainMutexLock lock(&mu_);
    if (!stopped_) {
      items_.push_back(Item{std::move(callback), std::move(result)});
      if (poll_mode()) {
        SignalFdLocked();
      } else if (!thread_.joinable()) {
        thread_ = std::thread([this] { ThreadLoop(); });
      } else {
        wake_.Signal();
      }
      return;
    }
  }
  // After Shutdown nobody else will run it: exactly once means here.
  Invoke(callback, std::move(result));
}

void CompletionQueue::Notify() {
  if (!poll_mode()) return;
  PlainMutexLock lock(&mu_);
  SignalFdLocked();
}

int CompletionQueue::fd() {
  PlainMutexLock lock(&mu_);
  if (event_fd_ < 0) {
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) return -1;
    poll_mode_.store(true, std::memory_order_release);
    // Callbacks queued for the thread before the switch now wait for Poll: say so.
    if (!items_.empty()) SignalFdLocked();
  }
  return event_fd_;
}

size_t CompletionQueue::RunReady() {
  std::deque<Item> ready;
  {
    PlainMutexLock lock(&mu_);
    if (!poll_mode()) return 0;
    // Reset under the lock that Push takes: a push after this writes the fd again.
    uint64_t count;
    (void)!read(event_fd_, &count, sizeof count);
    fd_signalled_ = false;
    ready.swap(items_);
  }
  for (Item& item : ready) Invoke(item.callback, std::move(item.result));
  return ready.size();
}

void CompletionQueue::ThreadLoop() {
  pthread_setname_np(pthread_self(), "jobd-callbacks");
  PlainMutexLock lock(&mu_);
  for (;;) {
    // In poll mode the thread leaves what is queued to Poll.
    while (!stopped_ && (items_.empty() || poll_mode())) wake_.Wait(&mu_);
    if (items_.empty() || poll_mode()) {
      if (stopped_) return;
      continue;
    }
    std::deque<Item> ready;
    ready.swap(items_);
    mu_.Unlock();
    for (Item& item : ready) Invoke(item.callback, std::move(item.result));
    mu_.Lock();
  }
}

void CompletionQueue::Shutdown() {
  std::thread thread;
  {
    PlainMutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    wake_.Signal();
    thread = std::move(thread_);
  }
  if (thread.joinable()) {
    // A callback that destroys its own client would join itself.
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();
    } else {
      thread.join();
    }
  }
  std::deque<Item> rest;
  {
    PlainMutexLock lock(&mu_);
    rest.swap(items_);
  }
  for (Item& item : rest) Invoke(item.callback, std::move(item.result));
}

}  // namespace jobd::client::internal
