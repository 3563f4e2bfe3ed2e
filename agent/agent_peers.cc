// The agent's peers: sessions and workers coming and going, their segments and side-socket
// grants, submits and results, and sends that never block.
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/effect_encoding.h"
#include "agent/log_text.h"
#include "agent/submit_decoder.h"
#include "proto/side_records.h"
#include "proto/wire_status.h"
#include "shm/monotonic.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

absl::Status Agent::NewSegment(const std::string& name, const shm::SegmentShape& shape, bool worker, uint32_t id,
                               std::shared_ptr<shm::Segment>* segment, shm::UniqueFd* wake,
                               pb::SegmentGrant* grant) {
  absl::StatusOr<std::unique_ptr<shm::Segment>> seg = make_segment_(name, shape);
  if (!seg.ok()) return seg.status();
  *segment = std::move(*seg);
  wake->Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake->valid()) return absl::ResourceExhaustedError(absl::StrCat("eventfd: ", strerror(errno)));
  std::string token(16, '\0');
  if (getrandom(token.data(), token.size(), 0) != static_cast<ssize_t>(token.size())) {
    return absl::InternalError("no randomness for a session token");
  }
  grant->set_side_socket(config_.side_socket_path());
  grant->set_token(token);
  grant->set_classes(shape.classes.empty() ? "" : shm::FormatSizeClasses(shape.classes));
  grant->set_ring_capacity(shape.ring_capacity);
  grant->set_spin_us(static_cast<uint32_t>(absl::ToInt64Microseconds(worker ? config_.spin : config_.client_spin)));
  peers_.AddToken(token, PendingPeer{worker, id, absl::Now() + absl::Seconds(10)});
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SessionConn>> Agent::OpenSession(
    grpc::ServerReaderWriter<pb::AgentMessage, pb::ClientMessage>* stream, grpc::ServerContext* context,
    const pb::SessionHello& hello) {
  if (const size_t open = peers_.SessionCount(); open >= config_.max_sessions) {
    metrics_.Rejected("_session", absl::StatusCode::kResourceExhausted);
    return absl::ResourceExhaustedError(absl::StrCat(
        "jobd has ", open, " sessions open, the most it takes (--max_sessions=", config_.max_sessions, ")"));
  }
  const uint64_t committed = ledger_.CommittedBytes();
  if (committed >= config_.memory_budget) {
    metrics_.Rejected("_session", absl::StatusCode::kResourceExhausted);
    return absl::ResourceExhaustedError(absl::StrCat(
        "shared memory budget spent: sessions commit ", shm::HumanBytes(committed), " of --memory_budget=",
        shm::HumanBytes(config_.memory_budget), "; retry when sessions close"));
  }
  auto conn = std::make_shared<SessionConn>(stream, context);
  conn->id = NewOwnerId();
  conn->name = Quoted(hello.client_name(), 64);
  conn->hello_pid = hello.pid();
  conn->lanes = hello.lanes();
  conn->completion_records = hello.completion_records();
  pb::AgentMessage msg;
  pb::SessionWelcome* w = msg.mutable_welcome();
  if (absl::Status s = NewSegment(absl::StrCat("jobd-session-", conn->id), session_shape_, false, conn->id,
                                  &conn->segment, &conn->wake, w->mutable_segment());
      !s.ok()) {
    return s;
  }
  conn->channel = std::make_unique<AgentChannel>(
      conn->segment->channel(), BacklogLimits{config_.peer_backlog_bytes, config_.peer_stall}, conn->segment);
  ledger_.Add(conn->id, conn->segment);
  const std::vector<std::string> types = coord_.With([&](coordinator::Coordinator& c) {
    c.OpenSession(conn->id);
    return c.KnownTypes();
  });
  peers_.AddSession(conn);
  w->set_session_id(conn->id);
  w->set_workers(config_.workers);
  for (auto& t : types) w->add_known_types(t);
  w->set_max_payload(session_shape_.classes.back().slab_size);
  // This session's own handler thread writes its welcome: a client that does not read blocks
  // only the thread that serves it.
  conn->stream.Write(msg);
  spdlog::debug("session {} opened: {} (pid {} says its hello)", conn->id, conn->name, conn->hello_pid);
  return conn;
}

