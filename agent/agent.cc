#include "agent/agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/jobd_service.h"
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
  shm::ArenaOptions arena_options;
  arena_options.path = config_.arena_path();
  arena_options.classes = config_.size_classes;
  // Clients write their requests into the arena, so a group allowed on the socket needs rw.
  arena_options.mode = config_.socket_group == static_cast<gid_t>(-1) ? 0600 : 0660;
  absl::StatusOr<std::unique_ptr<shm::Arena>> arena = shm::Arena::Create(arena_options);
  if (!arena.ok()) return arena.status();
  arena_ = std::move(*arena);
  if (config_.socket_group != static_cast<gid_t>(-1)) {
    if (chown(config_.arena_path().c_str(), static_cast<uid_t>(-1), config_.socket_group) != 0) {
      return absl::PermissionDeniedError(absl::StrCat("cannot give the arena to group ", config_.socket_group));
    }
  }
  ledger_ = std::make_unique<ArenaLedger>(*arena_);
  if (config_.fast_path) {
    shm::ChannelFileOptions copts;
    copts.path = config_.channels_path();
    copts.slots = config_.channel_slots;
    copts.mode = arena_options.mode;
    auto channels = shm::ChannelFile::Create(copts);
    if (!channels.ok()) return channels.status();
    channels_ = std::move(*channels);
    if (config_.socket_group != static_cast<gid_t>(-1)) {
      (void)chown(config_.channels_path().c_str(), static_cast<uid_t>(-1), config_.socket_group);
    }
    absl::MutexLock lock(&conns_mu_);
    for (uint32_t i = 0; i < channels_->slots(); ++i) free_slots_.push_back(i);
  }
  spdlog::info("arena {} ({}), size classes {}", config_.arena_path(), shm::HumanBytes(arena_->mapped_bytes()),
               shm::FormatSizeClasses(config_.size_classes));

  coordinator::CoordinatorOptions copts;
  copts.max_queue = config_.max_queue;
  copts.max_queued_per_session = config_.max_queued_per_session;
  copts.default_timeout = config_.default_timeout;
  copts.grace = config_.grace;
  copts.worker_max_jobs = config_.worker_max_jobs;
  {
    absl::MutexLock lock(&coord_mu_);
    coordinator_ = std::make_unique<coordinator::Coordinator>(copts, clock_, *ledger_);
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
  if (channels_ != nullptr) pump_ = std::thread([this] { PumpLoop(); });
  supervisor_->StartAll();
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
    stop_housekeeping_.Notify();
    housekeeping_.join();
  }
  if (pump_.joinable()) {
    stop_pump_.store(true);
    channels_->agent_bell().seq.fetch_add(1);
    shm::internal::FutexWakeAll(&channels_->agent_bell().seq);
    pump_.join();
  }
  http_.reset();
  spdlog::info("metrics endpoint closed");
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  if (server_ != nullptr) unlink(config_.socket_path().c_str());
  if (arena_ != nullptr) (void)arena_->Unlink();
  if (channels_ != nullptr) (void)channels_->Unlink();
  spdlog::info("stopped");
}

// ---------------------------------------------------------------- sessions

absl::StatusOr<std::shared_ptr<SessionConn>> Agent::OpenSession(
    grpc::ServerReaderWriter<pb::AgentMessage, pb::ClientMessage>* stream, grpc::ServerContext* context,
    const pb::SessionHello& hello) {
  auto conn = std::make_shared<SessionConn>(stream, context);
  conn->id = NewOwnerId();
  conn->name = hello.client_name();
  conn->pid = hello.pid();
  std::vector<std::string> types;
  {
    absl::MutexLock lock(&coord_mu_);
    coordinator_->OpenSession(conn->id);
    types = coordinator_->KnownTypes();
  }
  pb::AgentMessage msg;
  pb::SessionWelcome* w = msg.mutable_welcome();
  if (hello.wants_channel()) conn->channel = OpenChannel(w->mutable_channel());
  if (conn->channel == nullptr) w->clear_channel();
  {
    absl::MutexLock lock(&conns_mu_);
    sessions_[conn->id] = conn;
  }
  // The pump learns of the channel before the client can write to it.
  if (conn->channel != nullptr) conns_epoch_.fetch_add(1);
  w->set_session_id(conn->id);
  w->set_arena_path(config_.arena_path());
  w->set_workers(config_.workers);
  for (auto& t : types) w->add_known_types(t);
  w->set_max_payload(config_.size_classes.back().slab_size);
  conn->stream.Write(msg);
  spdlog::debug("session {} opened: {} pid {}", conn->id, conn->name, conn->pid);
  return conn;
}

