// jobctl: the operator's view of a jobd agent, over its admin RPCs.
//   jobctl health | stats | slabs | workers | top | status JOB_ID | drain
//   jobctl submit TYPE [--data=TEXT | --file=PATH | (stdin)] [--timeout=5s]
// Every view takes --json for scripts. Exit status: 0 ok, 1 the agent said no, 2 bad usage.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "agent/jobctl/tables.h"
#include "client/job_client.h"
#include "client/socket_path.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"

ABSL_FLAG(std::string, socket, "", "agent socket (default: $JOBD_SOCKET, else /run/jobd/jobd.sock)");
ABSL_FLAG(bool, json, false, "print JSON instead of a table");
ABSL_FLAG(std::string, data, "", "submit: the payload");
ABSL_FLAG(std::string, file, "", "submit: read the payload from this file");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "submit: job timeout; admin calls: RPC deadline");
ABSL_FLAG(int, iterations, 0, "top: refresh this many times, then exit (0: until interrupted)");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1), "top: time between refreshes");

namespace {

namespace pb = ::jobd::v1;

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

int Fail(const std::string& what) {
  std::cerr << "jobctl: " << what << "\n";
  return 1;
}

int Submit(const std::string& socket, const std::string& type) {
  std::string payload;
  if (!absl::GetFlag(FLAGS_data).empty()) {
    payload = absl::GetFlag(FLAGS_data);
  } else if (!absl::GetFlag(FLAGS_file).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_file), std::ios::binary);
    if (!in) return Fail("cannot read " + absl::GetFlag(FLAGS_file));
    payload.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    payload.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  auto client = jobd::client::JobClient::Connect({.socket_path = socket, .client_name = "jobctl"});
  if (!client.ok()) return Fail(std::string(client.status().message()));
  const absl::Time start = absl::Now();
  auto future = (*client)->Start(type, payload, {.timeout = absl::GetFlag(FLAGS_timeout)});
  if (!future.ok()) return Fail("could not start: " + std::string(future.status().ToString()));
  auto response = future->Wait();
  if (!response.ok()) {
    return Fail("job " + std::to_string(future->id()) + " " +
                std::string(jobd::client::JobOutcomeName(jobd::client::OutcomeOf(response.status()))) + ": " +
                std::string(response.status().ToString()));
  }
  std::cout.write(response->view().data(), static_cast<std::streamsize>(response->size()));
  if (!response->view().empty() && response->view().back() != '\n') std::cout << "\n";
  std::cout << std::flush;
  std::cerr << "job " << future->id() << " ok: " << response->size() << " bytes in "
            << absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Microseconds(1))) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "jobctl health|stats|slabs|workers|top|status JOB_ID|drain|submit TYPE [--data=..|--file=..] [--json]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::cerr << absl::ProgramUsageMessage() << "\n";
    return 2;
  }
  const std::string cmd = args[1];
  std::string socket = absl::GetFlag(FLAGS_socket);
  if (socket.empty()) socket = jobd::client::DefaultSocketPath();
  if (cmd == "submit") {
    if (args.size() != 3) return std::cerr << "usage: jobctl submit TYPE [--data=..|--file=..]\n", 2;
    return Submit(socket, args[2]);
  }

  auto channel = grpc::CreateChannel(jobd::client::GrpcAddress(socket), grpc::InsecureChannelCredentials());
  auto stub = pb::Jobd::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
  const bool json = absl::GetFlag(FLAGS_json);
  grpc::Status st;
  if (cmd == "health") {
    pb::HealthReply reply;
    st = stub->Health(&ctx, pb::HealthRequest(), &reply);
    if (!st.ok()) return Fail("no agent at " + socket + ": " + st.error_message());
    std::cout << (json ? Json(reply) : jobd::jobctl::FormatHealth(reply));
    return reply.serving() ? 0 : 1;
  }
  if (cmd == "stats" || cmd == "slabs" || cmd == "workers") {
    pb::StatsReply reply;
    st = stub->Stats(&ctx, pb::StatsRequest(), &reply);
    if (!st.ok()) return Fail("no agent at " + socket + ": " + st.error_message());
    if (json) {
      std::cout << Json(reply);
    } else if (cmd == "stats") {
      std::cout << jobd::jobctl::FormatStats(reply);
    } else if (cmd == "slabs") {
      std::cout << jobd::jobctl::FormatSlabs(reply);
    } else {
      std::cout << jobd::jobctl::FormatWorkers(reply);
    }
    return 0;
  }
  if (cmd == "top") {
    const int iterations = absl::GetFlag(FLAGS_iterations);
    for (int i = 0; iterations == 0 || i < iterations; ++i) {
      grpc::ClientContext top_ctx;
      top_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      pb::StatsReply reply;
      st = stub->Stats(&top_ctx, pb::StatsRequest(), &reply);
      if (!st.ok()) return Fail("no agent at " + socket + ": " + st.error_message());
      // Like top: home the cursor and clear, then one screen.
      std::cout << "\033[H\033[2J" << "jobd " << socket << "   " << absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone())
                << "\n\n" << jobd::jobctl::FormatStats(reply) << "\n" << jobd::jobctl::FormatWorkers(reply) << "\n"
                << jobd::jobctl::FormatSlabs(reply) << std::flush;
      if (iterations == 0 || i + 1 < iterations) absl::SleepFor(absl::GetFlag(FLAGS_interval));
    }
    return 0;
  }
  if (cmd == "status") {
    uint64_t id = 0;
    if (args.size() != 3 || !absl::SimpleAtoi(args[2], &id)) return std::cerr << "usage: jobctl status JOB_ID\n", 2;
    pb::JobStatusRequest req;
    req.set_job_id(id);
    pb::JobStatusReply reply;
    st = stub->JobStatus(&ctx, req, &reply);
    if (!st.ok()) return Fail(st.error_message());
    std::cout << (json ? Json(reply) : reply.state() + (reply.outcome().empty() ? "" : " (" + reply.outcome() + ")") + "\n");
    return 0;
  }
  if (cmd == "drain") {
    pb::DrainReply reply;
    st = stub->Drain(&ctx, pb::DrainRequest(), &reply);
    if (!st.ok()) return Fail(st.error_message());
    std::cout << "draining\n";
    return 0;
  }
  std::cerr << "jobctl: unknown command '" << cmd << "'\n" << absl::ProgramUsageMessage() << "\n";
  return 2;
}
