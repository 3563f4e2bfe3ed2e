// The jobd agent: wires the coordinator to the world. It owns every peer's segment, the
// coordinator (behind one mutex), the supervisor of the worker pool and the open client and
// worker streams; it turns channel messages into coordinator events and carries out the Effects
// that come back. No agent thread blocks on a peer: sends go to rings or bounded backlogs.
// The gRPC service (jobd_service.h) is a thin layer over the methods below.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/agent_config.h"
#include "absl/container/flat_hash_set.h"
#include "agent/agent_channel.h"
#include "agent/segment_ledger.h"
#include "agent/http_endpoint.h"
#include "agent/metrics.h"
#include "agent/process_launcher.h"
#include "agent/stream_conn.h"
#include "agent/supervisor.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator.h"
#include "proto/jobd.grpc.pb.h"
#include "shm/agent_beacon.h"
#include "shm/fd_passing.h"
#include "shm/segment.h"
#include "shm/unique_fd.h"

namespace jobd::agent {

// While leases are out the pump wakes this often, idle or not, to read lane reports (stats,
// metrics, and the deadlines of lane jobs that started). A lane job whose deadline is closer
// than two ticks wakes the agent with its "started" report (LeaseGrant.wake_if_due_within_ms),
// and the pump sleeps no longer than the earliest deadline it knows: deadlines are kept on
// time, and stats lag by at most a tick.
constexpr int kLeaseTickMs = 100;

namespace pb = ::jobd::v1;


using SessionStream = StreamConn<pb::AgentMessage, pb::ClientMessage>;
using WorkerStream = StreamConn<pb::AgentToWorker, pb::WorkerMessage>;

// What the agent knows of a client session. Its segment (slabs and channel) is created for it
// alone; its identity comes from the kernel (SO_PEERCRED on the side socket), not from its hello.
struct SessionConn {
  coordinator::SessionId id = 0;
  std::string name;
  int hello_pid = 0;
  bool lanes = false;  // its hello says it can take a lease (LaneOpen)
  shm::PeerCredentials cred;                // valid once `attached`
  std::atomic<bool> attached{false};        // the client has its segment: it may submit
  std::shared_ptr<shm::Segment> segment;
  shm::UniqueFd wake;                       // eventfd the client writes when the agent sleeps
  std::unique_ptr<AgentChannel> channel;
  SessionStream stream;
  std::atomic<bool> closed{false};
  SessionConn(grpc::ServerReaderWriter<pb::AgentMessage, pb::ClientMessage>* s, grpc::ServerContext* c)
      : stream(s, c) {}
};

struct WorkerConn {
  coordinator::WorkerId id = 0;  // its owner id in every segment
  uint32_t slot = 0;
  int pid = 0;
  std::atomic<bool> attached{false};
  std::vector<std::string> types;         // what it handles; it joins the pool once attached
  std::shared_ptr<shm::Segment> segment;  // its channel only
  shm::UniqueFd wake;
  std::unique_ptr<AgentChannel> channel;
  WorkerStream stream;
  std::atomic<bool> closed{false};
  // The side socket stays open: session segments reach the worker through it.
  absl::Mutex side_mu;
  shm::UniqueFd side ABSL_GUARDED_BY(side_mu);
  absl::flat_hash_set<coordinator::SessionId> segments ABSL_GUARDED_BY(side_mu);
  bool lanes = false;  // its hello says it serves leases
  // One consumer of the up ring at a time: the pump, or the stream's end reading what is left.
  absl::Mutex drain_mu;
  // Its lease, when it serves a session's lane (agent_leases.cc). `leased_to` is also read
  // without the lock to decide whether a message to it must ring the lane's doorbell.
  std::atomic<coordinator::SessionId> leased_to{0};
  absl::Mutex lane_mu;
  struct Lane {
    uint32_t id = 0;
    std::shared_ptr<shm::Segment> segment;  // the session's: its lane doorbell
    uint64_t job = 0;                       // the lane job it runs, from its reports; 0: none
    std::string type;
    absl::Time deadline;
    bool deadline_told = false;             // the session was told; a kill follows the grace
  } lane ABSL_GUARDED_BY(lane_mu);
  WorkerConn(grpc::ServerReaderWriter<pb::AgentToWorker, pb::WorkerMessage>* s, grpc::ServerContext* c)
      : stream(s, c) {}
};

// SIGCHLD writes `eventfd_fd` (async-signal-safe), so housekeeping learns of a worker's exit at
// once instead of polling waitpid.
void InstallChildExitWake(int eventfd_fd);

class Agent {
 public:
  // Creates the arena and the socket, starts the pool and the housekeeping thread.
  static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentConfig config);
  ~Agent();

