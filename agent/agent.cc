#include "agent/agent.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/jobd_service.h"
#include "agent/log_text.h"
#include "agent/submit_decoder.h"
#include "shm/monotonic.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace jobd::agent {

namespace {

using coordinator::Outcome;

pb::Outcome ToProto(Outcome o) {
  switch (o) {
    case Outcome::kOk: return pb::OUTCOME_OK;
    case Outcome::kRejected: return pb::OUTCOME_REJECTED;
    case Outcome::kDeadlineExceeded: return pb::OUTCOME_DEADLINE_EXCEEDED;
    case Outcome::kWorkerDied: return pb::OUTCOME_WORKER_DIED;
    case Outcome::kHandlerError: return pb::OUTCOME_HANDLER_ERROR;
    case Outcome::kCancelled: return pb::OUTCOME_CANCELLED;
  }
  return pb::OUTCOME_REJECTED;
}

pb::Completion Rejection(uint32_t seq, const absl::Status& status) {
  pb::Completion c;
  c.set_seq(seq);
  c.set_outcome(pb::OUTCOME_REJECTED);
  c.set_code(static_cast<int>(status.code()));
  c.set_message(std::string(status.message()));
  return c;
}


}  // namespace

Agent::Agent(AgentConfig config) : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentConfig config) {
  std::unique_ptr<Agent> agent(new Agent(std::move(config)));
  if (absl::Status s = agent->Init(); !s.ok()) {
    agent->Shutdown(absl::ZeroDuration());
    return s;
  }
  return agent;
}

