// An event-driven service in front of jobd: a gRPC callback-API server whose every request
// fans out into several jobs. Start jobd with square_worker as its worker, then:
//   async_service [listen address, default unix:///tmp/jobd-fan-out.sock]
#include <cstdio>

#include "examples/async_service/fan_out_service.h"
#include "grpcpp/grpcpp.h"

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "unix:///tmp/jobd-fan-out.sock";
  auto client = jobd::client::JobClient::Connect({.client_name = "async_service"});
  if (!client.ok()) return std::fprintf(stderr, "async_service: %s\n", client.status().ToString().c_str()), 1;
  jobd::examples::FanOutService service(**client);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return std::fprintf(stderr, "async_service: cannot listen on %s\n", address.c_str()), 1;
  std::printf("async_service: listening on %s, %u jobd workers\n", address.c_str(), (*client)->workers());
  std::fflush(stdout);
  server->Wait();
  return 0;
}