  // Stops taking jobs, waits up to `grace` for running and queued jobs to end, then stops the
  // workers and the server and removes the socket and the arena. Idempotent.
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
  void HandleResult(WorkerConn& worker, const pb::JobResult& result);
  void CloseWorker(const std::shared_ptr<WorkerConn>& worker);

  pb::StatsReply Stats();
  // Slab occupancy per class over every session's segment (zeros for each class when none).
  std::vector<shm::ClassOccupancy> SlabOccupancy() const;
  // The Prometheus text of every metric, gauges refreshed now. For /metrics.
  std::string MetricsText();
  // The port /metrics and /healthz listen on; 0 when off.
  int metrics_port() const { return http_ != nullptr ? http_->port() : 0; }
  pb::HealthReply Health();
  absl::StatusOr<pb::JobStatusReply> JobStatus(uint64_t job_id);

 private:
  explicit Agent(AgentConfig config);
  absl::Status Init();
  // `result`: the worker message these effects answer (its stamps go into the completion).
  void Apply(coordinator::Effects effects, const pb::JobResult* result = nullptr);
  // To a peer, down its channel (or its backlog). Never blocks; a peer cut off is ended.
  void SendToSession(SessionConn& session, const pb::AgentMessage& message);
  void SendToWorker(WorkerConn& worker, const pb::AgentToWorker& message);
  // A segment, its wake eventfd and a one-time token for the side socket; fills `grant`.
  absl::Status NewSegment(const std::string& name, const shm::SegmentShape& shape, bool worker, uint32_t id,
                          std::shared_ptr<shm::Segment>* segment, shm::UniqueFd* wake, pb::SegmentGrant* grant);
  // Before a worker's first job of a session: the session's segment down its side socket.
  absl::Status GiveSegment(WorkerConn& worker, coordinator::SessionId session);
  // Drops the segments of closed sessions whose jobs have all ended.
  void ReleaseLingeringSegments();
  // Why a submit of `type` by this session's uid/gid is refused by --allow; OK when allowed.
  absl::Status CheckAllowed(const SessionConn& session, const std::string& type) const;

  // A peer by id, or null when it is gone (agent_leases.cc).
  std::shared_ptr<SessionConn> FindSession(coordinator::SessionId id);
  std::shared_ptr<WorkerConn> FindWorker(coordinator::WorkerId id);

  // Leases (agent_leases.cc): a worker serves one session's lane; the agent hears of each lane
  // job from the worker's reports, which it reads when it next wakes.
  void GrantLease(const coordinator::GrantLease& grant);
  void RevokeLease(const coordinator::RevokeLease& revoke);
  void HandleLaneReport(WorkerConn& worker, const pb::LaneReport& report);
  void HandleLeaseReleased(WorkerConn& worker, const pb::LeaseReleased& released);
  // The worker is gone: its lane job (if any) fails as WORKER_DIED and the session hears the
  // lane closed.
  void EndLeaseOfLostWorker(WorkerConn& worker);
  // While leases are out: lane jobs past their deadline are answered DEADLINE_EXCEEDED and
  // their workers killed after the grace.
  void CheckLaneDeadlines();

