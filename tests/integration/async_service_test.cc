// The async_service example against the real agent and square_worker: many concurrent gRPC
// requests, each fanned out into several jobs, every answer checked by value.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "examples/async_service/fan_out_service.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using examples::SumOfSquaresReply;
using examples::SumOfSquaresRequest;
using ::testing::HasSubstr;

class AsyncServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every job in flight holds a request slab and then a response slab of the session's
    // segment: 200 requests of up to 5 jobs need more small slabs than the default gives.
    auto agent = AgentProcess::Start(
        {.workers = 2, .worker_cmd = BinDir() + "/square_worker", .extra = {"--size_classes=4K:2048"}});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    auto client = agent_->Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    service_ = std::make_unique<examples::FanOutService>(*client_);
    const std::string address = absl::StrCat("unix://", agent_->run_dir(), "/fan-out.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = examples::FanOut::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    service_.reset();
    client_.reset();
    if (agent_ != nullptr) {
      EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
    }
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<client::JobClient> client_;
  std::unique_ptr<examples::FanOutService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<examples::FanOut::Stub> stub_;
};

TEST_F(AsyncServiceTest, ManyConcurrentRequestsEachGetTheSumOfTheirOwnSquares) {
  constexpr int kRequests = 200;
  struct Call {
    grpc::ClientContext context;
    SumOfSquaresRequest request;
    SumOfSquaresReply reply;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::BlockingCounter left(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    auto call = std::make_unique<Call>();
    for (int k = 0; k < 10 + i % 7; ++k) call->request.add_numbers(i * 100 + k - 50);
    call->request.set_parts(1 + i % 5);
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    calls.push_back(std::move(call));
  }
  // All requests are in flight together: the callback stub does not block per call either.
  for (auto& call : calls) {
    Call* c = call.get();
    stub_->async()->SumOfSquares(&c->context, &c->request, &c->reply, [c, &left](grpc::Status s) {
      c->status = std::move(s);
      left.DecrementCount();
    });
  }
  left.Wait();
  for (int i = 0; i < kRequests; ++i) {
    const Call& c = *calls[i];
    ASSERT_TRUE(c.status.ok()) << i << ": " << c.status.error_message();
    int64_t sum = 0;
    ASSERT_EQ(c.reply.squares_size(), c.request.numbers_size()) << i;
    for (int k = 0; k < c.request.numbers_size(); ++k) {
      const int64_t n = c.request.numbers(k);
      EXPECT_EQ(c.reply.squares(k), n * n) << "request " << i << " number " << k;
      sum += n * n;
    }
    EXPECT_EQ(c.reply.sum(), sum) << i;
    EXPECT_EQ(c.reply.jobs(), c.request.parts()) << i;
  }
  EXPECT_EQ(service_->in_flight(), 0);
  std::printf("peak requests in flight in the service: %lld\n", static_cast<long long>(service_->peak_in_flight()));
}

TEST_F(AsyncServiceTest, BadRequestIsRefusedWithInvalidArgument) {
  grpc::ClientContext context;
  SumOfSquaresRequest request;
  request.add_numbers(3);
  request.set_parts(0);
  SumOfSquaresReply reply;
  grpc::Status s = stub_->SumOfSquares(&context, request, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("parts must be 1 to 64"));
}

}  // namespace
}  // namespace jobd::testing
