#include "client/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <optional>
#include <thread>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/peer_channel.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "proto/jobd.grpc.pb.h"
#include "proto/job_id.h"
#include "proto/ring_messages.h"
#include "proto/side_records.h"
#include "proto/wire_status.h"
#include "shm/monotonic.h"
#include "shm/mutex_deadlock_detection.h"
#include "shm/status_macros.h"
#include "shm/wall_clock.h"

namespace jobd::client {

namespace pb = ::jobd::v1;

Worker::Worker() = default;
Worker::~Worker() = default;

void Worker::Handle(std::string type, Handler handler) { handlers_[std::move(type)] = std::move(handler); }

namespace {

ABSL_ATTRIBUTE_HOT
absl::Status RunHandler(const Handler& handler, JobContext& ctx) {
  try {
    return handler(ctx);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("handler threw a non-standard exception");
  }
}

// What the reader threads share with the handler thread: cancels, and the session segments
// that arrive on the side socket.
struct Inbox {
  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint64_t running ABSL_GUARDED_BY(mu) = 0;
  // Cancels that came before their job left the ring.
  absl::flat_hash_set<uint64_t> cancelled_early ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint32_t, std::shared_ptr<shm::Segment>> segments ABSL_GUARDED_BY(mu);
  std::atomic<bool> cancelled{false};
  // Set when the agent goes away: the handler thread, asleep on the channel's doorbell, looks.
  std::atomic<bool> signal{false};
};

// The side socket: session segments ('X' + session id, one descriptor) and cancels ('C' + job
// id) from the agent, until the agent closes it.
void ReadSide(int side, const shm::SegmentShape& shape, Inbox& inbox, PeerChannel& ring) {
  for (;;) {
    // Shutting the socket down ends this wait, so it need not wake up to look.
    absl::StatusOr<shm::Record> r = shm::ReceiveRecord(side, absl::Minutes(1));
    if (r.status().code() == absl::StatusCode::kDeadlineExceeded) {
      absl::MutexLock lock(&inbox.mu);
      if (inbox.closed) return;
      continue;
    }
    if (!r.ok()) break;
    const std::optional<wire::SideRecord> record = wire::DecodeSideRecord(r->bytes, r->fds.size());
    if (!record.has_value()) continue;
    if (record->kind == wire::SideKind::kSessionSegment) {
      const auto id = static_cast<uint32_t>(record->id);
      absl::StatusOr<std::unique_ptr<shm::Segment>> seg = shm::Segment::Attach(std::move(r->fds[0]), shape);
      absl::MutexLock lock(&inbox.mu);
      // A segment that does not attach is left out: the job that needs it fails with that.
      if (seg.ok()) inbox.segments[id] = std::move(*seg);
    } else if (record->kind == wire::SideKind::kCancel) {
      const uint64_t id = record->id;
      absl::MutexLock lock(&inbox.mu);
      if (id == inbox.running) {
        inbox.cancelled.store(true);
      } else {
        inbox.cancelled_early.insert(id);
      }
    }
  }
  {
    absl::MutexLock lock(&inbox.mu);
    inbox.closed = true;
  }
  inbox.signal.store(true);
  ring.Wake();
}

}  // namespace

absl::StatusOr<std::string> Worker::RunLocally(std::string_view type, std::string_view request,
                                               const std::map<std::string, std::string>& context) {
  auto it = handlers_.find(std::string(type));
  if (it == handlers_.end()) {
    return absl::NotFoundError(absl::StrCat("no local handler for job type '", std::string(type), "'"));
  }
  JobContext ctx;
  ctx.type_ = std::string(type);
  ctx.request_ = std::as_bytes(std::span(request.data(), request.size()));
  ctx.deadline_ = absl::InfiniteFuture();
  ctx.context_ = context;
  ctx.env_ = &env_;
  if (before_handle_) before_handle_(ctx);
  absl::Status status = RunHandler(it->second, ctx);
  if (after_handle_) after_handle_(ctx);
  JOBD_RETURN_IF_ERROR(status);
  if (!ctx.committed_) return std::string();
  return std::move(ctx.local_response_);
}

absl::Status Worker::Run(WorkerOptions options) {
  shm::ConfigureMutexDeadlockDetection();
  const std::string socket = options.socket_path.empty() ? DefaultSocketPath() : options.socket_path;
  std::string token = options.token;
  if (token.empty()) {
    const char* t = std::getenv("JOBD_WORKER_TOKEN");
    if (t == nullptr) {
      return absl::FailedPreconditionError("JOBD_WORKER_TOKEN is not set: workers are started by jobd");
    }
    token = t;
  }
  // The handshake: hello, welcome, then this worker's segment through the side socket. After it
  // the stream would carry nothing, so the worker detaches and drops gRPC, whose timer threads
  // would otherwise wake it a few times a second for as long as it lives (Detach in jobd.proto).
  // From then on the side socket's end says the agent is gone.
  pb::WorkerWelcome welcome;
  PickedUp picked;
  {
    auto channel = grpc::CreateChannel(GrpcAddress(socket), grpc::InsecureChannelCredentials());
    auto stub = pb::Jobd::NewStub(channel);
    grpc::ClientContext context;
    auto stream = stub->Work(&context);
    pb::WorkerMessage hello;
    hello.mutable_hello()->set_token(token);
    hello.mutable_hello()->set_pid(getpid());
    hello.mutable_hello()->set_lanes(true);
    hello.mutable_hello()->set_job_records(true);
    for (const auto& [type, handler] : handlers_) hello.mutable_hello()->add_types(type);
    pb::AgentToWorker in;
    if (!stream->Write(hello) || !stream->Read(&in) || !in.has_welcome()) {
      grpc::Status st = stream->Finish();
      return absl::UnavailableError(absl::StrCat("jobd at ", socket, " refused the worker: ", st.error_message()));
    }
    welcome = std::move(*in.mutable_welcome());
    // The agent sends assignments down this worker's own channel, so a worker that cannot pick
    // it up must not pretend to serve.
    JOBD_ASSIGN_OR_RETURN(picked, PickUpSegment(welcome.segment()));
    pb::WorkerMessage detach;
    detach.mutable_detach();
    const bool detached = stream->Write(detach) && stream->WritesDone();
    // Finished either way: its status says why the agent ended the stream, if it did.
    if (grpc::Status st = stream->Finish(); !detached || !st.ok()) {
      return absl::UnavailableError(absl::StrCat("jobd at ", socket, " ended the worker's stream: ", st.error_message()));
    }
  }
  const shm::OwnerId owner = welcome.owner_id();
  shm::SegmentShape session_shape;
  JOBD_ASSIGN_OR_RETURN(session_shape.classes, shm::ParseSizeClasses(welcome.session_classes()));
  session_shape.ring_capacity = welcome.session_ring_capacity();
  shm::UniqueFd side = std::move(picked.side);
  auto ring = std::make_unique<PeerChannel>(std::move(picked), absl::Microseconds(welcome.segment().spin_us()));

  Inbox inbox;
  // Its end (the agent gone) sets `signal` and rings this worker's doorbell.
  std::thread side_reader([&] { ReadSide(side.get(), session_shape, inbox, *ring); });
  auto stop_readers = [&] {
    {
      absl::MutexLock lock(&inbox.mu);
      inbox.closed = true;
    }
    shutdown(side.get(), SHUT_RDWR);
    side_reader.join();
  };

  absl::Mutex write_mu;
  // A full ring means the agent is behind by a few hundred messages; it catches up quickly.
  // `try_send` () -> StatusOr<bool> pushes one message or record up the ring.
  auto write_with = [&](auto try_send) ABSL_ATTRIBUTE_HOT {
    absl::MutexLock lock(&write_mu);
    absl::Time give_up = absl::InfiniteFuture();  // read the clock only once the ring is full
    for (;;) {
      absl::StatusOr<bool> sent = try_send();
      if (sent.ok() && *sent) return true;
      if (give_up == absl::InfiniteFuture()) give_up = absl::Now() + absl::Seconds(10);
      if (!sent.ok() || absl::Now() > give_up || inbox.signal.load()) return false;
      absl::SleepFor(absl::Microseconds(20));
    }
  };
  auto write = [&](const pb::WorkerMessage& m) { return write_with([&] { return ring->TrySend(m); }); };
  auto write_result = [&](const wire::ResultRecord& r) { return write_with([&] { return ring->TrySendResult(r); }); };
  // The lease this worker serves, when it has one: the session's lane is a second source of
  // jobs, and while leased the worker sleeps on the lane's doorbell (the agent rings it too).
  struct Lease {
    uint32_t session = 0;
    uint32_t lane = 0;
    std::shared_ptr<shm::Segment> segment;
    absl::flat_hash_set<std::string> types;
    uint64_t default_timeout_ms = 0;
    uint64_t max_timeout_ms = 0;
    uint64_t max_context_bytes = 0;
    uint64_t jobs_left = 0;  // 0: no limit; else the lease is given back when it reaches 0
    uint64_t wake_if_due_within_ms = 0;
    shm::OwnerId answer_owner = shm::kNoOwner;  // where answers go before they are sent
  };
  std::optional<Lease> lease;
  // The segment of the job's session: sent on the side socket before the job's assignment.
  auto segment_of = [&](uint32_t id) -> std::shared_ptr<shm::Segment> {
    absl::MutexLock lock(&inbox.mu);
    auto has = [&] { return inbox.segments.contains(id) || inbox.closed; };
    inbox.mu.AwaitWithTimeout(absl::Condition(&has), absl::Seconds(10));
    auto it = inbox.segments.find(id);
    return it == inbox.segments.end() ? nullptr : it->second;
  };
  // Reports go up without waking the agent (it reads them when it next wakes), unless the ring
  // fills: then it is woken so that it catches up.
  // While leased the agent does not watch this ring to decide whether to sleep (its reports can
  // wait): a report that cannot (`wake_now`) wakes it whether it sleeps or not, with one write
  // after the push rather than the push's own wake-up as well.
  auto report = [&](const wire::LaneReport& m, bool wake_now = false) ABSL_ATTRIBUTE_HOT {
    absl::MutexLock lock(&write_mu);
    const bool wake_if_asleep = !wake_now && ring->up_used() > ring->up_capacity() / 4;
    absl::Time give_up = absl::InfiniteFuture();  // read the clock only once the ring is full
    for (;;) {
      absl::StatusOr<bool> sent = ring->TrySendLaneReport(m, wake_if_asleep);
      if (sent.ok() && *sent) {
        if (wake_now) ring->WakeAgent();
        return true;
      }
      if (give_up == absl::InfiniteFuture()) give_up = absl::Now() + absl::Seconds(10);
      if (!sent.ok() || absl::Now() > give_up || inbox.signal.load()) return false;
      ring->WakeAgent();
      absl::SleepFor(absl::Microseconds(20));
    }
  };
  auto release_lease = [&] {
    pb::WorkerMessage released;
    released.mutable_lease_released()->set_session(lease->session);
    released.mutable_lease_released()->set_lane(lease->lane);
    lease.reset();
    // A lease given back unasked (recycling due, a broken lane) is news the agent would otherwise
    // read only on its next tick.
    const bool sent = write(released);
    ring->WakeAgent();
    return sent;
  };
  // One job: from the agent (`a`) or from the lane (`lane_job`, its id already made).
  struct Next {
    bool from_lane = false;
    wire::AssignmentRecord a;
    wire::LaneJob lane_job;
  };
  // Kept between jobs: a message built and destroyed on every wake-up costs its cold code.
  pb::AgentToWorker m;
  // Job `id` is this worker's now: a cancel that came before it is seen as the job starts.
  auto take = [&](uint64_t id) {
    absl::MutexLock lock(&inbox.mu);
    inbox.running = id;
    inbox.cancelled.store(!inbox.cancelled_early.empty() && inbox.cancelled_early.erase(id) > 0);
  };
  // The next job; false when the agent is gone.
  auto next = [&](Next& job) ABSL_ATTRIBUTE_HOT -> absl::StatusOr<bool> {
    for (;;) {
      bool is_assignment = false;
      absl::StatusOr<bool> got = ring->TryReceiveOrAssignment(m, job.a, &is_assignment);
      if (!got.ok()) return got.status();
      if (*got && is_assignment) {
        job.from_lane = false;
        take(job.a.job_id);
        return true;
      }
      if (*got) {
        if (m.has_forget()) {
          absl::MutexLock lock(&inbox.mu);
          inbox.segments.erase(m.forget().segment());
          continue;
        }
        if (m.has_lease_grant()) {
          const pb::LeaseGrant& g = m.lease_grant();
          Lease l;
          l.session = g.session();
          l.lane = g.lane();
          l.segment = segment_of(g.session());
          l.types.insert(g.types().begin(), g.types().end());
          l.default_timeout_ms = g.default_timeout_ms();
          l.max_timeout_ms = g.max_timeout_ms();
          l.max_context_bytes = g.max_context_bytes();
          l.jobs_left = g.jobs_left();
          l.wake_if_due_within_ms = g.wake_if_due_within_ms();
          l.answer_owner = g.answer_owner();
          lease = std::move(l);
          // Without the session's memory there is nothing to serve: give the lease straight back.
          if (lease->segment == nullptr || lease->segment->lane().peer_bell == nullptr) {
            if (!release_lease()) return false;
          }
          continue;
        }
        if (m.has_lease_revoke()) {
          if (lease.has_value() && lease->lane == m.lease_revoke().lane()) {
            if (!release_lease()) return false;
          }
          continue;
        }
        // Its hello asked for AssignmentRecords: a job as a message is a broken protocol.
        if (m.has_assignment()) return absl::DataLossError("an Assignment message where a record was asked for");
        continue;
      }
      if (lease.has_value()) {
        // The client may rewrite the bytes meanwhile: the decoder copies each length once.
        absl::StatusOr<bool> popped = wire::PopLaneJob(lease->segment->lane().up, job.lane_job, "a malformed lane job");
        if (!popped.ok()) {
          // The session broke its own lane: it loses the lease, nothing else.
          if (!release_lease()) return false;
          continue;
        }
        if (*popped) {
          job.from_lane = true;
          take(MakeJobId(lease->session, job.lane_job.seq));
          return true;
        }
      }
      if (inbox.signal.load()) return false;
      if (lease.has_value()) {
        // The client rings the lane's doorbell, and so does the agent after writing to this
        // worker's channel. The timeout bounds what a client that scribbles on its own doorbell
        // can cost: a revoke noticed late, never a message lost.
        shm::Segment& seg = *lease->segment;
        ring->WaitOn(*seg.lane().peer_bell,
                     [&] { return ring->HasData() || seg.lane().up.HasData() || inbox.signal.load(); },
                     absl::Milliseconds(100));
      } else {
        // No timeout needed: the agent going away sets `signal` and rings this doorbell.
        ring->Wait([&] { return ring->HasData() || inbox.signal.load(); }, absl::Minutes(1));
      }
    }
  };
  const std::pair<const std::string, Handler>* last_handler = nullptr;  // the last type's entry
  // Runs the handler for a job whose request is in `arena`; fills `status` and the context.
  auto run = [&](JobContext& ctx, shm::Arena* arena, wire::LaneSlab request, wire::LaneSlab shared,
                 absl::Status& status) ABSL_ATTRIBUTE_HOT {
    if (status.ok() && request.handle != 0) {
      auto view = arena->Resolve(shm::Handle::FromBits(request.handle), request.size);
      if (view.ok()) ctx.request_ = *view; else status = view.status();
    }
    if (status.ok() && shared.handle != 0) {
      auto view = arena->Resolve(shm::Handle::FromBits(shared.handle), shared.size);
      if (view.ok()) ctx.shared_ = *view; else status = view.status();
    }
    if (status.ok()) {
      // Jobs of one type usually follow each other (a lane serves one session): the last
      // lookup spares a walk down the map's cold nodes.
      if (last_handler == nullptr || last_handler->first != ctx.type_) {
        auto it = handlers_.find(ctx.type_);
        last_handler = it == handlers_.end() ? nullptr : &*it;
      }
      if (last_handler == nullptr) {
        status = absl::NotFoundError(absl::StrCat("this worker has no handler for job type '", ctx.type_, "'"));
      } else {
        if (before_handle_) before_handle_(ctx);
        status = RunHandler(last_handler->second, ctx);
        if (after_handle_) after_handle_(ctx);
      }
    }
  };
  // A lane job: checked as the agent checks a submit, run, answered down the lane to the
  // client, and reported to the agent after the fact.
  auto serve_lane = [&](const wire::LaneJob& sub, int64_t received_ns) ABSL_ATTRIBUTE_HOT -> bool {
    Lease& l = *lease;
    const uint64_t id = MakeJobId(l.session, sub.seq);
    shm::Arena* arena = l.segment->arena();
    JobContext ctx;
    ctx.arena_ = arena;
    ctx.owner_ = owner;
    ctx.job_id_ = id;
    ctx.type_ = sub.type;
    ctx.attempt_ = 1;
    ctx.cancelled_ = &inbox.cancelled;
    ctx.env_ = &env_;
    absl::Status status;
    uint64_t context_bytes = 0;
    for (const auto& [k, v] : sub.context) context_bytes += k.size() + v.size();
    // (A lane job is a simple job: its record cannot ask for NoReply, ManualRespond, a shared
    // piece or retries.)
    if (!l.types.contains(sub.type)) {
      status = absl::NotFoundError(absl::StrCat("job type '", sub.type.substr(0, 128), "' is not served by this lane"));
    } else if (sub.timeout_ms > l.max_timeout_ms) {
      status = absl::InvalidArgumentError(
          absl::StrCat("timeout of ", sub.timeout_ms, " ms exceeds the agent's maximum of ", l.max_timeout_ms, " ms"));
    } else if (context_bytes > l.max_context_bytes) {
      status = absl::InvalidArgumentError(absl::StrCat("context of ", context_bytes, " bytes exceeds the limit of ",
                                                       l.max_context_bytes, " bytes"));
    } else if (sub.request.handle != 0) {
      absl::StatusOr<shm::OwnerId> holder = arena->OwnerOf(shm::Handle::FromBits(sub.request.handle));
      if (!holder.ok() || *holder != l.session) {
        status = absl::InvalidArgumentError("the request slab is not held by the session");
      }
    }
    const bool accepted = status.ok();
    const uint64_t timeout_ms = sub.timeout_ms != 0 ? sub.timeout_ms : l.default_timeout_ms;
    ctx.deadline_ = shm::WallNow() + absl::Milliseconds(static_cast<int64_t>(timeout_ms));
    ctx.context_.insert(sub.context.begin(), sub.context.end());
    // What the agent learns of this lane job, before and after it runs.
    wire::LaneReport lane_report;
    lane_report.session = l.session;
    lane_report.job_id = id;
    lane_report.type = sub.type;
    if (accepted) {
      lane_report.started = true;
      lane_report.deadline_unix_us = absl::ToUnixMicros(ctx.deadline_);
      if (!report(lane_report, timeout_ms < l.wake_if_due_within_ms)) return false;
      run(ctx, arena, sub.request, wire::LaneSlab(), status);
    }
    const int64_t done_ns = shm::MonotonicNanos();
    wire::LaneAnswer c;
    c.seq = sub.seq;
    if (status.ok() && ctx.committed_ && !ctx.response_.is_null()) {
      // The answer leaves this worker before it is sent: once the worker exits (recycled,
      // killed) the agent reclaims what it still holds, which must not be an answer the client
      // has not read yet.
      status = arena->Transfer(ctx.response_, owner, l.answer_owner);
      if (!status.ok()) {
        status = absl::DataLossError(absl::StrCat("cannot hand the answer to the lane: ", status.message()));
      }
    }
    if (status.ok()) {
      c.outcome = pb::OUTCOME_OK;
      if (ctx.committed_ && !ctx.response_.is_null()) {
        c.response = {ctx.response_.bits(), ctx.response_size_};
      } else if (!ctx.response_.is_null()) {
        (void)arena->Free(ctx.response_, owner);
      }
    } else {
      if (!ctx.response_.is_null()) (void)arena->Free(ctx.response_, owner);
      const absl::Status said = accepted ? absl::Status(status.code(), absl::StrCat("handler error: '", status.message(), "'"))
                                         : status;
      c.outcome = accepted ? pb::OUTCOME_HANDLER_ERROR : pb::OUTCOME_REJECTED;
      c.code = wire::CodeOnWire(said);
      c.message = std::string(said.message());
    }
    c.run_us = static_cast<uint64_t>((done_ns - received_ns) / 1000);
    c.client_sent_ns = sub.client_sent_ns;
    c.worker_received_ns = received_ns;
    c.worker_done_ns = done_ns;
    {
      absl::MutexLock lock(&inbox.mu);
      inbox.running = 0;
    }
    // The client drains its lane whenever it wakes; a client that stops reading only loses its
    // own answer, after a bounded wait, and with it the lease.
    shm::Segment& seg = *l.segment;
    absl::Time give_up = absl::InfiniteFuture();  // read the clock only once the lane is full
    bool answered = false;
    for (;;) {
      absl::StatusOr<bool> pushed = wire::PushLaneAnswer(seg.lane().down, c);
      if (pushed.ok() && *pushed) {
        answered = true;
        break;
      }
      if (give_up == absl::InfiniteFuture()) give_up = absl::Now() + absl::Seconds(1);
      if (!pushed.ok() || absl::Now() > give_up) break;
      seg.channel().peer_bell->Ring();
      absl::SleepFor(absl::Microseconds(50));
    }
    seg.channel().peer_bell->Ring();
    if (accepted) {
      lane_report.started = false;
      lane_report.deadline_unix_us = 0;
      lane_report.outcome = c.outcome;
      lane_report.run_us = c.run_us;
      if (!report(lane_report)) return false;
    }
    if (!answered) {
      if (c.response.handle != 0) (void)arena->Free(shm::Handle::FromBits(c.response.handle), l.answer_owner);
      return release_lease();
    }
    // Its recycling is due (--worker_max_jobs): back to the agent, which replaces it.
    if (l.jobs_left > 0 && --l.jobs_left == 0) return release_lease();
    return true;
  };
  bool serving = true;  // false once the agent is gone
  Next job;  // reused: its strings and the assignment's fields keep their memory between jobs
  while (serving) {
    absl::StatusOr<bool> got = next(job);
    if (!got.ok()) {
      stop_readers();
      return absl::DataLossError(absl::StrCat("channel to jobd broken: ", got.status().message()));
    }
    if (!*got) break;
    const int64_t received_ns = shm::MonotonicNanos();
    env_.Expire();
    if (job.from_lane) {
      serving = serve_lane(job.lane_job, received_ns);
      continue;
    }
    const wire::AssignmentRecord& a = job.a;
    wire::ResultRecord result;
    result.job_id = a.job_id;

    std::shared_ptr<shm::Segment> segment = segment_of(a.segment);
    shm::Arena* arena = segment != nullptr ? segment->arena() : nullptr;
    JobContext ctx;
    ctx.arena_ = arena;
    ctx.owner_ = owner;
    ctx.job_id_ = a.job_id;
    ctx.type_ = a.type;
    ctx.attempt_ = a.attempt;
    ctx.deadline_ = absl::FromUnixMicros(a.deadline_unix_us);
    ctx.context_.insert(a.context.begin(), a.context.end());
    ctx.cancelled_ = &inbox.cancelled;
    ctx.env_ = &env_;
    ctx.send_early_ = [&, id = a.job_id](shm::Handle h, uint64_t size) -> absl::Status {
      const wire::ResultRecord early{.job_id = id, .early = true, .response = {h.bits(), size}};
      if (!write_result(early)) return absl::UnavailableError("connection to jobd lost");
      return absl::OkStatus();
    };

    absl::Status status;
    if (inbox.cancelled.load()) {
      // Withdrawn while it waited behind the previous job (cancelled, past its deadline, or its
      // session ended): the agent has answered it already and only waits for this to let its
      // slabs go. The deadline itself is the agent's to judge: a worker's own reading of the
      // clock would race the agent's and could turn a deadline into a handler error.
      status = absl::CancelledError(absl::StrCat("job ", a.job_id, " was withdrawn before it started; skipped"));
    } else if (arena == nullptr) {
      status = absl::FailedPreconditionError(
          absl::StrCat("the shared memory of session ", a.segment, " never reached this worker"));
    }
    run(ctx, arena, a.request, a.shared, status);
    if (status.ok() && ctx.committed_ && !ctx.response_.is_null()) {
      result.response = {ctx.response_.bits(), ctx.response_size_};
    } else {
      if (!ctx.response_.is_null()) (void)arena->Free(ctx.response_, owner);
      wire::SetFailure(result, status);
    }
    {
      absl::MutexLock lock(&inbox.mu);
      inbox.running = 0;
    }
    result.stamps = a.stamps;
    result.stamps.worker_received_ns = received_ns;
    result.stamps.worker_done_ns = shm::MonotonicNanos();
    serving = write_result(result);
  }
  stop_readers();
  return absl::OkStatus();
}

}  // namespace jobd::client
