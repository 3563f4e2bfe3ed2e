// The jobd agent: wires the coordinator to the world. Its named parts hold the state (the peer
// registry, the shared coordinator, the segment ledger, the supervisor, the lease book, the
// admin views, the wake plan); the agent turns channel messages into coordinator events, and
// carries out the Effects that come back, on two threads: the pump (agent_pump.cc) and
// housekeeping (agent_housekeeping.cc). No agent thread blocks on a peer: sends go to rings or
// bounded backlogs. The gRPC service (jobd_service.h) is a thin layer over the methods below.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "agent/admin_views.h"
#include "agent/agent_config.h"
#include "agent/effect_encoding.h"
#include "agent/channel_pump.h"
#include "agent/health_service.h"
#include "agent/housekeeping_thread.h"
#include "agent/http_endpoint.h"
#include "agent/lease_book.h"
#include "agent/metrics.h"
#include "agent/peer_registry.h"
#include "agent/peers.h"
#include "agent/process_launcher.h"
#include "agent/segment_ledger.h"
#include "agent/shared_coordinator.h"
#include "agent/supervisor.h"
#include "agent/wake_plan.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator.h"
#include "proto/jobd.grpc.pb.h"
#include "proto/lane_records.h"
#include "proto/session_records.h"
#include "proto/worker_records.h"
#include "shm/agent_beacon.h"
#include "shm/segment.h"
#include "shm/unique_fd.h"

namespace jobd::agent {

// While leases are out the pump wakes this often, idle or not, to read lane reports (stats,
// metrics, and the deadlines of lane jobs that started). A lane job whose deadline is closer
// than two ticks wakes the agent with its "started" report (LeaseGrant.wake_if_due_within_ms),
// and the pump sleeps no longer than the earliest deadline it knows: deadlines are kept on
// time, and stats lag by at most a tick.
constexpr int kLeaseTickMs = 100;

// SIGCHLD writes `eventfd_fd` (async-signal-safe), so housekeeping learns of a worker's exit at
// once instead of polling waitpid.
void InstallChildExitWake(int eventfd_fd);

// What the agent is given rather than makes, so that tests can drive it: its clock, how it
// starts worker processes, and how it makes a peer's segment. Null: the real one.
struct AgentDeps {
  using SegmentFactory =
      std::function<absl::StatusOr<std::unique_ptr<shm::Segment>>(const std::string& name, const shm::SegmentShape&)>;
  const coordinator::Clock* clock = nullptr;
  ProcessLauncher* launcher = nullptr;
  SegmentFactory make_segment;
};

class Agent {
 public:
  // Creates the socket, starts the pool, the pump and the housekeeping thread.
  static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentConfig config, AgentDeps deps = {});
  ~Agent();

  // Stops taking jobs, waits up to `grace` for running and queued jobs to end, then stops the
  // workers and the server and removes the sockets. Idempotent.
  void Shutdown(absl::Duration grace);
  // Refuse new jobs from now on (UNAVAILABLE "draining"); jobs in flight go on.
  void Drain();
  // Cuts a Shutdown's wait for jobs short (a second SIGTERM): the workers go at once.
  void Hurry() { hurry_.store(true); }

  const AgentConfig& config() const { return config_; }

  // ---- called by the gRPC service
  absl::StatusOr<std::shared_ptr<SessionConn>> OpenSession(
      grpc::ServerReaderWriter<pb::AgentMessage, pb::ClientMessage>* stream, grpc::ServerContext* context,
      const pb::SessionHello& hello);
  void HandleSubmit(SessionConn& session, const pb::Submit& submit);
  void HandleCancel(SessionConn& session, const pb::Cancel& cancel);
  void CloseSession(const std::shared_ptr<SessionConn>& session);

  absl::StatusOr<std::shared_ptr<WorkerConn>> OpenWorker(
      grpc::ServerReaderWriter<pb::AgentToWorker, pb::WorkerMessage>* stream, grpc::ServerContext* context,
      const pb::WorkerHello& hello);
  void HandleResult(WorkerConn& worker, const wire::ResultRecord& result);
  void CloseWorker(const std::shared_ptr<WorkerConn>& worker);
  // Ends a worker the agent cannot use or trust: through its stream's end while it has one,
  // else by SIGKILL (a detached worker), whose reaping closes it.
  void EndWorker(WorkerConn& worker);

  const AdminViews& admin() const { return *admin_; }
  // The port /metrics and /healthz listen on; 0 when off.
  int metrics_port() const { return http_ != nullptr ? http_->port() : 0; }

 private:
  Agent(AgentConfig config, AgentDeps deps);
  absl::Status Init();
  // ---- effects (agent.cc). `result`: the worker message these effects answer (its stamps go
  // into the completion).
  void Apply(coordinator::Effects effects, const ResultStamps* result = nullptr);
  void Dispatch(const coordinator::Dispatch& dispatch);
  void Complete(const coordinator::Completion& completion, const ResultStamps* result);
  void TellCancelled(const coordinator::CancelRunning& cancel);
  void Stop(const coordinator::KillWorker& kill);
  // After a coordinator event: wakes housekeeping if a timer is now due before it planned to look.
  void NoteTimers();

