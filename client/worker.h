// The worker SDK: a handler registry by job type and a serve loop.
//
//   jobd::client::Worker worker;
//   worker.Handle("square", [](jobd::client::JobContext& job) -> absl::Status {
//     ... job.request() is the payload, read in place ...
//     return job.Respond(bytes);          // or job.ResponseBuffer(n) + job.CommitResponse(m)
//   });
//   return worker.Run().ok() ? 0 : 1;      // in a process the agent started
//
// A handler's error status, or an exception it throws, becomes the job's error with its
// message. One job at a time per process, as in KPHP.
//
// ManualRespond jobs answer early with RespondEarly() and keep working; the caller wakes at the
// answer, the worker stays busy until the handler returns. Cancellation (by the caller, or
// because the caller went away) shows in cancelled(); a handler that ignores it is killed after
// the agent's grace period.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/job_context.h"
#include "client/worker_env.h"

namespace jobd::client {

using Handler = std::function<absl::Status(JobContext& job)>;
// Runs before every handler (restore what the caller saved in the context) and after it
// (reset it, so nothing leaks into the next job on this worker).
using HandleHook = std::function<void(const JobContext& job)>;

struct WorkerOptions {
  std::string socket_path;  // empty: DefaultSocketPath()
  std::string token;        // empty: $JOBD_WORKER_TOKEN
};

class Worker {
 public:
  Worker();
  ~Worker();

  // Registers the handler for one job type; a later call for the same type replaces it.
  void Handle(std::string type, Handler handler);
  void SetBeforeHandle(HandleHook hook) { before_handle_ = std::move(hook); }
  void SetAfterHandle(HandleHook hook) { after_handle_ = std::move(hook); }

  // Connects to the agent and serves jobs until the agent closes the stream (then OK) or the
  // connection fails (UNAVAILABLE). A worker whose agent is gone exits rather than linger.
  absl::Status Run(WorkerOptions options = {});

  // Runs the handler for `type` here, in this process, as the local fallback does: the same
  // JobContext and hooks, with the request and the response in ordinary memory.
  // NotFound when no handler is registered for the type.
  absl::StatusOr<std::string> RunLocally(std::string_view type, std::string_view request,
                                         const std::map<std::string, std::string>& context = {});
  bool Handles(std::string_view type) const { return handlers_.count(std::string(type)) > 0; }

 private:
  std::map<std::string, Handler> handlers_;
  HandleHook before_handle_;
  HandleHook after_handle_;
  WorkerEnv env_;
};

}  // namespace jobd::client
