// What operators and tools see of the agent: stats, health, one job's status, the slab
// occupancy and the Prometheus text. It reads the coordinator, the supervisor, the segment
// ledger and the peer registry and changes nothing but the metrics' gauges, so it can be built
// and checked in a unit test over a coordinator and a supervisor with a fake launcher.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/metrics.h"
#include "agent/peer_registry.h"
#include "agent/segment_ledger.h"
#include "agent/shared_coordinator.h"
#include "agent/supervisor.h"
#include "coordinator/clock.h"
#include "proto/jobd.pb.h"
#include "shm/segment.h"

namespace jobd::agent {

class AdminViews {
 public:
  // Everything it reads; all outlive it.
  struct Sources {
    const AgentConfig* config = nullptr;
    const coordinator::Clock* clock = nullptr;
    SharedCoordinator* coordinator = nullptr;
    const SegmentLedger* ledger = nullptr;
    const shm::SegmentShape* session_shape = nullptr;
    const Supervisor* supervisor = nullptr;
    const PeerRegistry* peers = nullptr;
    AgentMetrics* metrics = nullptr;
    const std::atomic<bool>* draining = nullptr;
    absl::Time started_at;
  };
  explicit AdminViews(Sources sources) : s_(sources) {}

  v1::StatsReply Stats() const;
  // Per class over every session's segment; zeros for each class when there is none, so that
  // every per-class series exists before the first session, as dashboards expect.
  std::vector<shm::ClassOccupancy> SlabOccupancy() const;
  // The Prometheus text of every metric, gauges refreshed now.
  std::string MetricsText() const;
  v1::HealthReply Health() const;
  absl::StatusOr<v1::JobStatusReply> JobStatus(uint64_t job_id) const;

 private:
  Sources s_;
};

}  // namespace jobd::agent
