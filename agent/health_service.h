// The standard grpc.health.v1 service (Check and Watch), served by the agent's own synchronous
// server. gRPC's built-in one (EnableDefaultHealthCheckService) is a callback service: on this
// platform it brings a callback completion queue whose threads wake about twice a second each,
// forever, which was a quarter of an idle agent's and workers' CPU.
//
// The overall status ("") and the agent's own service ("jobd.v1.Jobd") are SERVING until the
// agent drains; any other name is unknown (NOT_FOUND for Check, SERVICE_UNKNOWN for Watch).
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/grpc_health_v1.grpc.pb.h"

namespace jobd::agent {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  grpc::Status Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  // Sends the status, then each change of it, until the caller cancels or Shutdown.
  grpc::Status Watch(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

  // Serving or not (draining). Open Watches hear of the change.
  void SetServing(bool serving);
  // Ends every open Watch (the server is going away).
  void Shutdown();

 private:
  // SERVICE_UNKNOWN for a name this agent does not serve.
  ServingStatus StatusOfLocked(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = true;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace jobd::agent