absl::Status Agent::CheckAllowed(const SessionConn& session, const std::string& type) const {
  if (config_.allow.empty()) return absl::OkStatus();
  for (const AgentConfig::AllowRule& r : config_.allow) {
    if ((r.gid ? session.cred.gid : session.cred.uid) != r.id) continue;
    if (r.types.empty() || std::find(r.types.begin(), r.types.end(), type) != r.types.end()) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("uid ", session.cred.uid, " (gid ", session.cred.gid,
                                                  ") may not submit jobs of type ", Quoted(type),
                                                  ": no --allow rule lets it"));
}

absl::Status Agent::CheckAdmission(const SessionConn& session, const std::string& type) {
  if (!session.attached.load()) {
    return absl::FailedPreconditionError("the session has not picked up its segment on the side socket");
  }
  if (draining_.load()) {
    return absl::UnavailableError("jobd is draining (shutting down): submit to another agent or retry later");
  }
  if (auto looping = supervisor_->CrashLooping()) {
    return absl::UnavailableError(absl::StrCat("no worker is running: the worker command keeps failing (", *looping,
                                               "); jobd retries with backoff"));
  }
  if (absl::Status allowed = CheckAllowed(session, type); !allowed.ok()) return allowed;
  if (config_.max_slabs_per_session > 0) {
    // Clients allocate without asking (no round trip), so the quota bites where they submit;
    // their segment bounds what they can take at all.
    const uint32_t held = ledger_.SlabsOf(session.id);
    if (held > config_.max_slabs_per_session) {
      return absl::ResourceExhaustedError(
          absl::StrCat("session holds ", held, " slabs (max_slabs_per_session=", config_.max_slabs_per_session, ")"));
    }
  }
  if (config_.max_jobs_per_uid > 0) {
    absl::Status room = CheckUidQuota(session.cred.uid);
    if (room.ok()) return room;
    // A lease with no lane job holds its slot until --lease_idle; taken back now, the uid's
    // next submit fits a moment later instead of seconds later.
    if (const size_t idle = TakeBackIdleLeasesOfUid(session.cred.uid); idle > 0) {
      return absl::ResourceExhaustedError(absl::StrCat(room.message(), "; ", idle, idle == 1 ? " of them is" : " of them are",
                                                       " idle and being taken back: retry shortly"));
    }
    return room;
  }
  return absl::OkStatus();
}

size_t Agent::TakeBackIdleLeasesOfUid(uint32_t uid) {
  size_t taken = 0;
  for (const std::shared_ptr<WorkerConn>& worker : peers_.LeasedWorkersOfUid(uid)) {
    {
      absl::MutexLock lock(&worker->lane_mu);
      if (worker->lane.job != 0) continue;  // busy: its slot frees when the job ends
    }
    coordinator::Effects fx = coord_.With([&](coordinator::Coordinator& c) { return c.RevokeLease(worker->id); });
    if (fx.revokes.empty()) continue;  // already on its way back
    spdlog::info("worker {} taken back from session {}: uid {} is at --max-jobs-per-uid and the lease was idle",
                 worker->slot, fx.revokes.front().session, uid);
    Apply(std::move(fx));
    ++taken;
  }
  return taken;
}

absl::Status Agent::CheckUidQuota(uint32_t uid) const {
  const size_t live = peers_.LiveJobsOfUid(uid);
  const size_t leased = peers_.LeasesOfUid(uid);
  if (live + leased < config_.max_jobs_per_uid) return absl::OkStatus();
  const std::string leases =
      leased > 0 ? absl::StrCat(" (", leased, " of them workers leased to its sessions, which count as one job each)")
                 : std::string();
  return absl::ResourceExhaustedError(absl::StrCat("uid ", uid, " has ", live + leased,
                                                   " live jobs across its sessions", leases,
                                                   " (--max-jobs-per-uid=", config_.max_jobs_per_uid, ")"));
}