absl::Status Agent::Init() {
  started_at_ = clock_.Now();
  session_shape_.classes = config_.session_classes.empty() ? config_.size_classes : config_.session_classes;
  session_shape_.ring_capacity = config_.ring_capacity;
  absl::StatusOr<uint64_t> segment_bytes = shm::Segment::BytesFor(session_shape_);
  if (!segment_bytes.ok()) return segment_bytes.status();
  if (config_.memory_budget == 0) config_.memory_budget = *segment_bytes * 16;
  absl::StatusOr<std::unique_ptr<shm::AgentBeacon>> beacon = shm::AgentBeacon::Create();
  if (!beacon.ok()) return beacon.status();
  beacon_ = std::move(*beacon);
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  pump_wake_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_.valid() || !pump_wake_.valid()) return absl::ResourceExhaustedError("cannot create the pump's epoll");
  // The side socket has the gRPC socket's mode and group: whoever may talk to jobd may pick up
  // its own segment there, and nothing else.
  absl::StatusOr<shm::UniqueFd> side = shm::ListenUnix(config_.side_socket_path(), 0660);
  if (!side.ok()) return side.status();
  side_listen_ = std::move(*side);
  if (config_.socket_group != static_cast<gid_t>(-1)) {
    (void)chown(config_.side_socket_path().c_str(), static_cast<uid_t>(-1), config_.socket_group);
  }
  spdlog::info("session segments: {} each (sparse), classes {}; memory budget {}", shm::HumanBytes(*segment_bytes),
               shm::FormatSizeClasses(session_shape_.classes), shm::HumanBytes(config_.memory_budget));

  coordinator::CoordinatorOptions copts;
  copts.max_queue = config_.max_queue;
  copts.max_queued_per_session = config_.max_queued_per_session;
  copts.default_timeout = config_.default_timeout;
  copts.grace = config_.grace;
  copts.worker_max_jobs = config_.worker_max_jobs;
  {
    absl::MutexLock lock(&coord_mu_);
    coordinator_ = std::make_unique<coordinator::Coordinator>(copts, clock_, ledger_);
  }

  // The supervisor exists before any server does: health probes and sessions read it. Its
  // workers start last, once the socket they connect to is there.
  SupervisorOptions sopts;
  sopts.workers = config_.workers;
  sopts.argv = config_.worker_argv;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    if (entry.rfind("JOBD_SOCKET=", 0) == 0 || entry.rfind("JOBD_RUN_DIR=", 0) == 0 ||
        entry.rfind("JOBD_WORKER_", 0) == 0) {
      continue;
    }
    sopts.env.push_back(std::move(entry));
  }
  sopts.env.push_back("JOBD_SOCKET=" + config_.socket_path());
  sopts.env.push_back("JOBD_RUN_DIR=" + config_.run_dir);
  supervisor_ = std::make_unique<Supervisor>(std::move(sopts), launcher_, clock_);
  // A stale socket from a killed agent would make bind fail: it is ours to replace.
  unlink(config_.socket_path().c_str());
  service_ = std::make_unique<JobdService>(*this);
  // The standard grpc.health.v1 service, for probes and tools that speak it.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + config_.socket_path(), grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.socket_path()));
  }
  const mode_t socket_mode = 0660;
  chmod(config_.socket_path().c_str(), socket_mode);
  if (config_.socket_group != static_cast<gid_t>(-1)) {
    (void)chown(config_.socket_path().c_str(), static_cast<uid_t>(-1), config_.socket_group);
  }
  spdlog::info("listening on unix://{}", config_.socket_path());

  if (!config_.metrics_address.empty()) {
    auto http = HttpEndpoint::Start(
        config_.metrics_address, [this] { return MetricsText(); },
        [this]() -> absl::Status {
          pb::HealthReply h = Health();
          if (h.serving()) return absl::OkStatus();
          return absl::UnavailableError(h.draining() ? "draining"
                                                     : absl::StrCat(h.workers_ready(), " of ",
                                                                    h.workers_configured(), " workers ready"));
        });
    if (!http.ok()) return http.status();
    http_ = std::move(*http);
    const std::string host = config_.metrics_address.substr(0, config_.metrics_address.rfind(':'));
    spdlog::info("metrics on http://{}:{}/metrics (health: /healthz)", host, http_->port());
  }

  spdlog::info("starting {} workers: {}", config_.workers, absl::StrJoin(config_.worker_argv, " "));
  pump_ = std::thread([this] { PumpLoop(); });
  supervisor_->StartAll();
  housekeeping_wake_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!housekeeping_wake_.valid()) return absl::ResourceExhaustedError("cannot create the housekeeping eventfd");
  InstallChildExitWake(housekeeping_wake_.get());
  housekeeping_ = std::thread([this] { HousekeepingLoop(); });
  return absl::OkStatus();
}

Agent::~Agent() { Shutdown(absl::ZeroDuration()); }

