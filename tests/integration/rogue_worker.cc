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
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "client/peer_channel.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"
#include "proto/side_records.h"
#include "shm/fd_passing.h"

namespace v1 = jobd::v1;
namespace shm = jobd::shm;
namespace wire = jobd::wire;

int main() {
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
  std::map<uint32_t, std::unique_ptr<shm::Segment>> segments;
  const shm::OwnerId me = w.owner_id();
  for (;;) {
    v1::AgentToWorker m;
    absl::StatusOr<bool> got = ring.TryReceive(m);
    if (!got.ok()) return 5;
    if (!*got) {
      ring.Wait([&] { return ring.HasData(); }, absl::Milliseconds(100));
      continue;
    }
    if (!m.has_assignment()) continue;
    const v1::Assignment& a = m.assignment();
    while (!segments.contains(a.segment())) {
      auto r = shm::ReceiveRecord(side.get(), absl::Seconds(10));
      if (!r.ok()) return 6;
      const std::optional<wire::SideRecord> record = wire::DecodeSideRecord(r->bytes, r->fds.size());
      if (!record.has_value() || record->kind != wire::SideKind::kSessionSegment) continue;
      const auto id = static_cast<uint32_t>(record->id);
      auto seg = shm::Segment::Attach(std::move(r->fds[0]), shape);
      if (seg.ok()) segments[id] = std::move(*seg);
    }
    shm::Arena& arena = *segments[a.segment()]->arena();
    const shm::Handle request = shm::Handle::FromBits(a.request().handle());
    auto view = arena.Resolve(request, a.request().size());
    const std::string text = view.ok() ? std::string(reinterpret_cast<const char*>(view->data()), view->size()) : "";
    v1::WorkerMessage out;
    v1::JobResult* r = out.mutable_result();
    r->set_job_id(a.job_id());
    auto respond = [&](shm::Handle h, uint64_t size) {
      r->mutable_response()->set_handle(h.bits());
      r->mutable_response()->set_size(size);
    };
    if (text == "not-owned") {
      respond(arena.Allocate(16, a.segment())->handle, 4);
    } else if (text == "other-job") {
      respond(request, a.request().size());
    } else if (text == "too-big") {
      respond(arena.Allocate(16, me)->handle, 1 << 20);
    } else if (text == "bad-class") {
      respond(shm::Handle::Make(200, 0, 1), 4);
    } else if (text == "stale") {
      shm::Handle h = arena.Allocate(16, me)->handle;
      (void)arena.Free(h, me);
      respond(h, 4);
    } else if (text == "unknown-job") {
      r->set_job_id(a.job_id() + 12345);
    } else {
      auto slab = arena.Allocate(text.size(), me);
      std::memcpy(slab->data.data(), text.data(), text.size());
      respond(slab->handle, text.size());
    }
    (void)ring.TrySend(out);
    ring.WakeAgent();
  }
}
