// The bad-input catalog (docs/bad-input.md), one row per case: each is sent on a raw stream,
// past the SDK's own checks, and must get an error that says what was wrong, change nothing,
// leak nothing, and leave the agent serving everyone else.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/socket_path.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/session_records.h"
#include "shm/arena.h"
#include "tests/integration/agent_process.h"
#include "tests/integration/raw_session.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto agent = AgentProcess::Start({.workers = 1});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = agent->release();
  }
  static void TearDownTestSuite() {
    delete agent_;
    agent_ = nullptr;
  }
  // The agent still answers a good job, and holds no slab.
  void ExpectStillServingAndNothingLeaked() {
    auto client = agent_->Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    auto r = (*client)->Start("echo", "still here")->Wait(absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->view(), "still here");
    r->Release();
    client->reset();
    EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u);
  }
  static v1::Submit Good(RawSession& s, uint32_t seq) {
    v1::Submit m;
    m.set_seq(seq);
    m.set_type("echo");
    const shm::Handle h = s.Slab();
    m.mutable_request()->set_handle(h.bits());
    m.mutable_request()->set_size(5);
    return m;
  }
  static AgentProcess* agent_;
};
AgentProcess* BadInputTest::agent_ = nullptr;

struct Row {
  std::string name;
  std::function<void(RawSession&, v1::Submit&)> mutate;
  absl::StatusCode code;
  std::string words;
};