  // ---- peers (agent_peers.cc). To a peer, down its channel (or its backlog). Never blocks; a
  // peer cut off is ended.
  void SendToSession(SessionConn& session, const pb::AgentMessage& message);
  // As a record when the session reads them, else as a message.
  void SendCompletion(SessionConn& session, const wire::CompletionRecord& completion);
  void SendToWorker(WorkerConn& worker, const pb::AgentToWorker& message);
  // As a record when the worker reads them, else as a message.
  void SendAssignment(WorkerConn& worker, const coordinator::Dispatch& dispatch);
  // `send` (AgentChannel&) -> bool pushes down the worker's channel.
  template <typename Send>
  void SendToWorkerWith(WorkerConn& worker, Send send);
  // A segment, its wake eventfd and a one-time token for the side socket; fills `grant`.
  absl::Status NewSegment(const std::string& name, const shm::SegmentShape& shape, bool worker, uint32_t id,
                          std::shared_ptr<shm::Segment>* segment, shm::UniqueFd* wake, pb::SegmentGrant* grant);
  // Before a worker's first job of a session: the session's segment down its side socket.
  absl::Status GiveSegment(WorkerConn& worker, coordinator::SessionId session);
  // Drops the segments of closed sessions whose jobs have all ended.
  void ReleaseLingeringSegments();
  // Why a submit of `type` by this session's uid/gid is refused by --allow; OK when allowed.
  absl::Status CheckAllowed(const SessionConn& session, const std::string& type) const;
  // Why this session may not submit now (draining, no worker, quotas); OK when it may.
  absl::Status CheckAdmission(const SessionConn& session, const std::string& type);
  // --max-jobs-per-uid: room for one more live job (or lease) of `uid`.
  absl::Status CheckUidQuota(uint32_t uid) const;
  // Revokes the uid's leases whose worker runs no lane job (as far as its reports tell), so
  // that a uid at its quota gets the slots back; how many were revoked.
  size_t TakeBackIdleLeasesOfUid(uint32_t uid);

  // ---- leases (agent_leases.cc): a worker serves one session's lane; the agent hears of each
  // lane job from the worker's reports, which it reads when it next wakes.
  void GrantLease(const coordinator::GrantLease& grant);
  void RevokeLease(const coordinator::RevokeLease& revoke);
  void HandleLaneReport(WorkerConn& worker, const wire::LaneReport& report);
  void HandleLeaseReleased(WorkerConn& worker, const pb::LeaseReleased& released);
  // The worker is gone: its lane job (if any) fails as WORKER_DIED and the session hears the
  // lane closed.
  void EndLeaseOfLostWorker(WorkerConn& worker);
  // While leases are out: lane jobs past their deadline are answered DEADLINE_EXCEEDED and
  // their workers killed after the grace (lane_watch.h).
  void CheckLaneDeadlines();

  // ---- the pump's work (agent_pump.cc): drains every attached peer's up ring and flushes
  // backlogs, checks lane deadlines while leases are out, answers handshakes.
  class PumpWork;
  std::unique_ptr<ChannelPump::Handler> MakePumpWork();
  bool DrainSession(SessionConn& session);
  bool DrainWorker(WorkerConn& worker);
  // What a worker whose stream ended left in its up ring: its last lane reports.
  void DrainClosedWorker(WorkerConn& worker);
  void WakePump() { pump_->Wake(); }
  // A token presented on the side socket: its peer gets its segment.
  void ServeHandshake(SideSocket::Presented presented);
  void AttachSession(SessionConn& session, shm::UniqueFd side, const shm::PeerCredentials& cred);
  void AttachWorker(WorkerConn& worker, shm::UniqueFd side, const shm::PeerCredentials& cred);

  // ---- housekeeping (agent_housekeeping.cc): reaps workers, enforces memory limits, runs the
  // coordinator's timers; sleeps until the next thing due.
  // One round; returns when the next is due.
  absl::Time HousekeepingRound();
  void ExpirePending();
  void ReapChildren();
  void CheckWorkerMemory();
  void WakeHousekeeping() { housekeeping_->Wake(); }

  shm::OwnerId NewOwnerId() { return next_owner_.fetch_add(1, std::memory_order_relaxed); }

  // Given (AgentDeps), or the real ones owned here.
  AgentConfig config_;
  coordinator::RealClock real_clock_;
  PosixProcessLauncher real_launcher_;
  const coordinator::Clock& clock_;
  ProcessLauncher& launcher_;
  AgentDeps::SegmentFactory make_segment_;
  // The parts.
  shm::SegmentShape session_shape_;
  SegmentLedger ledger_;
  SharedCoordinator coord_;
  PeerRegistry peers_;
  LeaseBook leases_;
  WakePlan wake_plan_;
  AgentMetrics metrics_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<AdminViews> admin_;
  std::unique_ptr<shm::AgentBeacon> beacon_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpEndpoint> http_;

  // The pump: its thread, what it sleeps on, the side socket; it drives a PumpWork.
  std::unique_ptr<ChannelPump> pump_;

  // Housekeeping sleeps until the next thing due (a deadline, a restart, a child's exit: SIGCHLD
  // writes its eventfd), not on a poll interval: idle, it makes no calls.
  std::unique_ptr<HousekeepingThread> housekeeping_;
  absl::Time next_memory_check_;  // its thread's

  std::atomic<shm::OwnerId> next_owner_{2};
  std::atomic<bool> draining_{false};
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> hurry_{false};
  absl::Time started_at_;
};

}  // namespace jobd::agent
