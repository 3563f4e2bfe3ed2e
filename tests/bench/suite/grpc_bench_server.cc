// The gRPC-unary peer's server: a sync gRPC server on a Unix socket whose handler threads run
// the bench handler inline, one process with at most `workers` polling threads. (Capping its
// threads with a resource quota makes gRPC refuse calls with "Server Threadpool Exhausted"
// at 8 in flight, so the pool may grow past `workers` while calls wait: this peer gets its
// best case.)
//   bench_grpc_server <socket path> <workers>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/testworker/bench_handler.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/suite/bench_echo.grpc.pb.h"

namespace {

namespace pb = ::jobd::bench::v1;

class Service final : public pb::BenchEcho::Service {
  grpc::Status Run(grpc::ServerContext*, const pb::Job* job, pb::Answer* answer) override {
    uint64_t sink = 0;
    const std::string_view payload = job->payload();
    if (job->multi()) {
      if (job->shared_len() > payload.size()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "shared_len");
      *answer->mutable_payload() =
          jobd::bench::MultiAnswer(payload.substr(0, job->shared_len()), payload.substr(job->shared_len()), &sink);
    } else {
      *answer->mutable_payload() = jobd::bench::BenchAnswer(payload, &sink);
    }
    sink_ += sink;
    return grpc::Status::OK;
  }
  std::atomic<uint64_t> sink_{0};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return std::fprintf(stderr, "usage: %s SOCKET WORKERS\n", argv[0]), 2;
  const int workers = std::atoi(argv[2]);
  Service service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(std::string("unix://") + argv[1], grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(256 << 20);
  builder.SetMaxSendMessageSize(256 << 20);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, workers);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return std::fprintf(stderr, "cannot listen on %s\n", argv[1]), 1;
  server->Wait();
  return 0;
}
