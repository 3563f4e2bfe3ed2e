#include "agent/agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/effect_encoding.h"
#include "agent/jobd_service.h"
#include "agent/log_text.h"
#include "proto/side_records.h"
#include "shm/fd_passing.h"
#include "shm/monotonic.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace jobd::agent {

using coordinator::Outcome;

Agent::Agent(AgentConfig config, AgentDeps deps)
    : config_(std::move(config)),
      clock_(deps.clock != nullptr ? *deps.clock : real_clock_),
      launcher_(deps.launcher != nullptr ? *deps.launcher : real_launcher_),
      make_segment_(deps.make_segment != nullptr ? std::move(deps.make_segment) : shm::Segment::Create) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentConfig config, AgentDeps deps) {
  std::unique_ptr<Agent> agent(new Agent(std::move(config), std::move(deps)));
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
  // Before anything that may note a timer (a session, a worker) can exist.
  absl::StatusOr<std::unique_ptr<HousekeepingThread>> housekeeping =
      HousekeepingThread::Create({.takes_sigchld = true});
  if (!housekeeping.ok()) return housekeeping.status();
  housekeeping_ = std::move(*housekeeping);
  InstallChildExitWake(housekeeping_->wake_fd());
  absl::StatusOr<std::unique_ptr<ChannelPump>> pump = ChannelPump::Create({.spin = config_.spin,
                                                                          .side_socket_path = config_.side_socket_path(),
                                                                          .socket_group = config_.socket_group,
                                                                          .beacon = beacon_.get()});
  if (!pump.ok()) return pump.status();
  pump_ = std::move(*pump);
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
  copts.dispatch_ahead = config_.dispatch_ahead;
  copts.dispatch_ahead_max_run = config_.dispatch_ahead_max_run;
  copts.dispatch_ahead_depth = config_.dispatch_ahead_depth;
  coord_.Reset(std::make_unique<coordinator::Coordinator>(copts, clock_, ledger_));

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
  admin_ = std::make_unique<AdminViews>(AdminViews::Sources{.config = &config_,
                                                            .clock = &clock_,
                                                            .coordinator = &coord_,
                                                            .ledger = &ledger_,
                                                            .session_shape = &session_shape_,
                                                            .supervisor = supervisor_.get(),
                                                            .peers = &peers_,
                                                            .metrics = &metrics_,
                                                            .draining = &draining_,
                                                            .started_at = started_at_});
  // A stale socket from a killed agent would make bind fail: it is ours to replace.
  unlink(config_.socket_path().c_str());
  service_ = std::make_unique<JobdService>(*this);
  // The standard grpc.health.v1 service, for probes and tools that speak it.
  health_ = std::make_unique<HealthService>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + config_.socket_path(), grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  builder.RegisterService(health_.get());
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
        config_.metrics_address, [this] { return admin_->MetricsText(); },
        [this]() -> absl::Status {
          pb::HealthReply h = admin_->Health();
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
  pump_->Run(MakePumpWork());
  supervisor_->StartAll();
  housekeeping_->Run([this] { return HousekeepingRound(); });
  return absl::OkStatus();
}

Agent::~Agent() { Shutdown(absl::ZeroDuration()); }

void Agent::Drain() {
  if (draining_.exchange(true)) return;
  spdlog::info("draining: new jobs are refused");
  if (coord_.ready()) {
    // Lanes take no jobs past a drain either.
    Apply(coord_.With([](coordinator::Coordinator& c) { return c.RevokeAllLeases(); }));
  }
  if (health_ != nullptr) health_->SetServing(false);
}

void Agent::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  Drain();
  if (coord_.ready()) {
    const absl::Time until = clock_.Now() + grace;
    while (clock_.Now() < until && !hurry_.load()) {
      if (coord_.With([](coordinator::Coordinator& c) { return c.LiveJobs(); }) == 0) break;
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
  if (housekeeping_ != nullptr) housekeeping_->Stop();
  if (supervisor_ != nullptr) ReapChildren();  // none before the supervisor (a failed start)
  if (pump_ != nullptr) pump_->Stop();
  http_.reset();
  spdlog::info("metrics endpoint closed");
  if (health_ != nullptr) health_->Shutdown();
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  if (server_ != nullptr) unlink(config_.socket_path().c_str());
  if (pump_ != nullptr) pump_->UnlinkSideSocket();
  spdlog::info("stopped");
}

// ---------------------------------------------------------------- effects

void Agent::Apply(coordinator::Effects effects, const ResultStamps* result) {
  // Every accepted job ends in exactly one completion: its uid's count goes down first, so a
  // lease granted in the same batch (after that job) sees the room the job leaves.
  if (config_.max_jobs_per_uid > 0) {
    for (const coordinator::Completion& c : effects.completions) peers_.JobEnded(c.session);
  }
  for (const coordinator::Dispatch& d : effects.dispatches) Dispatch(d);
  // Before the completion that led to it: the session reads its lane's opening before its
  // answer, so that its next job already takes the lane.
  for (const coordinator::GrantLease& grant : effects.grants) GrantLease(grant);
  for (const coordinator::Completion& c : effects.completions) Complete(c, result);
  for (const coordinator::RevokeLease& revoke : effects.revokes) RevokeLease(revoke);
  for (const coordinator::CancelRunning& cancel : effects.cancels) TellCancelled(cancel);
  for (const coordinator::KillWorker& kill : effects.kills) Stop(kill);
}

void Agent::Dispatch(const coordinator::Dispatch& d) {
  std::shared_ptr<WorkerConn> conn = peers_.FindWorker(d.worker);
  // A worker that vanished between dispatch and write is reported by its stream's end.
  if (conn == nullptr) {
    spdlog::warn("job {} type {}: worker {} is gone before dispatch", d.id, Quoted(d.type),
                 supervisor_->SlotOfOwner(d.worker).value_or(0));
    return;
  }
  if (absl::Status s = GiveSegment(*conn, coordinator::SessionOf(d.id)); !s.ok()) {
    // The job comes back through WorkerGone: retried or failed with the reason.
    spdlog::warn("job {} type {}: worker {} cannot take session {}'s segment: {}; replacing it", d.id,
                 Quoted(d.type), conn->slot, coordinator::SessionOf(d.id), s.ToString());
    EndWorker(*conn);
    return;
  }
  SendAssignment(*conn, d);
}

void Agent::Complete(const coordinator::Completion& c, const ResultStamps* result) {
  // A session that ends with thousands of jobs cancels them all: one line each at debug, so
  // a client cannot buy megabytes of log by leaving.
  if (c.outcome == Outcome::kCancelled) {
    spdlog::debug("job {} type {} cancelled: {}", c.id, Quoted(c.type), Quoted(c.status.message(), 512));
  } else if (c.outcome != Outcome::kOk) {
    spdlog::warn("job {} type {} {}: {}", c.id, Quoted(c.type), coordinator::OutcomeName(c.outcome),
                 Quoted(c.status.message(), 512));
  }
  metrics_.JobEnded(c.type, c.outcome, c.queue_wait, c.run_time,
                    c.run_time > absl::ZeroDuration());
  if (!c.deliver) return;
  std::shared_ptr<SessionConn> conn = peers_.FindSession(c.session);
  if (conn == nullptr) return;  // the session's slabs are reclaimed when it closes
  SendCompletion(*conn, CompletionOf(c, result, shm::MonotonicNanos()));
}

void Agent::TellCancelled(const coordinator::CancelRunning& cancel) {
  std::shared_ptr<WorkerConn> conn = peers_.FindWorker(cancel.worker);
  if (conn == nullptr) return;
  // On the side socket, not the ring: the worker's handler thread is busy with the job, and
  // its side reader is there to notice.
  const wire::SideBytes record = wire::EncodeSideRecord({wire::SideKind::kCancel, cancel.id});
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

void Agent::Stop(const coordinator::KillWorker& kill) {
  std::optional<uint32_t> slot = supervisor_->SlotOfOwner(kill.worker);
  if (!slot.has_value()) return;
  const StopOrder order = StopOrderFor(kill.reason);
  spdlog::warn("worker {}: stopping ({}{})", *slot, coordinator::KillReasonName(kill.reason),
               kill.job != 0 ? absl::StrCat(", job ", kill.job) : "");
  (void)supervisor_->StopOwner(kill.worker, order.reason, order.signal);
}

void Agent::NoteTimers() {
  const bool sooner = coord_.With([&](coordinator::Coordinator& c) {
    std::optional<absl::Time> next = c.NextWakeup();
    return next.has_value() && wake_plan_.Lower(*next);
  });
  if (sooner) WakeHousekeeping();
}

}  // namespace jobd::agent
