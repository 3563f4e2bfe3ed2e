#include "client/launcher.h"

#include "absl/strings/str_cat.h"

namespace jobd::client {

std::unique_ptr<Launcher> Launcher::Create(ClientOptions options, Worker* local) {
  auto launcher = std::make_unique<Launcher>();
  launcher->local_ = local;
  auto client = JobClient::Connect(std::move(options));
  if (client.ok()) {
    launcher->client_ = std::move(*client);
  } else {
    launcher->connect_status_ = client.status();
  }
  return launcher;
}

absl::StatusOr<JobFuture> Launcher::Start(std::string_view type, std::string_view request,
                                          const StartOptions& options) {
  if (enabled()) return client_->Start(type, request, options);
  if (local_ == nullptr) {
    return WithOutcome(absl::UnavailableError(absl::StrCat("no jobd agent and no local handlers: ",
                                                           connect_status_.message())),
                       JobOutcome::kRejected);
  }
  if (!local_->Handles(type)) {
    return WithOutcome(absl::NotFoundError(absl::StrCat("no local handler for job type '", std::string(type), "'")),
                       JobOutcome::kRejected);
  }
  return JobFuture::Local(local_->RunLocally(type, request, options.context));
}

}  // namespace jobd::client
