// The agent's peers: sessions and workers coming and going, their segments and side-socket
// grants, submits and results, and sends that never block.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/log_text.h"
#include "agent/submit_decoder.h"
#include "shm/monotonic.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

namespace {

pb::Completion Rejection(uint32_t seq, const absl::Status& status) {
  pb::Completion c;
  c.set_seq(seq);
  c.set_outcome(pb::OUTCOME_REJECTED);
  c.set_code(static_cast<int>(status.code()));
  c.set_message(std::string(status.message()));
  return c;
}

}  // namespace

absl::Status Agent::NewSegment(const std::string& name, const shm::SegmentShape& shape, bool worker, uint32_t id,
                               std::shared_ptr<shm::Segment>* segment, shm::UniqueFd* wake,
                               pb::SegmentGrant* grant) {
  absl::StatusOr<std::unique_ptr<shm::Segment>> seg = shm::Segment::Create(name, shape);
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
  grant->set_spin_us(static_cast<uint32_t>(absl::ToInt64Microseconds(config_.spin)));
  absl::MutexLock lock(&conns_mu_);
  pending_[token] = Pending{worker, id, absl::Now() + absl::Seconds(10)};
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SessionConn>> Agent::OpenSession(
    grpc::ServerReaderWriter<pb::AgentMessage, pb::ClientMessage>* stream, grpc::ServerContext* context,
    const pb::SessionHello& hello) {
  {
    absl::MutexLock lock(&conns_mu_);
    if (sessions_.size() >= config_.max_sessions) {
      metrics_.Rejected("_session", absl::StatusCode::kResourceExhausted);
      return absl::ResourceExhaustedError(absl::StrCat("jobd has ", sessions_.size(),
                                                       " sessions open, the most it takes (--max_sessions=",
                                                       config_.max_sessions, ")"));
    }
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
  pb::AgentMessage msg;
  pb::SessionWelcome* w = msg.mutable_welcome();
  if (absl::Status s = NewSegment(absl::StrCat("jobd-session-", conn->id), session_shape_, false, conn->id,
                                  &conn->segment, &conn->wake, w->mutable_segment());
      !s.ok()) {
    return s;
  }
  conn->channel = std::make_unique<AgentChannel>(conn->segment->channel(),
                                                 BacklogLimits{config_.peer_backlog_bytes, config_.peer_stall});
  ledger_.Add(conn->id, conn->segment);
  std::vector<std::string> types;
  {
    absl::MutexLock lock(&coord_mu_);
    coordinator_->OpenSession(conn->id);
    types = coordinator_->KnownTypes();
  }
  {
    absl::MutexLock lock(&conns_mu_);
    sessions_[conn->id] = conn;
  }
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

void Agent::HandleSubmit(SessionConn& session, const pb::Submit& s) {
  const int64_t received_ns = shm::MonotonicNanos();
  auto reject = [&](const absl::Status& status) {
    metrics_.Rejected(s.type(), status.code());
    pb::AgentMessage msg;
    *msg.mutable_completion() = Rejection(s.seq(), status);
    spdlog::warn("job {} type {} rejected (session {}, uid {}, pid {}): {}", coordinator::MakeJobId(session.id, s.seq()),
                 Quoted(s.type()), session.id, session.cred.uid, session.cred.pid, Quoted(status.ToString(), 512));
    SendToSession(session, msg);
  };
  if (!session.attached.load()) {
    return reject(absl::FailedPreconditionError("the session has not picked up its segment on the side socket"));
  }
  if (draining_.load()) {
    return reject(absl::UnavailableError("jobd is draining (shutting down): submit to another agent or retry later"));
  }
  if (auto looping = supervisor_->CrashLooping()) {
    return reject(absl::UnavailableError(absl::StrCat(
        "no worker is running: the worker command keeps failing (", *looping, "); jobd retries with backoff")));
  }
  if (absl::Status allowed = CheckAllowed(session, s.type()); !allowed.ok()) return reject(allowed);
  if (config_.max_slabs_per_session > 0) {
    // Clients allocate without asking (no round trip), so the quota bites where they submit;
    // their segment bounds what they can take at all.
    const uint32_t held = ledger_.SlabsOf(session.id);
    if (held > config_.max_slabs_per_session) {
      return reject(absl::ResourceExhaustedError(absl::StrCat("session holds ", held,
                                                              " slabs (max_slabs_per_session=",
                                                              config_.max_slabs_per_session, ")")));
    }
  }
  if (config_.max_jobs_per_uid > 0) {
    absl::MutexLock lock(&conns_mu_);
    const size_t live = uid_jobs_[session.cred.uid];
    if (live >= config_.max_jobs_per_uid) {
      return reject(absl::ResourceExhaustedError(absl::StrCat("uid ", session.cred.uid, " has ", live,
                                                              " live jobs across its sessions (--max-jobs-per-uid=",
                                                              config_.max_jobs_per_uid, ")")));
    }
  }
  absl::StatusOr<coordinator::JobRequest> r = DecodeSubmit(session.id, s);
  if (!r.ok()) return reject(r.status());
  r->trace.agent_received_ns = received_ns;
  absl::StatusOr<coordinator::Effects> effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->Submit(std::move(*r));
  }
  if (!effects.ok()) return reject(effects.status());
  if (config_.max_jobs_per_uid > 0) {
    absl::MutexLock lock(&conns_mu_);
    ++uid_jobs_[session.cred.uid];
  }
  // A job's deadline is the one timer a submit adds; housekeeping needs waking only when it is
  // sooner than what housekeeping already plans to look at (the first job after a quiet spell).
  const absl::Duration timeout = s.timeout_ms() > 0 ? absl::Milliseconds(s.timeout_ms()) : config_.default_timeout;
  if (absl::ToUnixNanos(absl::Now() + timeout) < planned_wake_ns_.load(std::memory_order_relaxed)) NoteTimers();
  if (s.policy() == pb::POLICY_NO_REPLY) {
    // Nobody waits for a NoReply job: the caller only learns that it was accepted.
    pb::AgentMessage ack;
    ack.mutable_completion()->set_seq(s.seq());
    ack.mutable_completion()->set_outcome(pb::OUTCOME_OK);
    SendToSession(session, ack);
  }
  Apply(std::move(*effects));
}

void Agent::HandleCancel(SessionConn& session, const pb::Cancel& cancel) {
  absl::StatusOr<coordinator::Effects> effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->Cancel(session.id, coordinator::MakeJobId(session.id, cancel.seq()));
  }
  NoteTimers();  // a running job's kill after the grace period
  if (effects.ok()) {
    Apply(std::move(*effects));
    return;
  }
  // Not a job the agent holds: it may be in the session's lane, so its leased worker is told.
  std::shared_ptr<WorkerConn> leased;
  {
    absl::MutexLock lock(&conns_mu_);
    for (auto& [id, w] : workers_) {
      if (w->leased_to.load() == session.id) leased = w;
    }
  }
  if (leased != nullptr) {
    coordinator::Effects fx;
    fx.cancels.push_back(coordinator::CancelRunning{leased->id, coordinator::MakeJobId(session.id, cancel.seq())});
    Apply(std::move(fx));
  }
}

void Agent::CloseSession(const std::shared_ptr<SessionConn>& session) {
  if (session->closed.exchange(true)) return;
  session->stream.Close();
  {
    absl::MutexLock lock(&conns_mu_);
    sessions_.erase(session->id);
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto next = std::next(it);
      if (!it->second.worker && it->second.id == session->id) pending_.erase(it);
      it = next;
    }
  }
  if (session->wake.valid()) (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, session->wake.get(), nullptr);
  conns_epoch_.fetch_add(1);
  coordinator::Effects effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->CloseSession(session->id);
  }
  NoteTimers();
  Apply(std::move(effects));
  // The segment stays while a job of the session may still touch it (a NoReply job runs on).
  {
    absl::MutexLock lock(&conns_mu_);
    lingering_.insert(session->id);
  }
  ReleaseLingeringSegments();
  spdlog::debug("session {} closed ({}, uid {}, pid {})", session->id, session->name, session->cred.uid,
                session->cred.pid);
}