TEST_F(BadInputTest, EverySubmitRowGetsAClearErrorChangesNothingAndLeaksNothing) {
  const std::vector<Row> rows = {
      {"forged handle: unknown size class", [](RawSession&, v1::Submit& m) {
         m.mutable_request()->set_handle(shm::Handle::Make(200, 1, 1).bits());
       }, absl::StatusCode::kInvalidArgument, "size class 200"},
      {"forged handle: index out of range", [](RawSession&, v1::Submit& m) {
         m.mutable_request()->set_handle(shm::Handle::Make(0, 99999, 1).bits());
       }, absl::StatusCode::kInvalidArgument, "out of range"},
      {"stale handle: freed slab", [](RawSession& s, v1::Submit& m) {
         const shm::Handle h = shm::Handle::FromBits(m.request().handle());
         (void)s.arena().Free(h, s.id());
       }, absl::StatusCode::kFailedPrecondition, "free"},
      {"stale handle: old generation", [](RawSession& s, v1::Submit& m) {
         const shm::Handle h = shm::Handle::FromBits(m.request().handle());
         m.mutable_request()->set_handle(shm::Handle::Make(h.size_class(), h.index(), h.generation() + 7).bits());
       }, absl::StatusCode::kFailedPrecondition, "stale"},
      {"foreign handle: another session's slab", [](RawSession& s, v1::Submit& m) {
         auto other = s.arena().Allocate(10, s.id() + 1000);
         m.mutable_request()->set_handle(other->handle.bits());
       }, absl::StatusCode::kPermissionDenied, "held by owner"},
      {"size larger than its slab", [](RawSession&, v1::Submit& m) { m.mutable_request()->set_size(5000); },
       absl::StatusCode::kOutOfRange, "exceeds"},
      {"size without a slab", [](RawSession&, v1::Submit& m) {
         m.mutable_request()->set_handle(0);
         m.mutable_request()->set_size(10);
       }, absl::StatusCode::kInvalidArgument, "no slab"},
      {"absurd timeout", [](RawSession&, v1::Submit& m) { m.set_timeout_ms(uint64_t{1} << 62); },
       absl::StatusCode::kInvalidArgument, "absurd"},
      {"timeout above the maximum", [](RawSession&, v1::Submit& m) { m.set_timeout_ms(25ull * 3600 * 1000); },
       absl::StatusCode::kInvalidArgument, "maximum"},
      {"unknown job type", [](RawSession&, v1::Submit& m) { m.set_type("no-such"); }, absl::StatusCode::kNotFound,
       "no worker handles"},
      {"empty job type", [](RawSession&, v1::Submit& m) { m.set_type(""); }, absl::StatusCode::kInvalidArgument,
       "empty"},
      {"job type with spaces", [](RawSession&, v1::Submit& m) { m.set_type("rm -rf"); },
       absl::StatusCode::kInvalidArgument, "printable"},
      {"job type too long", [](RawSession&, v1::Submit& m) { m.set_type(std::string(500, 'a')); },
       absl::StatusCode::kInvalidArgument, "longer than"},
      {"oversized context", [](RawSession&, v1::Submit& m) { (*m.mutable_context())["k"] = std::string(10000, 'v'); },
       absl::StatusCode::kInvalidArgument, "context of"},
      {"unknown policy", [](RawSession&, v1::Submit& m) { m.set_policy(static_cast<v1::Policy>(7)); },
       absl::StatusCode::kInvalidArgument, "unknown policy"},
      {"unknown priority", [](RawSession&, v1::Submit& m) { m.set_priority(static_cast<v1::Priority>(9)); },
       absl::StatusCode::kInvalidArgument, "unknown priority"},
      {"seq zero", [](RawSession&, v1::Submit& m) { m.set_seq(0); }, absl::StatusCode::kInvalidArgument, "seq"},
      {"too many attempts", [](RawSession&, v1::Submit& m) { m.mutable_retry()->set_max_attempts(1000); },
       absl::StatusCode::kInvalidArgument, "max_attempts"},
      {"NoReply sharing a piece", [](RawSession& s, v1::Submit& m) {
         m.set_policy(v1::POLICY_NO_REPLY);
         m.mutable_shared()->set_handle(s.Slab().bits());
         m.mutable_shared()->set_size(3);
       }, absl::StatusCode::kInvalidArgument, "cannot share"},
      {"shared size without a slab", [](RawSession&, v1::Submit& m) { m.mutable_shared()->set_size(3); },
       absl::StatusCode::kInvalidArgument, "without a shared slab"},
  };
  // Each row as a Submit message and as the SDK's SubmitRecord: one check for both.
  for (const bool as_record : {false, true}) {
  for (const Row& row : rows) {
    SCOPED_TRACE(absl::StrCat(row.name, as_record ? " (as a record)" : " (as a message)"));
    {
      RawSession s(agent_->socket_path());
      ASSERT_NE(s.id(), 0u);
      v1::Submit m = Good(s, 1);
      const shm::Handle request = shm::Handle::FromBits(m.request().handle());
      row.mutate(s, m);
      const auto owner_before = s.arena().OwnerOf(request);
      const v1::Completion c = s.Submit(m, as_record);
      EXPECT_EQ(c.outcome(), v1::OUTCOME_REJECTED);
      EXPECT_EQ(static_cast<absl::StatusCode>(c.code()), row.code) << c.message();
      EXPECT_THAT(c.message(), HasSubstr(row.words));
      const auto owner_after = s.arena().OwnerOf(request);
      EXPECT_EQ(owner_before.ok(), owner_after.ok());
      if (owner_before.ok() && owner_after.ok()) {
        EXPECT_EQ(*owner_before, *owner_after) << "the request slab moved";
      }
      s.arena().ReclaimOwner(s.id() + 1000);  // the "other session" the foreign-handle row made up
    }  // the session ends: whatever it held is reclaimed
    ExpectStillServingAndNothingLeaked();
  }
  }
}

// A record that does not decode is a broken channel, as a message that does not parse is: the
// agent ends that session (its jobs fail, its slabs go back) and serves everyone else.
TEST_F(BadInputTest, ASubmitRecordThatDoesNotDecodeEndsThatSessionOnly) {
  static constexpr const char* kMalformed = "a malformed control message on its channel";
  struct Broken {
    std::string name;
    std::function<std::vector<std::byte>(RawSession&)> bytes;
  };
  auto record = [](const wire::SubmitFixed& f, absl::string_view type,
                   const std::map<std::string, std::string>& context) {
    std::vector<std::byte> b(wire::SubmitRecordBytes(type, context));
    wire::EncodeSubmitRecord(f, type, context, b);
    return b;
  };
  const std::vector<Broken> cases = {
      {"a type that is not UTF-8", [&](RawSession& s) {
         return record({.seq = 1, .request = {s.Slab().bits(), 5}}, "echo\xff", {});
       }},
      {"a context value that is not UTF-8", [&](RawSession& s) {
         return record({.seq = 1, .request = {s.Slab().bits(), 5}}, "echo", {{"k", "\xc0\x80"}});
       }},
      {"cut short", [&](RawSession& s) {
         std::vector<std::byte> b = record({.seq = 1, .request = {s.Slab().bits(), 5}}, "echo", {});
         b.resize(b.size() - 2);
         return b;
       }},
      {"bytes after it", [&](RawSession& s) {
         std::vector<std::byte> b = record({.seq = 1, .request = {s.Slab().bits(), 5}}, "echo", {});
         b.push_back(std::byte{'x'});
         return b;
       }},
  };
  for (const Broken& broken : cases) {
    SCOPED_TRACE(broken.name);
    uint32_t id = 0;
    {
      RawSession s(agent_->socket_path());
      ASSERT_NE(s.id(), 0u);
      id = s.id();
      ASSERT_TRUE(s.PushBytes(broken.bytes(s)));
      EXPECT_TRUE(s.StreamEnds(absl::Seconds(30)));
    }
    EXPECT_THAT(agent_->Log(), HasSubstr(absl::StrCat("session ", id, ": DATA_LOSS: ", kMalformed, "; ending it")))
        << "the agent says why it ended the session";
    ExpectStillServingAndNothingLeaked();
  }
}