void Agent::HandleSubmit(SessionConn& session, const pb::Submit& s) {
  const int64_t received_ns = shm::MonotonicNanos();
  auto reject = [&](const absl::Status& status) {
    metrics_.Rejected(s.type(), status.code());
    spdlog::warn("job {} type {} rejected (session {}, uid {}, pid {}): {}", coordinator::MakeJobId(session.id, s.seq()),
                 Quoted(s.type()), session.id, session.cred.uid, session.cred.pid, Quoted(status.ToString(), 512));
    SendCompletion(session, FailedCompletionOf(s.seq(), pb::OUTCOME_REJECTED, status));
  };
  if (absl::Status admitted = CheckAdmission(session, s.type()); !admitted.ok()) return reject(admitted);
  absl::StatusOr<coordinator::JobRequest> r = DecodeSubmit(session.id, s);
  if (!r.ok()) return reject(r.status());
  r->trace.agent_received_ns = received_ns;
  absl::StatusOr<coordinator::Effects> effects =
      coord_.With([&](coordinator::Coordinator& c) { return c.Submit(std::move(*r)); });
  if (!effects.ok()) return reject(effects.status());
  if (config_.max_jobs_per_uid > 0) peers_.JobAccepted(session.cred.uid);
  // A job's deadline is the one timer a submit adds; housekeeping needs waking only when it is
  // sooner than what housekeeping already plans to look at (the first job after a quiet spell).
  const absl::Duration timeout = s.timeout_ms() > 0 ? absl::Milliseconds(s.timeout_ms()) : config_.default_timeout;
  if (wake_plan_.MaySooner(absl::Now() + timeout)) NoteTimers();
  if (s.policy() == pb::POLICY_NO_REPLY) {
    // Nobody waits for a NoReply job: the caller only learns that it was accepted.
    SendCompletion(session, wire::CompletionRecord{.seq = s.seq(), .outcome = pb::OUTCOME_OK});
  }
  Apply(std::move(*effects));
}

void Agent::HandleCancel(SessionConn& session, const pb::Cancel& cancel) {
  const uint64_t job = coordinator::MakeJobId(session.id, cancel.seq());
  absl::StatusOr<coordinator::Effects> effects =
      coord_.With([&](coordinator::Coordinator& c) { return c.Cancel(session.id, job); });
  NoteTimers();  // a running job's kill after the grace period
  if (effects.ok()) {
    Apply(std::move(*effects));
    return;
  }
  // Not a job the agent holds: it may be in the session's lane, so its leased worker is told.
  if (std::shared_ptr<WorkerConn> leased = peers_.WorkerLeasedTo(session.id)) {
    TellCancelled(coordinator::CancelRunning{leased->id, job});
  }
}

void Agent::CloseSession(const std::shared_ptr<SessionConn>& session) {
  if (session->closed.exchange(true)) return;
  session->stream.Close();
  peers_.RemoveSession(session->id);
  if (session->wake.valid()) pump_->watch().Remove(session->wake.get());
  peers_.Bump();
  coordinator::Effects effects = coord_.With([&](coordinator::Coordinator& c) { return c.CloseSession(session->id); });
  NoteTimers();
  Apply(std::move(effects));
  // The segment stays while a job of the session may still touch it (a NoReply job runs on).
  peers_.Linger(session->id);
  ReleaseLingeringSegments();
  spdlog::debug("session {} closed ({}, uid {}, pid {})", session->id, session->name, session->cred.uid,
                session->cred.pid);
}

void Agent::ReleaseLingeringSegments() {
  const std::vector<coordinator::SessionId> done = peers_.TakeReleasable([&](coordinator::SessionId id) {
    return coord_.With([&](coordinator::Coordinator& c) { return c.LiveJobsOf(id); });
  });
  if (done.empty()) return;
  const std::vector<std::shared_ptr<WorkerConn>> workers = peers_.Workers();
  for (coordinator::SessionId id : done) {
    ledger_.Remove(id);
    for (const auto& w : workers) {
      bool had;
      {
        absl::MutexLock lock(&w->side_mu);
        had = w->segments.erase(id) > 0;
      }
      if (!had) continue;
      pb::AgentToWorker forget;
      forget.mutable_forget()->set_segment(id);
      SendToWorker(*w, forget);
    }
  }
}

// ---------------------------------------------------------------- workers