void Agent::ReleaseLingeringSegments() {
  std::vector<coordinator::SessionId> done;
  {
    absl::MutexLock lock(&conns_mu_);
    if (lingering_.empty()) return;
    absl::MutexLock coord(&coord_mu_);
    for (coordinator::SessionId id : lingering_) {
      if (coordinator_->LiveJobsOf(id) != 0) continue;
      // A leased worker may still be answering a lane job into the segment.
      bool leased = false;
      for (auto& [wid, w] : workers_) leased |= w->leased_to.load() == id;
      if (!leased) done.push_back(id);
    }
    for (coordinator::SessionId id : done) lingering_.erase(id);
  }
  if (done.empty()) return;
  std::vector<std::shared_ptr<WorkerConn>> workers;
  {
    absl::MutexLock lock(&conns_mu_);
    for (auto& [id, w] : workers_) workers.push_back(w);
  }
  {
    absl::MutexLock lock(&conns_mu_);
    for (coordinator::SessionId id : done) session_uid_.erase(id);
  }
  for (coordinator::SessionId id : done) {
    ledger_.Remove(id);
    for (auto& w : workers) {
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
  conn->channel = std::make_unique<AgentChannel>(conn->segment->channel(),
                                                 BacklogLimits{config_.peer_backlog_bytes, config_.peer_stall});
  conn->types.assign(hello.types().begin(), hello.types().end());
  conn->lanes = hello.lanes();
  {
    absl::MutexLock lock(&conns_mu_);
    workers_[conn->id] = conn;
  }
  w->set_owner_id(conn->id);
  w->set_worker_index(conn->slot);
  w->set_session_classes(shm::FormatSizeClasses(session_shape_.classes));
  w->set_session_ring_capacity(session_shape_.ring_capacity);
  conn->stream.Write(msg);
  // It gets jobs once it has its channel (AttachWorker, on the side socket).
  return conn;
}

void Agent::HandleResult(WorkerConn& worker, const pb::JobResult& r) {
  const int64_t received_ns = shm::MonotonicNanos();
  const shm::Handle response = shm::Handle::FromBits(r.response().handle());
  absl::StatusOr<coordinator::Effects> effects;
  bool violation = false;
  {
    absl::MutexLock lock(&coord_mu_);
    if (r.early()) {
      effects = coordinator_->EarlyResponse(worker.id, r.job_id(), {response, r.response().size()});
    } else if (r.code() != 0) {
      effects = coordinator_->JobFinished(
          worker.id, r.job_id(), absl::Status(static_cast<absl::StatusCode>(r.code()), Quoted(r.message(), 4096)));
    } else {
      effects = coordinator_->JobFinished(worker.id, r.job_id(), coordinator::SlabRef{response, r.response().size()});
    }
    violation = !effects.ok();
    if (violation) {
      // A worker that answers with a slab it does not own, another job's slab, a size past its
      // slab or a job it was never given is broken or hostile: its job ends now with the
      // violation named, and the worker is replaced.
      const absl::Status why = absl::InternalError(
          absl::StrCat("worker ", worker.slot, " (pid ", worker.pid, ") sent a bad result for job ", r.job_id(), ": ",
                       effects.status().message(), "; the worker is replaced"));
      effects = coordinator_->WorkerGone(worker.id, why);
      spdlog::error("{}", std::string(why.message()));
      (void)supervisor_->StopOwner(worker.id, ExitReason::kCrash, SIGKILL);
    }
  }
  // A failed attempt may be retried after a backoff, a worker killed later, or a lease taken
  // back when idle: all are timers.
  if (violation || r.code() != 0 || !effects->kills.empty() || !effects->grants.empty()) NoteTimers();
  pb::JobResult stamped;
  stamped.set_job_id(r.job_id());
  *stamped.mutable_stamps() = r.stamps();
  stamped.mutable_stamps()->set_agent_result_ns(received_ns);
  Apply(std::move(*effects), &stamped);
}

void Agent::CloseWorker(const std::shared_ptr<WorkerConn>& worker) {
  if (worker->closed.exchange(true)) return;
  conns_epoch_.fetch_add(1);
  worker->stream.Close();
  if (worker->wake.valid()) (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, worker->wake.get(), nullptr);
  bool was_registered;
  {
    absl::MutexLock lock(&conns_mu_);
    was_registered = workers_.erase(worker->id) > 0;
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto next = std::next(it);
      if (it->second.worker && it->second.id == worker->id) pending_.erase(it);
      it = next;
    }
  }
  if (!was_registered) return;
  {
    // What it reported before it went: the lane job it was running, if any.
    DrainReportsOfClosedWorker(*worker);
  }
  EndLeaseOfLostWorker(*worker);
  coordinator::Effects effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->WorkerGone(worker->id);
  }
  NoteTimers();
  Apply(std::move(effects));
  // A worker without its stream is useless: make sure the process goes too. Its slabs are
  // reclaimed when it is reaped, once it can no longer touch them.
  if (!shut_down_.load()) (void)supervisor_->StopOwner(worker->id, ExitReason::kCrash, SIGKILL);
}

