// gRPC C++ unary calls over a Unix socket with the payload inline: the design jobd replaces.
// The server is its own process (bench_grpc_server); each caller has its own channel.
#include <sys/stat.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/suite/bench_echo.grpc.pb.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/carried_batch.h"
#include "tests/bench/suite/child_process.h"

namespace jobd::bench {
namespace {

namespace pb = ::jobd::bench::v1;

std::shared_ptr<grpc::Channel> Dial(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  // A channel per caller, not shared: gRPC would otherwise multiplex every caller on one
  // connection, and this peer should get its best case.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(), args);
}

class GrpcCaller : public Caller {
 public:
  explicit GrpcCaller(const std::string& socket) : socket_(socket), stub_(pb::BenchEcho::NewStub(Dial(socket))) {}

  absl::StatusOr<size_t> Call(std::string_view request) override {
    pb::Job job;
    job.set_payload(std::string(request));
    auto answer = Run(*stub_, job);
    if (!answer.ok()) return answer.status();
    if (absl::Status s = CheckBenchAnswer(request, *answer); !s.ok()) return s;
    return answer->size();
  }

  absl::Status CallMulti(std::string_view shared, const std::vector<std::string_view>& requests) override {
    return RunCarriedBatch(shared, requests, [this](std::string_view piece, std::string_view request) {
      auto stub = pb::BenchEcho::NewStub(Dial(socket_));
      pb::Job job;
      job.set_multi(true);
      job.set_shared_len(piece.size());
      std::string* payload = job.mutable_payload();
      payload->reserve(piece.size() + request.size());
      payload->append(piece).append(request);
      return Run(*stub, job);
    });
  }

 private:
  static absl::StatusOr<std::string> Run(pb::BenchEcho::Stub& stub, const pb::Job& job) {
    grpc::ClientContext ctx;
    pb::Answer answer;
    grpc::Status st = stub.Run(&ctx, job, &answer);
    if (!st.ok()) return absl::UnavailableError(absl::StrCat("grpc: ", st.error_message()));
    return std::move(*answer.mutable_payload());
  }

  std::string socket_;
  std::unique_ptr<pb::BenchEcho::Stub> stub_;
};

class GrpcUnarySystem : public BenchSystem {
 public:
  std::string name() const override { return "gRPC unary"; }

  absl::Status Start(const SystemOptions& options) override {
    socket_ = options.scratch_dir + "/grpc.sock";
    auto server = Spawn({JOBD_BENCH_BIN_DIR "/bench_grpc_server", socket_, std::to_string(options.workers)}, options.scratch_dir + "/grpc.log");
    if (!server.ok()) return server.status();
    server_ = *server;
    auto channel = Dial(socket_);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      return absl::UnavailableError("bench_grpc_server did not answer");
    }
    return absl::OkStatus();
  }

  absl::Status Attach(const std::string& address) override {
    socket_ = address;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller() override {
    return std::unique_ptr<Caller>(new GrpcCaller(socket_));
  }

  void Stop() override {
    StopChild(server_);
    server_ = 0;
  }

  size_t max_request() const override { return size_t{200} << 20; }
  pid_t server_pid() const override { return server_; }
  // The handler runs on the server's own threads: no worker processes.
  std::vector<pid_t> worker_pids() const override { return {}; }
  std::string address() const override { return socket_; }

 private:
  std::string socket_;
  pid_t server_ = 0;
};

}  // namespace

std::unique_ptr<BenchSystem> MakeGrpcUnarySystem() { return std::make_unique<GrpcUnarySystem>(); }

}  // namespace jobd::bench