void Agent::HandleSubmit(SessionConn& session, const pb::Submit& s) {
  const int64_t received_ns = shm::MonotonicNanos();
  auto reject = [&](const absl::Status& status) {
    metrics_.Rejected(s.type(), status.code());
    pb::AgentMessage msg;
    *msg.mutable_completion() = Rejection(s.seq(), status);
    spdlog::warn("job {} type '{}' rejected: {}", (uint64_t{session.id} << 32) | s.seq(), s.type(),
                 status.ToString());
    SendToSession(session, msg);
  };
  if (draining_.load()) {
    return reject(absl::UnavailableError("jobd is draining (shutting down): submit to another agent or retry later"));
  }
  if (auto looping = supervisor_->CrashLooping()) {
    return reject(absl::UnavailableError(absl::StrCat(
        "no worker is running: the worker command keeps failing (", *looping, "); jobd retries with backoff")));
  }
  if (config_.max_slabs_per_session > 0) {
    // Clients allocate without asking (no round trip), so the quota bites where they submit:
    // a session holding more than its share cannot start more work until it lets go.
    const uint32_t held = arena_->CountOwnedBy(session.id);
    if (held > config_.max_slabs_per_session) {
      return reject(absl::ResourceExhaustedError(absl::StrCat("session holds ", held,
                                                              " slabs (max_slabs_per_session=",
                                                              config_.max_slabs_per_session, ")")));
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
    effects = coordinator_->Cancel(session.id, (uint64_t{session.id} << 32) | cancel.seq());
  }
  if (effects.ok()) Apply(std::move(*effects));
}

void Agent::CloseSession(const std::shared_ptr<SessionConn>& session) {
  session->closed.store(true);
  session->stream.Close();
  {
    absl::MutexLock lock(&conns_mu_);
    sessions_.erase(session->id);
  }
  conns_epoch_.fetch_add(1);
  coordinator::Effects effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->CloseSession(session->id);
  }
  Apply(std::move(effects));
  // After CloseSession nothing moves to this session any more, so what it holds now is all
  // it will ever hold.
  const uint32_t freed = arena_->ReclaimOwner(session->id);
  spdlog::debug("session {} closed: {} slabs reclaimed", session->id, freed);
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
  if (hello.wants_channel()) conn->channel = OpenChannel(msg.mutable_welcome()->mutable_channel());
  if (conn->channel == nullptr) msg.mutable_welcome()->clear_channel();
  {
    absl::MutexLock lock(&conns_mu_);
    workers_[conn->id] = conn;
  }
  if (conn->channel != nullptr) conns_epoch_.fetch_add(1);
  msg.mutable_welcome()->set_owner_id(conn->id);
  msg.mutable_welcome()->set_arena_path(config_.arena_path());
  msg.mutable_welcome()->set_worker_index(conn->slot);
  conn->stream.Write(msg);
  absl::StatusOr<coordinator::Effects> effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->AddWorker(conn->id, {hello.types().begin(), hello.types().end()});
  }
  if (!effects.ok()) {
    CloseWorker(conn);
    return effects.status();
  }
  spdlog::info("worker {} ready: pid {}, types {}", conn->slot, conn->pid, absl::StrJoin(hello.types(), ","));
  Apply(std::move(*effects));
  return conn;
}

void Agent::HandleResult(WorkerConn& worker, const pb::JobResult& r) {
  const int64_t received_ns = shm::MonotonicNanos();
  const shm::Handle response = shm::Handle::FromBits(r.response().handle());
  absl::StatusOr<coordinator::Effects> effects;
  {
    absl::MutexLock lock(&coord_mu_);
    if (r.early()) {
      effects = coordinator_->EarlyResponse(worker.id, r.job_id(), {response, r.response().size()});
    } else if (r.code() != 0) {
      effects = coordinator_->JobFinished(
          worker.id, r.job_id(), absl::Status(static_cast<absl::StatusCode>(r.code()), r.message()));
    } else {
      effects = coordinator_->JobFinished(worker.id, r.job_id(), coordinator::SlabRef{response, r.response().size()});
    }
  }
  if (!effects.ok()) {
    spdlog::warn("worker {} (pid {}) sent a bad result for job {}: {}", worker.slot, worker.pid, r.job_id(),
                 effects.status().ToString());
    if (!response.is_null()) (void)arena_->Free(response, worker.id);
    return;
  }
  pb::JobResult stamped;
  stamped.set_job_id(r.job_id());
  *stamped.mutable_stamps() = r.stamps();
  stamped.mutable_stamps()->set_agent_result_ns(received_ns);
  Apply(std::move(*effects), &stamped);
}

void Agent::CloseWorker(const std::shared_ptr<WorkerConn>& worker) {
  worker->closed.store(true);
  conns_epoch_.fetch_add(1);
  worker->stream.Close();
  bool was_registered;
  {
    absl::MutexLock lock(&conns_mu_);
    was_registered = workers_.erase(worker->id) > 0;
  }
  if (!was_registered) return;
  coordinator::Effects effects;
  {
    absl::MutexLock lock(&coord_mu_);
    effects = coordinator_->WorkerGone(worker->id);
  }
  Apply(std::move(effects));
  // A worker without its stream is useless: make sure the process goes too. Its slabs are
  // reclaimed when it is reaped, once it can no longer touch them.
  if (!shut_down_.load()) (void)supervisor_->StopOwner(worker->id, ExitReason::kCrash, SIGKILL);
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
    pb::AgentToWorker msg;
    pb::Assignment* a = msg.mutable_assignment();
    a->set_job_id(d.id);
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
    if (conn == nullptr || !SendToWorker(*conn, msg)) {
      spdlog::warn("job {} type {}: worker {} is gone before dispatch", d.id, d.type,
                   conn != nullptr ? conn->slot : supervisor_->SlotOfOwner(d.worker).value_or(0));
    }
  }
  for (coordinator::Completion& c : effects.completions) {
    if (c.outcome != Outcome::kOk) {
      spdlog::warn("job {} type {} {}: {}", c.id, c.type, coordinator::OutcomeName(c.outcome),
                   std::string(c.status.message()));
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
    pb::AgentToWorker msg;
    msg.mutable_cancel()->set_job_id(cancel.id);
    conn->stream.Write(msg);
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
