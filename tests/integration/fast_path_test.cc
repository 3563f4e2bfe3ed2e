// The shared-memory channels (the fast path) with the real agent: a peer spoken by hand over
// the rings gets its answer there; a peer that breaks its ring loses only its own session; the
// stream still carries everything when the fast path is off or out of slots.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "shm/arena.h"
#include "shm/channel_file.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

// A session by hand that asks for a channel and speaks on it.
class RingSession {
 public:
  explicit RingSession(const std::string& socket, bool wants_channel = true)
      : channel_(grpc::CreateChannel(client::GrpcAddress(socket), grpc::InsecureChannelCredentials())),
        stub_(v1::Jobd::NewStub(channel_)),
        stream_(stub_->Session(&ctx_)) {
    v1::ClientMessage hello;
    hello.mutable_hello()->set_client_name("ring-by-hand");
    hello.mutable_hello()->set_wants_channel(wants_channel);
    if (!stream_->Write(hello) || !stream_->Read(&welcome_)) return;
    arena_ = std::move(*shm::Arena::Attach(welcome_.welcome().arena_path()));
    if (welcome_.welcome().has_channel()) {
      file_ = std::move(*shm::ChannelFile::Attach(welcome_.welcome().channel().path()));
      slot_ = *file_->Slot(welcome_.welcome().channel().slot());
    }
  }
  ~RingSession() {
    stream_->WritesDone();
    ctx_.TryCancel();
    (void)stream_->Finish();
  }
  const v1::SessionWelcome& welcome() const { return welcome_.welcome(); }
  bool has_ring() const { return file_ != nullptr; }
  shm::ChannelSlot& slot() { return slot_; }
  void RingAgent() { file_->agent_bell().Ring(); }

  v1::Submit Echo(uint32_t seq, const std::string& text) {
    auto slab = arena_->Allocate(text.size(), welcome().session_id());
    std::memcpy(slab->data.data(), text.data(), text.size());
    v1::Submit s;
    s.set_seq(seq);
    s.set_type("echo");
    s.mutable_request()->set_handle(slab->handle.bits());
    s.mutable_request()->set_size(text.size());
    return s;
  }
  bool PushUp(const v1::ClientMessage& m) {
    const std::string bytes = m.SerializeAsString();
    absl::StatusOr<bool> ok = slot_.up.TryPush(std::as_bytes(std::span(bytes.data(), bytes.size())));
    RingAgent();
    return ok.ok() && *ok;
  }
  // The next message down the ring, waiting up to `timeout`.
  std::optional<v1::AgentMessage> PopDown(absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      v1::AgentMessage m;
      bool parsed = false;
      absl::StatusOr<bool> got = slot_.down.TryPop(
          [&](std::span<const std::byte> b) { parsed = m.ParseFromArray(b.data(), static_cast<int>(b.size())); });
      if (got.ok() && *got && parsed) return m;
      absl::SleepFor(absl::Microseconds(200));
    }
    return std::nullopt;
  }
  // True when the agent ended the stream within `timeout`.
  bool StreamEnds(absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    ctx_.set_deadline(absl::ToChronoTime(until));
    v1::AgentMessage m;
    while (stream_->Read(&m)) {
    }
    return absl::Now() < until;
  }
  std::string_view ResponseText(const v1::Completion& c) {
    auto view = arena_->Resolve(shm::Handle::FromBits(c.response().handle()), c.response().size());
    if (!view.ok()) return "<bad handle>";
    return {reinterpret_cast<const char*>(view->data()), view->size()};
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Jobd::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientMessage, v1::AgentMessage>> stream_;
  v1::AgentMessage welcome_;
  std::unique_ptr<shm::Arena> arena_;
  std::unique_ptr<shm::ChannelFile> file_;
  shm::ChannelSlot slot_;
};

void ExpectServesAndLeaksNothing(AgentProcess& agent) {
  auto client = agent.Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = (*client)->Start("echo", "still serving")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "still serving");
  r->Release();
  client->reset();
  EXPECT_EQ(agent.WaitForSlabsInUse(0), 0u) << agent.Log();
}