void Agent::Drain() {
  if (draining_.exchange(true)) return;
  spdlog::info("draining: new jobs are refused");
  if (server_ != nullptr && server_->GetHealthCheckService() != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
}

void Agent::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  Drain();
  if (coordinator_ != nullptr) {
    const absl::Time until = clock_.Now() + grace;
    while (clock_.Now() < until && !hurry_.load()) {
      size_t live;
      {
        absl::MutexLock lock(&coord_mu_);
        live = coordinator_->LiveJobs();
      }
      if (live == 0) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  if (supervisor_ != nullptr) {
    std::vector<pid_t> pids = supervisor_->StopAll(SIGTERM);
    const absl::Time until = clock_.Now() + absl::Seconds(1);
    while (!supervisor_->Slots().empty() && clock_.Now() < until) {
      bool any = false;
      for (const SlotInfo& s : supervisor_->Slots()) any |= (s.state != SlotState::kBackoff);
      if (!any) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    supervisor_->StopAll(SIGKILL);
  }
  spdlog::info("workers stopped");
  if (housekeeping_.joinable()) {
    stop_housekeeping_.store(true);
    WakeHousekeeping();
    housekeeping_.join();
  }
  if (pump_.joinable()) {
    stop_pump_.store(true);
    WakePump();
    pump_.join();
  }
  http_.reset();
  spdlog::info("metrics endpoint closed");
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  if (server_ != nullptr) unlink(config_.socket_path().c_str());
  if (side_listen_.valid()) unlink(config_.side_socket_path().c_str());
  spdlog::info("stopped");
}

// ---------------------------------------------------------------- sessions

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
  if (effects.ok()) Apply(std::move(*effects));
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
      if (coordinator_->LiveJobsOf(id) == 0) done.push_back(id);
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
  // A failed attempt may be retried after a backoff, or a worker killed later: both are timers.
  if (violation || r.code() != 0 || !effects->kills.empty()) NoteTimers();
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
    return;
  }
  spdlog::warn("worker {} (pid {}) cut off: {}", worker.slot, worker.pid, worker.channel->why());
  worker.stream.Abort();
  (void)supervisor_->StopOwner(worker.id, ExitReason::kCrash, SIGKILL);
}

// ---------------------------------------------------------------- effects

void Agent::Apply(coordinator::Effects effects, const pb::JobResult* result) {
  for (coordinator::Dispatch& d : effects.dispatches) {
    std::shared_ptr<WorkerConn> conn;
    {
      absl::MutexLock lock(&conns_mu_);
      auto it = workers_.find(d.worker);
      if (it != workers_.end()) conn = it->second;
    }
    if (conn != nullptr) {
      if (absl::Status s = GiveSegment(*conn, coordinator::SessionOf(d.id)); !s.ok()) {
        // The job comes back through WorkerGone: retried or failed with the reason.
        spdlog::warn("job {} type {}: worker {} cannot take session {}'s segment: {}; replacing it", d.id,
                     Quoted(d.type), conn->slot, coordinator::SessionOf(d.id), s.ToString());
        conn->stream.Abort();
        continue;
      }
    }
    pb::AgentToWorker msg;
    pb::Assignment* a = msg.mutable_assignment();
    a->set_job_id(d.id);
    a->set_segment(coordinator::SessionOf(d.id));
    a->set_type(d.type);
    a->mutable_request()->set_handle(d.request.handle.bits());
    a->mutable_request()->set_size(d.request.size);
    if (d.shared.present()) {
      a->mutable_shared()->set_handle(d.shared.handle.bits());
      a->mutable_shared()->set_size(d.shared.size);
    }
    a->set_deadline_unix_us(absl::ToUnixMicros(d.deadline));
    a->mutable_context()->insert(d.context.begin(), d.context.end());
    a->set_attempt(d.attempt);
    pb::Stamps* stamps = a->mutable_stamps();
    stamps->set_client_sent_ns(d.trace.client_sent_ns);
    stamps->set_agent_received_ns(d.trace.agent_received_ns);
    stamps->set_agent_dispatched_ns(shm::MonotonicNanos());
    // A worker that vanished between dispatch and write is reported by its stream's end.
    if (conn == nullptr) {
      spdlog::warn("job {} type {}: worker {} is gone before dispatch", d.id, Quoted(d.type),
                   supervisor_->SlotOfOwner(d.worker).value_or(0));
      continue;
    }
    SendToWorker(*conn, msg);
  }
  for (coordinator::Completion& c : effects.completions) {
    // A session that ends with thousands of jobs cancels them all: one line each at debug, so
    // a client cannot buy megabytes of log by leaving.
    if (c.outcome == Outcome::kCancelled) {
      spdlog::debug("job {} type {} cancelled: {}", c.id, Quoted(c.type), Quoted(c.status.message(), 512));
    } else if (c.outcome != Outcome::kOk) {
      spdlog::warn("job {} type {} {}: {}", c.id, Quoted(c.type), coordinator::OutcomeName(c.outcome),
                   Quoted(c.status.message(), 512));
    }
    if (config_.max_jobs_per_uid > 0) {
      // Every accepted job ends in exactly one completion: its uid's count goes down here.
      absl::MutexLock lock(&conns_mu_);
      auto uid = session_uid_.find(c.session);
      if (uid != session_uid_.end()) {
        auto n = uid_jobs_.find(uid->second);
        if (n != uid_jobs_.end() && n->second > 0 && --n->second == 0) uid_jobs_.erase(n);
      }
    }
    metrics_.JobEnded(c.type, coordinator::OutcomeName(c.outcome), c.queue_wait, c.run_time,
                      c.run_time > absl::ZeroDuration());
    if (!c.deliver) continue;
    std::shared_ptr<SessionConn> conn;
    {
      absl::MutexLock lock(&conns_mu_);
      auto it = sessions_.find(c.session);
      if (it != sessions_.end()) conn = it->second;
    }
    if (conn == nullptr) continue;  // the session's slabs are reclaimed when it closes
    pb::AgentMessage msg;
    pb::Completion* pc = msg.mutable_completion();
    pc->set_seq(static_cast<uint32_t>(c.id));
    pc->set_outcome(ToProto(c.outcome));
    pc->set_code(static_cast<int>(c.status.code()));
    pc->set_message(std::string(c.status.message()));
    if (c.response.present()) {
      pc->mutable_response()->set_handle(c.response.handle.bits());
      pc->mutable_response()->set_size(c.response.size);
    }
    pc->set_queue_wait_us(absl::ToInt64Microseconds(c.queue_wait));
    pc->set_run_us(absl::ToInt64Microseconds(c.run_time));
    pc->set_attempts(c.attempts);
    if (result != nullptr && result->job_id() == c.id) {
      *pc->mutable_stamps() = result->stamps();
      pc->mutable_stamps()->set_agent_sent_ns(shm::MonotonicNanos());
    }
    SendToSession(*conn, msg);
  }
  for (const coordinator::CancelRunning& cancel : effects.cancels) {
    std::shared_ptr<WorkerConn> conn;
    {
      absl::MutexLock lock(&conns_mu_);
      auto it = workers_.find(cancel.worker);
      if (it != workers_.end()) conn = it->second;
    }
    if (conn == nullptr) continue;
    // On the side socket, not the ring: the worker's handler thread is busy with the job, and
    // its side reader is there to notice.
    std::byte record[9] = {std::byte{'C'}};
    std::memcpy(record + 1, &cancel.id, 8);
    absl::Status sent;
    {
      absl::MutexLock lock(&conn->side_mu);
      sent = conn->side.valid() ? shm::SendRecord(conn->side.get(), record, {})
                                : absl::FailedPreconditionError("no side socket");
    }
    if (!sent.ok()) {
      spdlog::warn("worker {}: cannot tell it job {} is cancelled ({}); it is killed after the grace", conn->slot,
                   cancel.id, sent.ToString());
    }
  }
  for (const coordinator::KillWorker& kill : effects.kills) {
    std::optional<uint32_t> slot = supervisor_->SlotOfOwner(kill.worker);
    if (!slot.has_value()) continue;
    ExitReason reason = ExitReason::kKilledOther;
    int signal = SIGKILL;
    switch (kill.reason) {
      case coordinator::KillReason::kDeadline: reason = ExitReason::kKilledDeadline; break;
      case coordinator::KillReason::kRecycle: reason = ExitReason::kRecycled; signal = SIGTERM; break;
      case coordinator::KillReason::kCancelled: reason = ExitReason::kKilledOther; break;
      case coordinator::KillReason::kMemory: reason = ExitReason::kKilledRss; signal = SIGTERM; break;
    }
    spdlog::warn("worker {}: stopping ({}{})", *slot, coordinator::KillReasonName(kill.reason),
                 kill.job != 0 ? absl::StrCat(", job ", kill.job) : "");
    (void)supervisor_->StopOwner(kill.worker, reason, signal);
  }
}

}  // namespace jobd::agent