TEST_F(BadInputTest, AHandleSubmittedTwiceIsRefusedTheSecondTime) {
  {
    RawSession s(agent_->socket_path());
    v1::Submit m = Good(s, 1);
    EXPECT_EQ(s.Submit(m).outcome(), v1::OUTCOME_OK);
    m.set_seq(2);
    const v1::Completion again = s.Submit(m);
    EXPECT_EQ(again.outcome(), v1::OUTCOME_REJECTED);
    EXPECT_THAT(again.message(), ::testing::AnyOf(HasSubstr("is free"), HasSubstr("held by owner"), HasSubstr("stale")));
  }
  ExpectStillServingAndNothingLeaked();
}

TEST_F(BadInputTest, ADuplicateSeqWhileTheFirstJobLivesIsAlreadyExists) {
  {
    RawSession s(agent_->socket_path());
    v1::Submit slow = Good(s, 5);
    slow.set_type("sleep");
    std::memcpy(s.arena().Resolve(shm::Handle::FromBits(slow.request().handle()), 3)->data(), "300", 3);
    slow.mutable_request()->set_size(3);
    ASSERT_TRUE(s.Send(slow));
    ASSERT_TRUE(s.Send(Good(s, 5)));  // the same seq while job 5 sleeps
    const v1::Completion dup = s.Read();
    EXPECT_EQ(dup.seq(), 5u);
    EXPECT_EQ(dup.outcome(), v1::OUTCOME_REJECTED);
    EXPECT_EQ(static_cast<absl::StatusCode>(dup.code()), absl::StatusCode::kAlreadyExists);
    EXPECT_THAT(dup.message(), HasSubstr("already live"));
    const v1::Completion first = s.Read();
    EXPECT_EQ(first.outcome(), v1::OUTCOME_OK) << "the first job is undisturbed";
    (void)s.arena().Free(shm::Handle::FromBits(first.response().handle()), s.id());
  }
  ExpectStillServingAndNothingLeaked();
}

TEST_F(BadInputTest, ASessionThatDoesNotStartWithHelloIsEndedWithInvalidArgument) {
  auto channel = grpc::CreateChannel(client::GrpcAddress(agent_->socket_path()), grpc::InsecureChannelCredentials());
  auto stub = v1::Jobd::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Session(&ctx);
  v1::ClientMessage m;
  m.mutable_cancel()->set_seq(1);
  stream->Write(m);
  stream->WritesDone();
  v1::AgentMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("hello"));
  ExpectStillServingAndNothingLeaked();
}

TEST_F(BadInputTest, AWorkerWithAForgedTokenIsRefused) {
  auto channel = grpc::CreateChannel(client::GrpcAddress(agent_->socket_path()), grpc::InsecureChannelCredentials());
  auto stub = v1::Jobd::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Work(&ctx);
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_token("0-1-424242");
  hello.mutable_hello()->set_pid(getpid());
  hello.mutable_hello()->add_types("echo");
  stream->Write(hello);
  v1::AgentToWorker reply;
  EXPECT_FALSE(stream->Read(&reply));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("unknown worker token"));
  ExpectStillServingAndNothingLeaked();
}

