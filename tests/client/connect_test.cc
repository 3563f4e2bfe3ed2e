// JobClient::Connect against a gRPC server that is not a working jobd: one that accepts the
// session stream and never welcomes it, and one that refuses it. Connect must come back with a
// clear error in both cases instead of blocking its caller.
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/job_client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/jobd.grpc.pb.h"

namespace jobd::client {
namespace {

using ::testing::HasSubstr;

// Reads the hello, then either holds the stream open without a word until the client goes away,
// or refuses it at once.
class SilentAgent final : public v1::Jobd::Service {
 public:
  explicit SilentAgent(bool refuse) : refuse_(refuse) {}

  grpc::Status Session(grpc::ServerContext*,
                       grpc::ServerReaderWriter<v1::AgentMessage, v1::ClientMessage>* stream) override {
    v1::ClientMessage hello;
    if (stream->Read(&hello)) {
      absl::MutexLock lock(&mu_);
      hello_name_ = hello.hello().client_name();
    }
    if (refuse_) return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no sessions left here");
    v1::ClientMessage ignored;
    while (stream->Read(&ignored)) {
    }
    return grpc::Status::OK;
  }

  std::string hello_name() {
    absl::MutexLock lock(&mu_);
    return hello_name_;
  }

 private:
  const bool refuse_;
  absl::Mutex mu_;
  std::string hello_name_;
};

class ConnectTest : public ::testing::Test {
 protected:
  void Start(bool refuse) {
    char dir_template[] = "/tmp/jobd-connect-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/jobd.sock";
    service_ = std::make_unique<SilentAgent>(refuse);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  // Connects on another thread, so that a Connect which never returns fails this test (after a
  // generous wait) instead of hanging it.
  absl::StatusOr<std::unique_ptr<JobClient>> ConnectWithin(absl::Duration connect_timeout) {
    ClientOptions options;
    options.socket_path = socket_;
    options.client_name = "connect-test";
    options.connect_timeout = connect_timeout;
    options.max_reconnect_backoff = absl::ZeroDuration();
    auto pending = std::async(std::launch::async, [options] { return JobClient::Connect(options); });
    if (pending.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "Connect still blocked 60 s after it started, with connect_timeout "
                    << absl::FormatDuration(connect_timeout);
      server_->Shutdown(std::chrono::system_clock::now());  // cancels the stream so the thread ends
    }
    return pending.get();
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    if (!dir_.empty()) std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }

  std::string dir_;
  std::string socket_;
  std::unique_ptr<SilentAgent> service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ConnectTest, AnAgentThatNeverWelcomesTheSessionFailsConnectAfterTheConnectTimeout) {
  Start(/*refuse=*/false);
  absl::StatusOr<std::unique_ptr<JobClient>> client = ConnectWithin(absl::Milliseconds(300));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(client.status().message(), HasSubstr("did not welcome the session within 300ms"));
  EXPECT_THAT(client.status().message(), HasSubstr(socket_));
  // The hello reached the server: the wait that timed out was the one for the welcome.
  EXPECT_EQ(service_->hello_name(), "connect-test");
}

TEST_F(ConnectTest, AnAgentThatRefusesTheSessionFailsConnectWithItsReason) {
  Start(/*refuse=*/true);
  absl::StatusOr<std::unique_ptr<JobClient>> client = ConnectWithin(absl::Seconds(30));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(client.status().message(), HasSubstr("refused the session: no sessions left here"));
}

}  // namespace
}  // namespace jobd::client
