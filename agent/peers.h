// The agent's record of one peer: a client session or a worker process, with its segment,
// its channel and its stream. The registry (peer_registry.h) holds them; every agent part
// reaches a peer through a shared_ptr, so a peer that goes while a part holds it stays valid.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_channel.h"
#include "agent/stream_conn.h"
#include "coordinator/job.h"
#include "proto/jobd.grpc.pb.h"
#include "shm/fd_passing.h"
#include "shm/segment.h"
#include "shm/unique_fd.h"

namespace jobd::agent {

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
  bool completion_records = false;  // its hello says it reads CompletionRecords
  shm::PeerCredentials cred;                // valid once `attached`
  std::atomic<bool> attached{false};        // the client has its segment: it may submit
  std::shared_ptr<shm::Segment> segment;
  shm::UniqueFd wake;                       // eventfd the client writes when the agent sleeps
  std::unique_ptr<AgentChannel> channel;
  SessionStream stream;
  std::atomic<bool> closed{false};
  std::atomic<bool> cut_off{false};  // logged as cut off (once)
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
  bool job_records = false;  // its hello says it reads AssignmentRecords
  // One consumer of the up ring at a time: the pump, or the stream's end reading what is left.
  absl::Mutex drain_mu;
  // Its lease, when it serves a session's lane (agent_leases.cc). `leased_to` is also read
  // without the lock to decide whether a message to it must ring the lane's doorbell.
  std::atomic<coordinator::SessionId> leased_to{0};
  // Leased and not yet told to give the lease back: what comes up its ring is lane reports, which
  // the agent reads on its own schedule, so the pump does not stay awake for them; the SDK's
  // worker wakes the agent itself for anything that cannot wait (client/worker.cc).
  std::atomic<bool> reports_only{false};
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

}  // namespace jobd::agent
