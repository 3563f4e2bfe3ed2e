// A worker that breaks the protocol on purpose, for rogue_worker_test. It speaks to jobd by hand
// (hello with the agent's token, its own segment from the side socket, session segments as jobs
// come) and answers each job of type "rogue" according to its request text:
//   good         an honest echo
//   not-owned    a response slab held by the session, not by this worker
//   other-job    the job's own request slab as its response
//   too-big      a size past the end of its response slab
//   bad-class    a handle naming a size class the segment does not have
//   stale        a slab it allocated and freed again
//   unknown-job  a result for a job id it was never given
//   garble-channel  no result: bytes that are no message, up its own channel to the agent
//   exit-keep-stream:PATH  no result: it forks a child that keeps its sockets (its gRPC stream
//                  among them) open for up to 60 s, writes the child's pid to PATH, and exits,
//                  as a worker whose helper process inherited its descriptors would
// With --detach it leaves its gRPC stream after the handshake, as jobd's own workers do (Detach
// in jobd.proto); without it, it keeps the stream open as a worker of an older SDK would. With
// --records it reads its jobs as AssignmentRecords and answers with ResultRecords
// (proto/worker_records.h), as jobd's own workers do; without it, in protobuf.
// It also takes leases (hello with lanes) and answers the jobs a session sends up its lane, again
// by request text:
//   lane-good         an honest echo, handed to the lease's answer owner first
//   lane-request      the job's own request slab, which the session holds
//   lane-not-handed   a slab it allocated and kept, never handed to the answer owner
//   lane-stale        a slab it handed to the answer owner and then freed from there
//   lane-vanish       nothing: it exits right after taking the job, before reporting it started
//   lane-started-vanish  it reports the job started, then exits without answering
//   lane-foreign-report  an honest echo, but its reports name a type it does not handle
//   lane-bad-outcome  an echo whose outcome is one past the last v1::Outcome
// and anything else up the lane as an honest echo.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "client/peer_channel.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "proto/job_id.h"
#include "proto/jobd.grpc.pb.h"
#include "proto/ring_messages.h"
#include "proto/side_records.h"
#include "shm/fd_passing.h"

namespace v1 = jobd::v1;
namespace shm = jobd::shm;
namespace wire = jobd::wire;

