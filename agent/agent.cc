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
  copts.leases = config_.leases;
  copts.lease_idle = config_.lease_idle;
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
  if (coordinator_ != nullptr) {
    coordinator::Effects fx;
    {
      absl::MutexLock lock(&coord_mu_);
      fx = coordinator_->RevokeAllLeases();
    }
    Apply(std::move(fx));  // lanes take no jobs past a drain either
  }
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

// ---------------------------------------------------------------- effects

void Agent::Apply(coordinator::Effects effects, const pb::JobResult* result) {
  for (coordinator::Dispatch& d : effects.dispatches) {
    std::shared_ptr<WorkerConn> conn = FindWorker(d.worker);
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
  // Before the completion that led to it: the session reads its lane's opening before its
  // answer, so that its next job already takes the lane.
  for (const coordinator::GrantLease& grant : effects.grants) GrantLease(grant);
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
    std::shared_ptr<SessionConn> conn = FindSession(c.session);
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
  for (const coordinator::RevokeLease& revoke : effects.revokes) RevokeLease(revoke);
  for (const coordinator::CancelRunning& cancel : effects.cancels) {
    std::shared_ptr<WorkerConn> conn = FindWorker(cancel.worker);
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