  // The pump (agent_pump.cc): drains every channel's up ring, flushes backlogs, takes side-socket
  // handshakes; sleeps in epoll (on the peers' wake eventfds) when there is nothing to do.
  void PumpLoop();
  bool DrainSession(SessionConn& session);
  bool DrainWorker(WorkerConn& worker);
  // What a worker whose stream ended left in its up ring: its last lane reports.
  void DrainReportsOfClosedWorker(WorkerConn& worker);
  void WakePump();
  void AcceptSideConnections();
  void ServeHandshake(int fd);
  void HousekeepingLoop();
  void ExpirePending();
  void ReapChildren();
  void CheckWorkerMemory();
  shm::OwnerId NewOwnerId() { return next_owner_.fetch_add(1, std::memory_order_relaxed); }

  AgentConfig config_;
  coordinator::RealClock clock_;
  shm::SegmentShape session_shape_;
  SegmentLedger ledger_;
  std::unique_ptr<shm::AgentBeacon> beacon_;
  absl::Mutex coord_mu_;
  std::unique_ptr<coordinator::Coordinator> coordinator_ ABSL_GUARDED_BY(coord_mu_);
  PosixProcessLauncher launcher_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  AgentMetrics metrics_;
  std::unique_ptr<HttpEndpoint> http_;

  absl::Mutex conns_mu_;
  absl::flat_hash_map<coordinator::SessionId, std::shared_ptr<SessionConn>> sessions_ ABSL_GUARDED_BY(conns_mu_);
  absl::flat_hash_map<coordinator::WorkerId, std::shared_ptr<WorkerConn>> workers_ ABSL_GUARDED_BY(conns_mu_);

  // Side-socket handshakes waiting for their peer, by token.
  struct Pending {
    bool worker = false;
    uint32_t id = 0;
    absl::Time until;
  };
  absl::flat_hash_map<std::string, Pending> pending_ ABSL_GUARDED_BY(conns_mu_);
  // Live jobs per uid (--max-jobs-per-uid), and each session's uid for as long as its jobs live.
  absl::flat_hash_map<uint32_t, size_t> uid_jobs_ ABSL_GUARDED_BY(conns_mu_);
  absl::flat_hash_map<coordinator::SessionId, uint32_t> session_uid_ ABSL_GUARDED_BY(conns_mu_);
  // Closed sessions whose segments wait for their last job (a NoReply job runs on).
  absl::flat_hash_set<coordinator::SessionId> lingering_ ABSL_GUARDED_BY(conns_mu_);
  shm::UniqueFd side_listen_;
  shm::UniqueFd epoll_;
  shm::UniqueFd pump_wake_;  // eventfd: a new peer, a backlog, or stop
  struct Handshake {
    shm::UniqueFd fd;
    absl::Time since;
    std::string got;
  };
  absl::flat_hash_map<int, Handshake> handshakes_;  // the pump thread's alone
  std::atomic<uint64_t> conns_epoch_{0};  // bumped when an attached peer comes or goes
  std::atomic<bool> stop_pump_{false};
  std::thread pump_;

  std::atomic<shm::OwnerId> next_owner_{2};
  std::atomic<int> leases_out_{0};
  // The earliest lane deadline (or kill after the grace) the agent knows of; the pump wakes then.
  std::atomic<int64_t> next_lane_due_ns_{INT64_MAX};
  std::atomic<uint32_t> next_lane_{1};
  std::atomic<bool> draining_{false};
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> hurry_{false};
  absl::Time started_at_;
  absl::Time next_memory_check_;
  std::atomic<bool> stop_housekeeping_{false};
  // The housekeeping thread sleeps until the next thing due (a deadline, a restart, a child's
  // exit: SIGCHLD writes this eventfd), not on a poll interval: an idle agent makes no calls.
  shm::UniqueFd housekeeping_wake_;
  std::atomic<int64_t> planned_wake_ns_{INT64_MAX};  // when housekeeping will next look, unix ns
  void WakeHousekeeping();
  // After a coordinator event: wakes housekeeping if a timer is now due before it planned to look.
  void NoteTimers();
  std::thread housekeeping_;
};

}  // namespace jobd::agent
