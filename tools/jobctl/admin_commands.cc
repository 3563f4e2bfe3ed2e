// health, stats, slabs, workers, status: one admin RPC each, printed as a table or JSON.
#include <iostream>

#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "tools/jobctl/commands.h"
#include "tools/jobctl/json_views.h"
#include "tools/jobctl/tables.h"

namespace jobd::jobctl {
namespace {

std::unique_ptr<grpc::ClientContext> Deadline(const Options& o) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + o.timeout));
  return ctx;
}

int NoAgent(const Options& o, const grpc::Status& st) {
  return Fail("no agent at " + o.socket + ": " + st.error_message());
}

}  // namespace

std::unique_ptr<v1::Jobd::Stub> Connect(const Options& o) {
  return v1::Jobd::NewStub(
      grpc::CreateChannel(client::GrpcAddress(o.socket), grpc::InsecureChannelCredentials()));
}

int Fail(const std::string& what) {
  std::cerr << "jobctl: " << what << "\n";
  return 1;
}

int Health(const Options& o) {
  v1::HealthReply reply;
  const grpc::Status st = Connect(o)->Health(Deadline(o).get(), v1::HealthRequest(), &reply);
  if (!st.ok()) return NoAgent(o, st);
  std::cout << (o.json ? HealthJson(reply) : FormatHealth(reply));
  return reply.serving() ? 0 : 1;
}

int Stats(const Options& o, const std::string& view) {
  v1::StatsReply reply;
  const grpc::Status st = Connect(o)->Stats(Deadline(o).get(), v1::StatsRequest(), &reply);
  if (!st.ok()) return NoAgent(o, st);
  if (view == "stats") {
    std::cout << (o.json ? StatsJson(reply) : FormatStats(reply));
  } else if (view == "slabs") {
    std::cout << (o.json ? SlabsJson(reply) : FormatSlabs(reply));
  } else if (view == "sessions") {
    std::cout << (o.json ? SessionsJson(reply) : FormatSessions(reply));
  } else {
    std::cout << (o.json ? WorkersJson(reply) : FormatWorkers(reply));
  }
  return 0;
}

int JobStatus(const Options& o, uint64_t job_id) {
  v1::JobStatusRequest req;
  req.set_job_id(job_id);
  v1::JobStatusReply reply;
  const grpc::Status st = Connect(o)->JobStatus(Deadline(o).get(), req, &reply);
  if (!st.ok()) return Fail(st.error_message());
  if (o.json) {
    std::cout << JobJson(reply);
  } else {
    std::cout << reply.state() << (reply.outcome().empty() ? "" : " (" + reply.outcome() + ")") << "\n";
  }
  return 0;
}

}  // namespace jobd::jobctl