absl::StatusOr<std::shared_ptr<WorkerConn>> Agent::OpenWorker(
    grpc::ServerReaderWriter<pb::AgentToWorker, pb::WorkerMessage>* stream, grpc::ServerContext* context,
    const pb::WorkerHello& hello) {
  auto conn = std::make_shared<WorkerConn>(stream, context);
  conn->id = NewOwnerId();
  conn->pid = hello.pid();
  absl::StatusOr<uint32_t> slot = supervisor_->Connect(hello.token(), hello.pid(), conn->id);
  if (!slot.ok()) return slot.status();
  conn->slot = *slot;
  pb::AgentToWorker msg;
  pb::WorkerWelcome* w = msg.mutable_welcome();
  std::shared_ptr<shm::Segment> segment;
  shm::SegmentShape shape;
  shape.ring_capacity = config_.ring_capacity;
  if (absl::Status s = NewSegment(absl::StrCat("jobd-worker-", conn->slot), shape, true, conn->id, &segment,
                                  &conn->wake, w->mutable_segment());
      !s.ok()) {
    return s;
  }
  conn->segment = std::move(segment);
  conn->channel = std::make_unique<AgentChannel>(
      conn->segment->channel(), BacklogLimits{config_.peer_backlog_bytes, config_.peer_stall}, conn->segment);
  conn->types.assign(hello.types().begin(), hello.types().end());
  conn->lanes = hello.lanes();
  conn->job_records = hello.job_records();
  peers_.AddWorker(conn);
  w->set_owner_id(conn->id);
  w->set_worker_index(conn->slot);
  w->set_session_classes(shm::FormatSizeClasses(session_shape_.classes));
  w->set_session_ring_capacity(session_shape_.ring_capacity);
  conn->stream.Write(msg);
  // It gets jobs once it has its channel (AttachWorker, on the side socket).
  return conn;
}

void Agent::HandleResult(WorkerConn& worker, const wire::ResultRecord& r) {
  const int64_t received_ns = shm::MonotonicNanos();
  const shm::Handle response = shm::Handle::FromBits(r.response.handle);
  const absl::Status failed = r.code != 0 ? wire::FailureFromWire(r.code, Quoted(r.message, 4096))
                                           : absl::OkStatus();
  absl::StatusOr<coordinator::Effects> effects;
  bool violation = false;
  coord_.With([&](coordinator::Coordinator& coord) {
    if (r.early) {
      effects = coord.EarlyResponse(worker.id, r.job_id, {response, r.response.size});
    } else if (!failed.ok()) {
      effects = coord.JobFinished(worker.id, r.job_id, failed);
    } else {
      effects = coord.JobFinished(worker.id, r.job_id, coordinator::SlabRef{response, r.response.size});
    }
    violation = !effects.ok();
    if (violation) {
      // A worker that answers with a slab it does not own, another job's slab, a size past its
      // slab or a job it was never given is broken or hostile: its job ends now with the
      // violation named, and the worker is replaced.
      const absl::Status why = absl::InternalError(
          absl::StrCat("worker ", worker.slot, " (pid ", worker.pid, ") sent a bad result for job ", r.job_id, ": ",
                       effects.status().message(), "; the worker is replaced"));
      effects = coord.WorkerGone(worker.id, why);
      spdlog::error("{}", std::string(why.message()));
      (void)supervisor_->StopOwner(worker.id, ExitReason::kCrash, SIGKILL);
    }
  });
  // A failed attempt may be retried after a backoff, a worker killed later, or a lease taken
  // back when idle: all are timers.
  if (violation || r.code != 0 || !effects->kills.empty() || !effects->grants.empty()) NoteTimers();
  const ResultStamps stamps{.job_id = r.job_id, .stamps = r.stamps, .agent_result_ns = received_ns};
  Apply(std::move(*effects), &stamps);
}

void Agent::CloseWorker(const std::shared_ptr<WorkerConn>& worker) {
  if (worker->closed.exchange(true)) return;
  peers_.Bump();
  worker->stream.Close();
  if (worker->wake.valid()) pump_->watch().Remove(worker->wake.get());
  if (!peers_.RemoveWorker(worker->id)) return;
  // What it sent before it went: the lane job it was running, and the answers to its jobs (an
  // answer says the job behind it may have started: its death then spends that job's attempt).
  coord_.With([&](coordinator::Coordinator& c) { c.WorkerLeaving(worker->id); });
  DrainClosedWorker(*worker);
  EndLeaseOfLostWorker(*worker);
  coordinator::Effects effects = coord_.With([&](coordinator::Coordinator& c) { return c.WorkerGone(worker->id); });
  NoteTimers();
  Apply(std::move(effects));
  // A worker without its stream is useless: make sure the process goes too. Its slabs are
  // reclaimed when it is reaped, once it can no longer touch them.
  if (!shut_down_.load()) (void)supervisor_->StopOwner(worker->id, ExitReason::kCrash, SIGKILL);
}

