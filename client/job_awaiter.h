// C++20 coroutines over jobs: `co_await` a job from any coroutine type (jobd's own Task<T> in
// client/task.h, or another framework's) without blocking a thread.
//
//   jobd::client::Task<int> Handle(jobd::client::JobClient& client) {
//     auto a = client.Start("rank", part1);                    // both run at once
//     auto b = client.Start("rank", part2);
//     absl::StatusOr<Response> ra = co_await jobd::client::Await(std::move(a));
//     absl::StatusOr<Response> rb = co_await jobd::client::Await(std::move(b));
//     ...
//   }
//
// The coroutine is resumed from the job's OnDone callback, so on the thread OnDone documents:
// the client's completion thread, or the thread in JobClient::Poll() once completion_fd() was
// asked for, or straight away on the awaiting thread when the job has already ended. A
// coroutine that runs long after resuming holds that thread up (in thread mode, every other
// callback of the client waits): hand heavy work to your own executor.
#pragma once

#include <atomic>
#include <coroutine>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "client/job_client.h"

namespace jobd::client {

// The awaitable of one job. `co_await` yields absl::StatusOr<Response>: the response, or the
// error Start gave ("could not start") or the job's own error. Not copyable or movable once
// awaited; await it once.
class JobAwaiter {
 public:
  explicit JobAwaiter(absl::StatusOr<JobFuture> future) : future_(std::move(future)) {}
  JobAwaiter(JobAwaiter&& other) noexcept : future_(std::move(other.future_)) {}
  JobAwaiter(const JobAwaiter&) = delete;
  JobAwaiter& operator=(const JobAwaiter&) = delete;

  // A start that failed resumes at once with its status.
  bool await_ready() const noexcept { return !future_.ok(); }

  // Whichever comes second, the callback or the end of await_suspend, resumes the coroutine:
  // when the job has already ended OnDone calls back before returning, and resuming from in
  // there would run the coroutine on under this very call.
  bool await_suspend(std::coroutine_handle<> caller) {
    std::move(*future_).OnDone([this, caller](absl::StatusOr<Response> r) {
      result_ = std::move(r);
      if (arrivals_.fetch_add(1, std::memory_order_acq_rel) == 1) caller.resume();
    });
    // Nothing of `this` is touched after this: the coroutine may already be running on.
    return arrivals_.fetch_add(1, std::memory_order_acq_rel) == 0;
  }

  absl::StatusOr<Response> await_resume() {
    if (!future_.ok()) return future_.status();
    return std::move(result_);
  }

 private:
  absl::StatusOr<JobFuture> future_;
  absl::StatusOr<Response> result_ = absl::UnknownError("the job's result never arrived");
  std::atomic<int> arrivals_{0};
};

// `co_await Await(client.Start(...))` or `co_await Await(std::move(future))`.
inline JobAwaiter Await(absl::StatusOr<JobFuture> future) { return JobAwaiter(std::move(future)); }
inline JobAwaiter Await(JobFuture&& future) { return JobAwaiter(std::move(future)); }

// Starts a job and awaits it: `co_await Async(client, "echo", "hi")`.
inline JobAwaiter Async(JobClient& client, std::string_view type, std::string_view request,
                        const StartOptions& options = {}) {
  return JobAwaiter(client.Start(type, request, options));
}

}  // namespace jobd::client