absl::Status Agent::GiveSegment(WorkerConn& worker, coordinator::SessionId session) {
  absl::MutexLock lock(&worker.side_mu);
  if (worker.segments.contains(session)) return absl::OkStatus();
  if (!worker.side.valid()) return absl::FailedPreconditionError("the worker has no side socket yet");
  std::shared_ptr<shm::Segment> segment = ledger_.Get(session);
  if (segment == nullptr) return absl::NotFoundError(absl::StrCat("session ", session, " has no segment"));
  std::byte record[5] = {std::byte{'X'}};
  std::memcpy(record + 1, &session, 4);
  const int fds[] = {segment->fd()};
  if (absl::Status s = shm::SendRecord(worker.side.get(), record, fds); !s.ok()) return s;
  worker.segments.insert(session);
  return absl::OkStatus();
}

void Agent::SendToSession(SessionConn& session, const pb::AgentMessage& message) {
  if (session.closed.load(std::memory_order_relaxed) || session.channel == nullptr) return;
  if (session.channel->Send(message)) {
    if (session.channel->backlogged()) WakePump();
    return;
  }
  spdlog::warn("session {} ({}, uid {}, pid {}) cut off: {}", session.id, session.name, session.cred.uid,
               session.cred.pid, session.channel->why());
  session.stream.Abort();
}

void Agent::SendToWorker(WorkerConn& worker, const pb::AgentToWorker& message) {
  if (worker.closed.load(std::memory_order_relaxed) || worker.channel == nullptr) return;
  if (worker.channel->Send(message)) {
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

}  // namespace jobd::agent