void Agent::EndWorker(WorkerConn& worker) {
  if (!worker.stream.Abort()) (void)supervisor_->StopOwner(worker.id, ExitReason::kCrash, SIGKILL);
}

absl::Status Agent::GiveSegment(WorkerConn& worker, coordinator::SessionId session) {
  absl::MutexLock lock(&worker.side_mu);
  if (worker.segments.contains(session)) return absl::OkStatus();
  if (!worker.side.valid()) return absl::FailedPreconditionError("the worker has no side socket yet");
  std::shared_ptr<shm::Segment> segment = ledger_.Get(session);
  if (segment == nullptr) return absl::NotFoundError(absl::StrCat("session ", session, " has no segment"));
  const wire::SideBytes record = wire::EncodeSideRecord({wire::SideKind::kSessionSegment, session});
  const int fds[] = {segment->fd()};
  if (absl::Status s = shm::SendRecord(worker.side.get(), record, fds); !s.ok()) return s;
  worker.segments.insert(session);
  return absl::OkStatus();
}

namespace {

// `send` (() -> bool) pushes down the session's channel; `wake_pump` when what it sent waits in
// the backlog. A session cut off is logged once: every later send to it fails as well, and a
// session that broke its ring with thousands of jobs pending would otherwise log each of them.
template <typename Send, typename WakePump>
void SendToSessionWith(SessionConn& session, Send send, WakePump wake_pump) {
  if (session.closed.load(std::memory_order_relaxed) || session.channel == nullptr) return;
  if (send()) {
    if (session.channel->backlogged()) wake_pump();
    return;
  }
  if (!session.cut_off.exchange(true)) {
    spdlog::warn("session {} ({}, uid {}, pid {}) cut off: {}", session.id, session.name, session.cred.uid,
                 session.cred.pid, session.channel->why());
  }
  session.stream.Abort();
}

}  // namespace

void Agent::SendToSession(SessionConn& session, const pb::AgentMessage& message) {
  SendToSessionWith(session, [&] { return session.channel->Send(message); }, [this] { WakePump(); });
}

void Agent::SendCompletion(SessionConn& session, const wire::CompletionRecord& completion) {
  if (!session.completion_records) return SendToSession(session, CompletionMessage(completion));
  SendToSessionWith(session, [&] { return session.channel->Send(completion); }, [this] { WakePump(); });
}

template <typename Send>
void Agent::SendToWorkerWith(WorkerConn& worker, Send send) {
  if (worker.closed.load(std::memory_order_relaxed) || worker.channel == nullptr) return;
  if (send(*worker.channel)) {
    if (worker.channel->backlogged()) WakePump();
    if (worker.leased_to.load(std::memory_order_relaxed) != 0) {
      // A leased worker sleeps on its lane's doorbell, not its channel's.
      absl::MutexLock lock(&worker.lane_mu);
      if (worker.lane.segment != nullptr) worker.lane.segment->lane().peer_bell->Ring();
    }
    return;
  }
  spdlog::warn("worker {} (pid {}) cut off: {}", worker.slot, worker.pid, worker.channel->why());
  worker.stream.Abort();
  (void)supervisor_->StopOwner(worker.id, ExitReason::kCrash, SIGKILL);
}

void Agent::SendToWorker(WorkerConn& worker, const pb::AgentToWorker& message) {
  SendToWorkerWith(worker, [&](AgentChannel& channel) { return channel.Send(message); });
}

void Agent::SendAssignment(WorkerConn& worker, const coordinator::Dispatch& d) {
  if (!worker.job_records) return SendToWorker(worker, EncodeAssignment(d, shm::MonotonicNanos()));
  SendToWorkerWith(worker, [&](AgentChannel& channel) {
    return channel.Send(AssignmentOf(d, shm::MonotonicNanos()), d.type, d.context);
  });
}

}  // namespace jobd::agent
