// The agent's Prometheus metrics. Event counters and histograms are updated as things happen;
// gauges (queue, arena, workers, sessions, process) are refreshed by the agent just before a scrape.
// Label sets are bounded: at most kMaxTypes job types get their own label, the rest "_other".
//
// Every labelled counter exists at 0 for its known label values before its first event (outcomes
// of a type from when the type is first seen, rejection reasons from the start, restart reasons
// per worker slot from the first scrape), so rate() and increase() see the first event.
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/process_metrics.h"
#include "coordinator/job.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "shm/arena.h"

namespace jobd::agent {

class AgentMetrics {
 public:
  static constexpr size_t kMaxTypes = 64;
  static constexpr size_t kOutcomeSeries = 6;  // the outcomes each type has a counter of

  AgentMetrics();

  // Events.
  void JobEnded(const std::string& type, coordinator::Outcome outcome, absl::Duration queue_wait,
                absl::Duration run_time, bool ran);
  void Rejected(const std::string& type, absl::StatusCode code);
  // `worker` is the supervisor slot index.
  void WorkerRestarted(uint32_t worker, const std::string& reason);

  // Snapshots, set before each scrape.
  void SetQueue(size_t total, const std::map<std::string, size_t>& by_type, absl::Duration oldest_age);
  void SetArena(const std::vector<shm::ClassOccupancy>& classes, uint64_t arena_bytes);
  void SetWorkers(const std::map<std::string, int>& by_state);
  void SetSessions(size_t sessions);
  // Jobs given ahead to a busy worker: not started, and not in the queue depth.
  void SetDispatchedAhead(size_t jobs);
  struct WorkerSlotSample {
    uint32_t index = 0;
    uint64_t rss_bytes = 0;  // 0 while no process runs in the slot
  };
  // Also creates the slot's restart series (every reason at 0) the first time it is seen.
  void SetWorkerSlots(const std::vector<WorkerSlotSample>& slots);
  void SetProcess(const ProcessSample& sample);

  // The Prometheus text exposition of everything.
  std::string Serialize() const;

 private:
  // A type's series, looked up once: Family::Add builds a label map and searches for it on every
  // call (eight allocations per ended job).
  struct TypeSeries {
    prometheus::Counter* jobs[kOutcomeSeries] = {};  // by coordinator::Outcome
    prometheus::Histogram* queue_wait = nullptr;
    prometheus::Histogram* run_time = nullptr;
  };
  TypeSeries SeriesOf(const std::string& type);
  TypeSeries MakeSeries(const std::string& label) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& queue_depth_by_type_;
  prometheus::Family<prometheus::Gauge>& queue_oldest_age_;
  prometheus::Family<prometheus::Gauge>& arena_size_;
  prometheus::Family<prometheus::Gauge>& slabs_in_use_;
  prometheus::Family<prometheus::Gauge>& slabs_;
  prometheus::Family<prometheus::Gauge>& bytes_in_use_;
  prometheus::Family<prometheus::Counter>& acquire_failures_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Histogram>& queue_wait_;
  prometheus::Family<prometheus::Histogram>& run_time_;
  prometheus::Family<prometheus::Gauge>& workers_;
  prometheus::Family<prometheus::Counter>& restarts_;
  prometheus::Family<prometheus::Gauge>& sessions_;
  prometheus::Family<prometheus::Gauge>& dispatched_ahead_;
  prometheus::Family<prometheus::Counter>& rejections_;
  prometheus::Family<prometheus::Gauge>& worker_rss_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Counter& process_cpu_;
  prometheus::Gauge& process_resident_;
  prometheus::Gauge& process_virtual_;
  prometheus::Gauge& process_start_time_;
  prometheus::Gauge& process_open_fds_;
  prometheus::Gauge& process_max_fds_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, TypeSeries> types_ ABSL_GUARDED_BY(mu_);
  std::optional<TypeSeries> other_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> last_failures_ ABSL_GUARDED_BY(mu_);  // per class, to add deltas
  double last_cpu_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint32_t, bool> worker_slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jobd::agent
