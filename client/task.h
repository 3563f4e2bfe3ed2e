// A minimal coroutine type for services that have none: Task<T> starts running at once (no
// scheduler), runs until its first co_await that must wait, and is resumed by whatever it
// awaits (a job: client/job_awaiter.h; another Task).
//
//   Task<void> Serve(Request req, Reactor* reactor) {   // e.g. a gRPC callback handler
//     auto r = co_await Async(client, "resize", req.image());
//     reactor->Finish(...);
//   }
//   Serve(req, reactor);   // dropping the Task detaches it: it runs to its end on its own
//
// Ownership: the Task object owns the coroutine only to read its result. Destroying the Task
// before the coroutine ends detaches it (the coroutine frees itself when it ends); destroying
// it after frees the coroutine. Awaiting a Task from another coroutine resumes the awaiter
// when the Task ends, on the thread that ended it. An exception that leaves the coroutine is
// kept and rethrown by result() or by co_await, in the awaiting code, never in an SDK thread.
// Thread-safety: done() may be called from any thread; result() once done() is true.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace jobd::client {

template <typename T>
class Task;

namespace internal {

// kRunning -> kDone, or kRunning -> kAwaited -> kDone, or kRunning -> kDetached (the coroutine
// then destroys itself at its end), or kDone -> kDetached (the Task destroys it).
enum TaskState : int { kRunning, kAwaited, kDone, kDetached };

struct TaskPromiseBase {
  std::atomic<int> state{kRunning};
  std::coroutine_handle<> continuation;
  std::exception_ptr error;

  std::suspend_never initial_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      TaskPromiseBase& p = self.promise();
      const int prev = p.state.exchange(kDone, std::memory_order_acq_rel);
      if (prev == kDetached) {
        self.destroy();
        return std::noop_coroutine();
      }
      if (prev == kAwaited) return p.continuation;
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
};

template <typename T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;
  Task<T> get_return_object();
  template <typename U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object();
  void return_void() {}
};

}  // namespace internal

template <typename T = void>
class Task {
 public:
  using promise_type = internal::TaskPromise<T>;

  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      Release();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Release(); }

  bool done() const {
    return handle_ && handle_.promise().state.load(std::memory_order_acquire) == internal::kDone;
  }

  // The coroutine's value (moved out) once done(); rethrows what escaped the coroutine.
  decltype(auto) result() {
    promise_type& p = handle_.promise();
    if (p.error) std::rethrow_exception(p.error);
    if constexpr (!std::is_void_v<T>) return std::move(*p.value);
  }

  // co_await task: resumes the awaiter when the task ends (at once if it has).
  auto operator co_await() & noexcept { return Awaiter{this}; }
  auto operator co_await() && noexcept { return Awaiter{this}; }

 private:
  friend struct internal::TaskPromise<T>;
  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}

  struct Awaiter {
    Task* task;
    bool await_ready() const noexcept { return task->done(); }
    bool await_suspend(std::coroutine_handle<> caller) noexcept {
      promise_type& p = task->handle_.promise();
      p.continuation = caller;
      int expected = internal::kRunning;
      // Fails only if the task ended meanwhile: then go on without suspending.
      return p.state.compare_exchange_strong(expected, internal::kAwaited, std::memory_order_acq_rel);
    }
    decltype(auto) await_resume() { return task->result(); }
  };

  void Release() {
    if (!handle_) return;
    const int prev = handle_.promise().state.exchange(internal::kDetached, std::memory_order_acq_rel);
    if (prev == internal::kDone) handle_.destroy();
    handle_ = nullptr;
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace internal {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

}  // namespace internal

}  // namespace jobd::client
