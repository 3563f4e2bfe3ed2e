#include "agent/health_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace jobd::agent {

namespace hv1 = grpc::health::v1;

HealthService::ServingStatus HealthService::StatusOfLocked(const std::string& service) const {
  if (!service.empty() && service != "jobd.v1.Jobd") return hv1::HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_ ? hv1::HealthCheckResponse::SERVING : hv1::HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext*, const hv1::HealthCheckRequest* request,
                                  hv1::HealthCheckResponse* response) {
  absl::MutexLock lock(&mu_);
  const ServingStatus status = StatusOfLocked(request->service());
  if (status == hv1::HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("unknown service '", request->service().substr(0, 128),
                                     "': jobd reports '' (the agent) and 'jobd.v1.Jobd'"));
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context, const hv1::HealthCheckRequest* request,
                                  grpc::ServerWriter<hv1::HealthCheckResponse>* writer) {
  absl::MutexLock lock(&mu_);
  uint64_t seen = changes_;
  bool first = true;
  while (!shut_down_ && !context->IsCancelled()) {
    if (first || seen != changes_) {
      first = false;
      seen = changes_;
      hv1::HealthCheckResponse response;
      response.set_status(StatusOfLocked(request->service()));
      mu_.Unlock();
      const bool written = writer->Write(response);
      mu_.Lock();
      if (!written) break;
      continue;
    }
    // The timeout only notices a caller that went away; it costs a wake-up per second while a
    // Watch is open, nothing otherwise.
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shut_down_ || changes_ != seen; };
    mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Seconds(1));
  }
  return shut_down_ ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "jobd is stopping") : grpc::Status::OK;
}

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (serving_ == serving) return;
  serving_ = serving;
  ++changes_;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

}  // namespace jobd::agent
