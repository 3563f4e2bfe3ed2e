#include "agent/jobd_service.h"

#include "agent/agent.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace

grpc::Status JobdService::Session(grpc::ServerContext* context,
                                  grpc::ServerReaderWriter<v1::AgentMessage, v1::ClientMessage>* stream) {
  v1::ClientMessage msg;
  if (!stream->Read(&msg)) return grpc::Status::OK;
  if (!msg.has_hello()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a session starts with a hello message");
  }
  absl::StatusOr<std::shared_ptr<SessionConn>> session = agent_.OpenSession(stream, context, msg.hello());
  if (!session.ok()) return ToGrpc(session.status());
  // After the hello everything travels through the session's segment; the stream only says
  // that the client is still there. A client that keeps talking on it is ended.
  while (stream->Read(&msg)) {
    spdlog::warn("session {}: a message of kind {} on its stream, where only the hello belongs; ending it",
                 (*session)->id, static_cast<int>(msg.msg_case()));
    break;
  }
  agent_.CloseSession(*session);
  return grpc::Status::OK;
}

grpc::Status JobdService::Work(grpc::ServerContext* context,
                               grpc::ServerReaderWriter<v1::AgentToWorker, v1::WorkerMessage>* stream) {
  v1::WorkerMessage msg;
  if (!stream->Read(&msg)) return grpc::Status::OK;
  if (!msg.has_hello()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a worker stream starts with a hello message");
  }
  absl::StatusOr<std::shared_ptr<WorkerConn>> worker = agent_.OpenWorker(stream, context, msg.hello());
  if (!worker.ok()) {
    spdlog::warn("refused a worker (pid {}): {}", msg.hello().pid(), worker.status().ToString());
    return ToGrpc(worker.status());
  }
  while (stream->Read(&msg)) {
    // From now on the worker's process is its liveness (Detach in jobd.proto).
    if (msg.has_detach() && (*worker)->stream.Detach()) return grpc::Status::OK;
    if (!msg.has_detach()) {
      spdlog::warn("worker {}: a message on its stream, where only the hello and a detach belong; ending it",
                   (*worker)->slot);
    }
    break;
  }
  agent_.CloseWorker(*worker);
  return grpc::Status::OK;
}

grpc::Status JobdService::Stats(grpc::ServerContext*, const v1::StatsRequest*, v1::StatsReply* reply) {
  *reply = agent_.admin().Stats();
  return grpc::Status::OK;
}

grpc::Status JobdService::Health(grpc::ServerContext*, const v1::HealthRequest*, v1::HealthReply* reply) {
  *reply = agent_.admin().Health();
  return grpc::Status::OK;
}

grpc::Status JobdService::JobStatus(grpc::ServerContext*, const v1::JobStatusRequest* request,
                                    v1::JobStatusReply* reply) {
  absl::StatusOr<v1::JobStatusReply> st = agent_.admin().JobStatus(request->job_id());
  if (!st.ok()) return ToGrpc(st.status());
  *reply = *st;
  return grpc::Status::OK;
}

grpc::Status JobdService::Drain(grpc::ServerContext*, const v1::DrainRequest*, v1::DrainReply* reply) {
  agent_.Drain();
  reply->set_draining(true);
  return grpc::Status::OK;
}

}  // namespace jobd::agent
