// KPHP's JobLauncher: start jobs on the agent when one runs, or run the same handlers in this
// process when none does (the local fallback), with the same futures and error types.
//
//   jobd::client::Worker handlers;                  // the same registry the worker binary uses
//   handlers.Handle("rank", RankHandler);
//   auto launcher = jobd::client::Launcher::Create({}, &handlers);
//   auto job = launcher->Start("rank", bytes);      // remote if launcher->enabled(), else local
//
// Locally, Start runs the handler before it returns (the calling thread does the work) and the
// future is ready at once; a handler error arrives through Wait as kHandlerError, as remotely.
#pragma once

#include <memory>
#include <string_view>

#include "client/job_client.h"
#include "client/worker.h"

namespace jobd::client {

class Launcher {
 public:
  // Connects if an agent answers; `local` (may be null) runs jobs when none does.
  static std::unique_ptr<Launcher> Create(ClientOptions options = {}, Worker* local = nullptr);

  // True when jobs go to the agent.
  bool enabled() const { return client_ != nullptr && client_->enabled(); }
  // The agent's worker count; 1 when jobs run locally.
  uint32_t workers() const { return enabled() ? client_->workers() : 1; }
  // The connection, when there is one.
  JobClient* client() { return client_.get(); }
  // Why there is no agent (OK when there is one).
  const absl::Status& connect_status() const { return connect_status_; }

  absl::StatusOr<JobFuture> Start(std::string_view type, std::string_view request, const StartOptions& options = {});

 private:
  std::unique_ptr<JobClient> client_;
  Worker* local_ = nullptr;
  absl::Status connect_status_;
};

}  // namespace jobd::client
