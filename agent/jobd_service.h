// The gRPC face of the agent: decodes streams and admin calls and hands them to Agent.
#pragma once

#include "proto/jobd.grpc.pb.h"

namespace jobd::agent {

class Agent;

class JobdService final : public ::jobd::v1::Jobd::Service {
 public:
  explicit JobdService(Agent& agent) : agent_(agent) {}

  grpc::Status Session(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<v1::AgentMessage, v1::ClientMessage>* stream) override;
  grpc::Status Work(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::AgentToWorker, v1::WorkerMessage>* stream) override;
  grpc::Status Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
                     v1::StatsReply* reply) override;
  grpc::Status Health(grpc::ServerContext* context, const v1::HealthRequest* request,
                      v1::HealthReply* reply) override;
  grpc::Status JobStatus(grpc::ServerContext* context, const v1::JobStatusRequest* request,
                         v1::JobStatusReply* reply) override;
  grpc::Status Drain(grpc::ServerContext* context, const v1::DrainRequest* request,
                     v1::DrainReply* reply) override;

 private:
  Agent& agent_;
};

}  // namespace jobd::agent