TEST_F(BadInputTest, MalformedProtobufOnTheStreamEndsThatStreamOnly) {
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(grpc::CreateChannel(client::GrpcAddress(agent_->socket_path()),
                                             grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto call = stub.PrepareCall(&ctx, "/jobd.v1.Jobd/Session", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  const std::string garbage = "\xff\xff\xff\xff\x0f not a protobuf \x80\x80\x80";
  grpc::Slice slice(garbage);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  EXPECT_FALSE(ok) << "the agent sends nothing back on a garbage stream";
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  // gRPC's sync API reports a message that does not parse like the end of the stream, so the
  // agent cannot name the problem: it ends that stream (with no session opened) and goes on.
  EXPECT_TRUE(st.ok() || st.error_code() == grpc::StatusCode::INTERNAL) << st.error_message();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  ExpectStillServingAndNothingLeaked();
}

TEST_F(BadInputTest, GarbageBytesOnTheSocketAreDropped) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", agent_->socket_path().c_str());
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk(1 + rng() % 8192, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (round == 0) junk = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)!write(fd, junk.data(), junk.size());
    close(fd);
  }
  ExpectStillServingAndNothingLeaked();
}

struct BadFlag {
  std::vector<std::string> args;
  std::string words;
};

TEST(BadFlagsTest, EachBadFlagStopsJobdWithAMessageThatSaysWhatIsAllowed) {
  const std::vector<BadFlag> cases = {
      {{"--workers=-1"}, "allowed 0 (cores) to 1024"},
      {{"--workers=5000"}, "allowed 0 (cores) to 1024"},
      {{"--size-classes=4K:0"}, "out of range"},
      {{"--size-classes=100:4"}, "multiple of 64"},
      {{"--size-classes=junk"}, "size:count"},
      {{"--grace=-1s"}, "allowed 0 to 1h"},
      {{"--dispatch-ahead-max-run=1m"}, "--dispatch_ahead_max_run=1m: allowed 0 to 10s"},
      {{"--dispatch-ahead-depth=0"}, "--dispatch_ahead_depth=0: allowed 1 to 64"},
      {{"--dispatch_ahead_depth=65"}, "--dispatch_ahead_depth=65: allowed 1 to 64"},
      {{"--client-spin-us=20000"}, "--client_spin_us=20000: allowed 0 to 10000"},
      {{"--default-timeout=0s"}, "more than 0"},
      {{"--max-queue=0"}, "allowed 1"},
      {{"--worker-cmd=/no/such/binary"}, "not an executable"},
      {{"--worker-max-rss=lots"}, "not a byte count"},
      {{"--run-dir=relative/dir"}, "absolute path"},
      {{"--run-dir=/tmp"}, "world-writable"},
      {{"--socket-group=no-such-group-here"}, "no group"},
      {{"--run-dir=/tmp/jobd-flags-link"}, "symbolic link"},
      {{"--wrokers=2"}, "unknown flag --wrokers (--help lists the flags)"},
      {{"--workers=two"}, "--workers='two': not a valid INT"},
      {{"--grace"}, "--grace needs a value"},
      {{"--log-level=verbose"}, "allowed trace, debug, info, warn, error, critical, off"},
      {{"--log-format=xml"}, "allowed text, json"},
      {{"stray-argument"}, "jobd takes only flags"},
  };
  std::filesystem::remove("/tmp/jobd-flags-link");
  char target[] = "/tmp/jobd-flags-target.XXXXXX";
  ASSERT_NE(mkdtemp(target), nullptr);
  std::filesystem::create_directory_symlink(target, "/tmp/jobd-flags-link");
  for (const BadFlag& c : cases) {
    std::vector<std::string> argv = {BinDir() + "/jobd", "--metrics-address="};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    char dir[] = "/tmp/jobd-flags.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string err_path = std::string(dir) + "/err";
    ProgramResult r = RunProgram({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>" + err_path, argv[0], argv[1], argv[2]},
                                 {"JOBD_RUN_DIR=" + std::string(dir)});
    std::ifstream in(err_path);
    std::stringstream err;
    err << in.rdbuf();
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << ": " << err.str();
    EXPECT_THAT(err.str(), HasSubstr(c.words)) << c.args[0];
    std::filesystem::remove_all(dir);
  }
  std::filesystem::remove("/tmp/jobd-flags-link");
  std::filesystem::remove_all(target);
}

}  // namespace
}  // namespace jobd::testing
