// The jobd agent: wires the coordinator to the world. It owns the arena, the coordinator (behind
// one mutex), the supervisor of the worker pool and the open client and worker streams; it
// turns stream messages into coordinator events and carries out the Effects that come back.
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
#include "agent/agent_channel.h"
#include "agent/arena_ledger.h"
#include "agent/http_endpoint.h"
#include "agent/metrics.h"
#include "agent/process_launcher.h"
#include "agent/stream_conn.h"
#include "agent/supervisor.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator.h"
#include "proto/jobd.grpc.pb.h"
#include "shm/arena.h"
#include "shm/channel_file.h"

namespace jobd::agent {

namespace pb = ::jobd::v1;


using SessionStream = StreamConn<pb::AgentMessage, pb::ClientMessage>;
using WorkerStream = StreamConn<pb::AgentToWorker, pb::WorkerMessage>;

struct SessionConn {
  coordinator::SessionId id = 0;
  std::string name;
  int pid = 0;
  SessionStream stream;
  std::unique_ptr<AgentChannel> channel;  // null: the stream carries everything
  std::atomic<bool> closed{false};
  SessionConn(grpc::ServerReaderWriter<pb::AgentMessage, pb::ClientMessage>* s, grpc::ServerContext* c)
      : stream(s, c) {}
};

struct WorkerConn {
  coordinator::WorkerId id = 0;  // its arena owner id
  uint32_t slot = 0;
  int pid = 0;
  WorkerStream stream;
  std::unique_ptr<AgentChannel> channel;  // null: assignments take the stream
  std::atomic<bool> closed{false};
  WorkerConn(grpc::ServerReaderWriter<pb::AgentToWorker, pb::WorkerMessage>* s, grpc::ServerContext* c)
      : stream(s, c) {}
};

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
  // To a peer: down its channel when it has one and there is room, else on its stream.
  bool SendToSession(SessionConn& session, const pb::AgentMessage& message);
  bool SendToWorker(WorkerConn& worker, const pb::AgentToWorker& message);
  // Gives a new peer a channel slot (and fills `grant`); null when the fast path is off or
  // every slot is taken.
  std::unique_ptr<AgentChannel> OpenChannel(pb::ChannelGrant* grant);
  // The pump: drains every channel's up ring and sleeps on the agent doorbell when all are empty.
  void PumpLoop();
  bool DrainSession(SessionConn& session);
  bool DrainWorker(WorkerConn& worker);
  void HousekeepingLoop();
  void ReapChildren();
  void CheckWorkerMemory();
  shm::OwnerId NewOwnerId() { return next_owner_.fetch_add(1, std::memory_order_relaxed); }

  AgentConfig config_;
  coordinator::RealClock clock_;
  std::shared_ptr<shm::Arena> arena_;
  std::unique_ptr<ArenaLedger> ledger_;
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

  std::unique_ptr<shm::ChannelFile> channels_;
  std::deque<uint32_t> free_slots_ ABSL_GUARDED_BY(conns_mu_);  // FIFO: a slot rests before reuse
  std::atomic<uint64_t> conns_epoch_{0};  // bumped when a conn with a channel comes or goes
  std::atomic<bool> stop_pump_{false};
  std::thread pump_;

  std::atomic<shm::OwnerId> next_owner_{2};
  std::atomic<bool> draining_{false};
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> hurry_{false};
  absl::Time started_at_;
  absl::Time next_memory_check_;
  absl::Notification stop_housekeeping_;
  std::thread housekeeping_;
};

}  // namespace jobd::agent