int main(int argc, char** argv) {
  bool detach = false;
  bool records = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--detach") detach = true;
    else if (flag == "--records") records = true;
    else return 2;
  }
  const char* token = std::getenv("JOBD_WORKER_TOKEN");
  const char* socket = std::getenv("JOBD_SOCKET");
  if (token == nullptr || socket == nullptr) return 2;
  auto channel = grpc::CreateChannel(jobd::client::GrpcAddress(socket), grpc::InsecureChannelCredentials());
  auto stub = v1::Jobd::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Work(&ctx);
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_token(token);
  hello.mutable_hello()->set_pid(getpid());
  hello.mutable_hello()->add_types("rogue");
  hello.mutable_hello()->set_lanes(true);
  hello.mutable_hello()->set_job_records(records);
  v1::AgentToWorker in;
  if (!stream->Write(hello) || !stream->Read(&in) || !in.has_welcome()) return 3;
  const v1::WorkerWelcome w = in.welcome();
  shm::SegmentShape shape;
  shape.classes = *shm::ParseSizeClasses(w.session_classes());
  shape.ring_capacity = w.session_ring_capacity();
  auto picked = jobd::client::PickUpSegment(w.segment());
  if (!picked.ok()) return 4;
  shm::UniqueFd side = std::move(picked->side);
  jobd::client::PeerChannel ring(std::move(*picked), absl::ZeroDuration());
  if (detach) {
    v1::WorkerMessage bye;
    bye.mutable_detach();
    if (!stream->Write(bye) || !stream->WritesDone() || !stream->Finish().ok()) return 7;
    stream.reset();
    stub.reset();
    channel.reset();
  }
  std::map<uint32_t, std::unique_ptr<shm::Segment>> segments;
  const shm::OwnerId me = w.owner_id();
  // The session segments come on the side socket, each before the first assignment or lease
  // that needs it.
  auto segment = [&](uint32_t id) -> shm::Segment* {
    while (!segments.contains(id)) {
      auto r = shm::ReceiveRecord(side.get(), absl::Seconds(10));
      if (!r.ok()) return nullptr;
      const std::optional<wire::SideRecord> record = wire::DecodeSideRecord(r->bytes, r->fds.size());
      if (!record.has_value() || record->kind != wire::SideKind::kSessionSegment) continue;
      auto seg = shm::Segment::Attach(std::move(r->fds[0]), shape);
      if (seg.ok()) segments[static_cast<uint32_t>(record->id)] = std::move(*seg);
    }
    return segments[id].get();
  };
  struct Lease {
    uint32_t session = 0;
    uint32_t lane = 0;
    shm::OwnerId answer_owner = shm::kNoOwner;
    shm::Segment* segment = nullptr;
  };
  std::optional<Lease> lease;
  auto release = [&] {
    v1::WorkerMessage released;
    released.mutable_lease_released()->set_session(lease->session);
    released.mutable_lease_released()->set_lane(lease->lane);
    lease.reset();
    (void)ring.TrySend(released);
  };
  // One job up the lane, answered down it by its text; the agent hears of it as of any lane job.
  auto serve_lane = [&](const wire::LaneJob& sub) {
    shm::Segment& seg = *lease->segment;
    shm::Arena& arena = *seg.arena();
    const shm::Handle request = shm::Handle::FromBits(sub.request.handle);
    auto view = arena.Resolve(request, sub.request.size);
    const std::string text = view.ok() ? std::string(reinterpret_cast<const char*>(view->data()), view->size()) : "";
    const uint64_t job_id = jobd::MakeJobId(lease->session, sub.seq);
    if (text == "lane-vanish") _exit(0);
    wire::LaneReport report;
    report.session = lease->session;
    report.job_id = job_id;
    report.type = text == "lane-foreign-report" ? "not-mine" : sub.type;
    report.started = true;
    report.deadline_unix_us = absl::ToUnixMicros(absl::Now() + absl::Seconds(60));
    (void)ring.TrySendLaneReport(report, false);
    if (text == "lane-started-vanish") _exit(0);
    wire::LaneAnswer c;
    c.seq = sub.seq;
    c.outcome = v1::OUTCOME_OK;
    auto answer = [&](shm::Handle h, uint64_t size) { c.response = {h.bits(), size}; };
    if (text == "lane-request") {
      answer(request, sub.request.size);
    } else if (text == "lane-not-handed") {
      answer(arena.Allocate(16, me)->handle, 4);
    } else if (text == "lane-stale") {
      shm::Handle h = arena.Allocate(16, me)->handle;
      (void)arena.Transfer(h, me, lease->answer_owner);
      (void)arena.Free(h, lease->answer_owner);
      answer(h, 4);
    } else {
      auto slab = arena.Allocate(text.size(), me);
      std::memcpy(slab->data.data(), text.data(), text.size());
      (void)arena.Transfer(slab->handle, me, lease->answer_owner);
      answer(slab->handle, text.size());
      if (text == "lane-bad-outcome") c.outcome = v1::Outcome_MAX + 1;
    }
    (void)wire::PushLaneAnswer(seg.lane().down, c);
    seg.channel().peer_bell->Ring();
    report.started = false;
    report.deadline_unix_us = 0;
    report.outcome = v1::OUTCOME_OK;
    (void)ring.TrySendLaneReport(report, false);
  };
  for (;;) {
    v1::AgentToWorker m;
    wire::AssignmentRecord a;
    bool is_record = false;
    absl::StatusOr<bool> got = ring.TryReceiveOrAssignment(m, a, &is_record);
    if (!got.ok()) return 5;
    if (*got && is_record != records && (is_record || m.has_assignment())) return 8;  // not what it asked for
    if (!*got) {
      if (lease.has_value()) {
        wire::LaneJob sub;
        absl::StatusOr<bool> popped = wire::PopLaneJob(lease->segment->lane().up, sub, "a malformed lane job");
        if (!popped.ok()) {
          release();
        } else if (*popped) {
          serve_lane(sub);
        } else {
          ring.WaitOn(*lease->segment->lane().peer_bell,
                      [&] { return ring.HasData() || lease->segment->lane().up.HasData(); }, absl::Milliseconds(100));
        }
      } else {
        ring.Wait([&] { return ring.HasData(); }, absl::Milliseconds(100));
      }
      continue;
    }
    if (m.has_lease_grant()) {
      const v1::LeaseGrant& g = m.lease_grant();
      lease = Lease{.session = g.session(), .lane = g.lane(), .answer_owner = g.answer_owner(),
                    .segment = segment(g.session())};
      if (lease->segment == nullptr || lease->segment->lane().peer_bell == nullptr) release();
      continue;
    }
    if (m.has_lease_revoke()) {
      if (lease.has_value() && lease->lane == m.lease_revoke().lane()) release();
      continue;
    }
    if (!is_record) {
      if (!m.has_assignment()) continue;
      const v1::Assignment& pa = m.assignment();
      a.job_id = pa.job_id();
      a.segment = pa.segment();
      a.request = {pa.request().handle(), pa.request().size()};
    }
    shm::Segment* seg = segment(a.segment);
    if (seg == nullptr) return 6;
    shm::Arena& arena = *seg->arena();
    const shm::Handle request = shm::Handle::FromBits(a.request.handle);
    auto view = arena.Resolve(request, a.request.size);
    const std::string text = view.ok() ? std::string(reinterpret_cast<const char*>(view->data()), view->size()) : "";
    wire::ResultRecord r;
    r.job_id = a.job_id;
    auto respond = [&](shm::Handle h, uint64_t size) { r.response = {h.bits(), size}; };
    if (text == "not-owned") {
      respond(arena.Allocate(16, a.segment)->handle, 4);
    } else if (text == "other-job") {
      respond(request, a.request.size);
    } else if (text == "too-big") {
      respond(arena.Allocate(16, me)->handle, 1 << 20);
    } else if (text == "bad-class") {
      respond(shm::Handle::Make(200, 0, 1), 4);
    } else if (text == "stale") {
      shm::Handle h = arena.Allocate(16, me)->handle;
      (void)arena.Free(h, me);
      respond(h, 4);
    } else if (text == "unknown-job") {
      r.job_id = a.job_id + 12345;
    } else if (text.starts_with("exit-keep-stream:")) {
      const pid_t child = fork();
      if (child == 0) {
        // Only the sockets stay open: a pipe kept open here could hold a test runner's output.
        for (int fd = 0; fd < 1024; ++fd) {
          struct stat st;
          if (fstat(fd, &st) == 0 && !S_ISSOCK(st.st_mode)) close(fd);
        }
        for (int i = 0; i < 600; ++i) usleep(100'000);
        _exit(0);
      }
      if (FILE* f = std::fopen(text.substr(sizeof "exit-keep-stream:" - 1).c_str(), "w")) {
        std::fprintf(f, "%d\n", static_cast<int>(child));
        std::fclose(f);
      }
      _exit(0);
    } else if (text == "garble-channel") {
      (void)ring.slot().up.TryPushWith(16, [](std::span<std::byte> bytes) {
        std::memset(bytes.data(), 0xff, bytes.size());
      });
      ring.WakeAgent();
      continue;
    } else {
      auto slab = arena.Allocate(text.size(), me);
      std::memcpy(slab->data.data(), text.data(), text.size());
      respond(slab->handle, text.size());
    }
    if (records) {
      (void)ring.TrySendResult(r);
    } else {
      v1::WorkerMessage out;
      out.mutable_result()->set_job_id(r.job_id);
      out.mutable_result()->mutable_response()->set_handle(r.response.handle);
      out.mutable_result()->mutable_response()->set_size(r.response.size);
      (void)ring.TrySend(out);
    }
    ring.WakeAgent();
  }
}