TEST(FastPathTest, SubmitUpTheRingIsAnsweredDownTheRingWithEveryHopStamped) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  RingSession s((*agent)->socket_path());
  ASSERT_TRUE(s.has_ring()) << "a client that asks gets a channel";
  EXPECT_EQ(s.welcome().channel().path(), (*agent)->run_dir() + "/channels");
  v1::ClientMessage m;
  *m.mutable_submit() = s.Echo(1, "through shared memory");
  m.mutable_submit()->mutable_stamps()->set_client_sent_ns(1);
  ASSERT_TRUE(s.PushUp(m));
  std::optional<v1::AgentMessage> reply = s.PopDown(absl::Seconds(30));
  ASSERT_TRUE(reply.has_value()) << (*agent)->Log();
  const v1::Completion& c = reply->completion();
  EXPECT_EQ(c.seq(), 1u);
  EXPECT_EQ(c.outcome(), v1::OUTCOME_OK) << c.message();
  EXPECT_EQ(s.ResponseText(c), "through shared memory");
  const v1::Stamps& st = c.stamps();
  EXPECT_EQ(st.client_sent_ns(), 1) << "the client's own stamp comes back unchanged";
  const std::vector<int64_t> hops = {st.agent_received_ns(), st.agent_dispatched_ns(), st.worker_received_ns(),
                                     st.worker_done_ns(), st.agent_result_ns(), st.agent_sent_ns()};
  for (size_t i = 0; i < hops.size(); ++i) {
    EXPECT_GT(hops[i], 0) << "hop " << i;
    if (i > 0) {
      EXPECT_GE(hops[i], hops[i - 1]) << "hop " << i << " comes after hop " << i - 1;
    }
  }
}

TEST(FastPathTest, TheSdkRecordsWhereAJobsTimeWent) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto f = (*client)->Start("echo", "stamped");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Wait(absl::Seconds(30)).ok());
  const client::JobTimings t = f->timings();
  const std::vector<int64_t> order = {t.client_start_ns,    t.client_sent_ns,     t.agent_received_ns,
                                      t.agent_dispatched_ns, t.worker_received_ns, t.worker_done_ns,
                                      t.agent_result_ns,     t.agent_sent_ns,      t.client_received_ns,
                                      t.client_woken_ns};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_GT(order[i], 0) << "stamp " << i;
    if (i > 0) {
      EXPECT_GE(order[i], order[i - 1]) << "stamp " << i;
    }
  }
}

TEST(FastPathTest, GarbageUpTheRingEndsOnlyThatSessionAndLeaksNothing) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto bystander = (*agent)->Connect();
  ASSERT_TRUE(bystander.ok());
  {
    RingSession s((*agent)->socket_path());
    ASSERT_TRUE(s.has_ring());
    (void)s.Echo(1, "a slab the session holds when it is ended");
    const std::string junk = "\xff\xff\xff\xff not a protobuf";
    ASSERT_TRUE(*s.slot().up.TryPush(std::as_bytes(std::span(junk.data(), junk.size()))));
    s.RingAgent();
    EXPECT_TRUE(s.StreamEnds(absl::Seconds(30))) << "the agent ends a session that breaks its channel";
  }
  EXPECT_NE((*agent)->Log().find("malformed control message"), std::string::npos) << (*agent)->Log();
  auto r = (*bystander)->Start("echo", "unaffected")->Wait(absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "unaffected");
  r->Release();
  bystander->reset();
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, AnImpossibleRingIndexEndsOnlyThatSession) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  {
    RingSession s((*agent)->socket_path());
    ASSERT_TRUE(s.has_ring());
    s.slot().up.TryPush({}).IgnoreError();
    // Scribble over the head: more than a whole ring ahead of the agent's tail.
    auto* index = reinterpret_cast<std::atomic<uint64_t>*>(
        reinterpret_cast<std::byte*>(s.slot().peer_bell) + sizeof(shm::Doorbell));
    index->store(uint64_t{1} << 40);
    s.RingAgent();
    EXPECT_TRUE(s.StreamEnds(absl::Seconds(30)));
  }
  EXPECT_NE((*agent)->Log().find("impossible"), std::string::npos) << (*agent)->Log();
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, WithTheFastPathOffEverythingTakesTheStream) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--fast_path=false"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_NE(access(((*agent)->run_dir() + "/channels").c_str(), F_OK), 0) << "no channel file is made";
  RingSession s((*agent)->socket_path());
  EXPECT_FALSE(s.welcome().has_channel());
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, PeersBeyondTheChannelSlotsUseTheirStreams) {
  // Two slots: the worker takes one, the first client the other, the rest go without.
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--channel_slots=2"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::vector<std::unique_ptr<client::JobClient>> clients;
  for (int i = 0; i < 3; ++i) {
    auto c = (*agent)->Connect();
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(std::move(*c));
  }
  for (int round = 0; round < 20; ++round) {
    for (size_t i = 0; i < clients.size(); ++i) {
      const std::string text = absl::StrCat("client ", i, " round ", round);
      auto r = clients[i]->Start("echo", text)->Wait(absl::Seconds(30));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->view(), text);
    }
  }
  EXPECT_NE((*agent)->Log().find("every channel slot is taken"), std::string::npos);
  clients.clear();
  ExpectServesAndLeaksNothing(**agent);
}

TEST(FastPathTest, AHandWrittenClientThatDoesNotAskGetsNoChannel) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  RingSession s((*agent)->socket_path(), /*wants_channel=*/false);
  EXPECT_FALSE(s.welcome().has_channel()) << "old clients keep working on the stream alone";
}

}  // namespace
}  // namespace jobd::testing
