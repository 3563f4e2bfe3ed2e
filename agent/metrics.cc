#include "agent/metrics.h"

#include "absl/strings/ascii.h"
#include "prometheus/text_serializer.h"

namespace jobd::agent {
namespace {

// From 50 us to ~100 s, so both noop jobs and slow exports land in a useful bucket.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,     0.25,   0.5,     1,      2.5,   5,      10,    25,   50,   100};
}

std::string ClassLabel(uint64_t bytes) {
  if (bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

}  // namespace

AgentMetrics::AgentMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      queue_depth_(prometheus::BuildGauge().Name("jobd_queue_depth").Help("Jobs waiting in the queue").Register(*registry_)),
      queue_depth_by_type_(prometheus::BuildGauge()
                               .Name("jobd_queue_depth_by_type")
                               .Help("Jobs waiting in the queue, by job type")
                               .Register(*registry_)),
      queue_oldest_age_(prometheus::BuildGauge()
                            .Name("jobd_queue_oldest_age_seconds")
                            .Help("How long the oldest queued job has waited")
                            .Register(*registry_)),
      arena_size_(prometheus::BuildGauge().Name("jobd_arena_size_bytes").Help("Size of the arena file").Register(*registry_)),
      slabs_in_use_(prometheus::BuildGauge()
                        .Name("jobd_arena_slabs_in_use")
                        .Help("Slabs held by someone, by size class")
                        .Register(*registry_)),
      slabs_total_(prometheus::BuildGauge().Name("jobd_arena_slabs_total").Help("Slabs, by size class").Register(*registry_)),
      bytes_in_use_(prometheus::BuildGauge()
                        .Name("jobd_arena_bytes_in_use")
                        .Help("Bytes of the slabs in use, by size class")
                        .Register(*registry_)),
      acquire_failures_(prometheus::BuildCounter()
                            .Name("jobd_arena_acquire_failures_total")
                            .Help("Allocations that found this class and every larger one full")
                            .Register(*registry_)),
      jobs_(prometheus::BuildCounter().Name("jobd_jobs_total").Help("Jobs ended, by type and outcome").Register(*registry_)),
      queue_wait_(prometheus::BuildHistogram()
                      .Name("jobd_job_queue_wait_seconds")
                      .Help("Time from submit to dispatch")
                      .Register(*registry_)),
      run_time_(prometheus::BuildHistogram()
                    .Name("jobd_job_run_seconds")
                    .Help("Time from dispatch to the worker's result")
                    .Register(*registry_)),
      workers_(prometheus::BuildGauge().Name("jobd_workers").Help("Worker processes, by state").Register(*registry_)),
      restarts_(prometheus::BuildCounter()
                    .Name("jobd_worker_restarts_total")
                    .Help("Worker processes that ended and were replaced, by reason")
                    .Register(*registry_)),
      sessions_(prometheus::BuildGauge().Name("jobd_sessions").Help("Open client sessions").Register(*registry_)),
      rejections_(prometheus::BuildCounter()
                      .Name("jobd_rejections_total")
                      .Help("Jobs that could not start, by reason")
                      .Register(*registry_)) {
  for (const char* state : {"starting", "idle", "busy", "draining"}) workers_.Add({{"state", state}});
  for (const char* reason : {"exit", "crash", "recycled", "killed_deadline", "killed_rss", "killed"}) {
    restarts_.Add({{"reason", reason}});
  }
  queue_depth_.Add({});
  queue_oldest_age_.Add({});
  arena_size_.Add({});
  sessions_.Add({});
}

std::string AgentMetrics::TypeLabel(const std::string& type) {
  absl::MutexLock lock(&mu_);
  if (types_.contains(type)) return type;
  if (types_.size() >= kMaxTypes) return "_other";
  types_[type] = true;
  return type;
}

void AgentMetrics::JobEnded(const std::string& type, const std::string& outcome, absl::Duration queue_wait,
                            absl::Duration run_time, bool ran) {
  const std::string label = TypeLabel(type);
  jobs_.Add({{"type", label}, {"outcome", outcome}}).Increment();
  queue_wait_.Add({{"type", label}}, LatencyBuckets()).Observe(absl::ToDoubleSeconds(queue_wait));
  if (ran) run_time_.Add({{"type", label}}, LatencyBuckets()).Observe(absl::ToDoubleSeconds(run_time));
}

void AgentMetrics::Rejected(const std::string& type, absl::StatusCode code) {
  // Rejected types may be anything a client typed: they do not get their own label.
  bool known;
  {
    absl::MutexLock lock(&mu_);
    known = types_.contains(type);
  }
  jobs_.Add({{"type", known ? type : "_rejected"}, {"outcome", "rejected"}}).Increment();
  rejections_.Add({{"reason", absl::AsciiStrToLower(absl::StatusCodeToString(code))}}).Increment();
}

void AgentMetrics::WorkerRestarted(const std::string& reason) { restarts_.Add({{"reason", reason}}).Increment(); }

void AgentMetrics::SetQueue(size_t total, const std::map<std::string, size_t>& by_type, absl::Duration oldest_age) {
  queue_depth_.Add({}).Set(static_cast<double>(total));
  queue_oldest_age_.Add({}).Set(absl::ToDoubleSeconds(oldest_age));
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [type, known] : types_) {
      auto it = by_type.find(type);
      queue_depth_by_type_.Add({{"type", type}}).Set(it == by_type.end() ? 0 : static_cast<double>(it->second));
    }
  }
}

void AgentMetrics::SetArena(const std::vector<shm::ClassOccupancy>& classes, uint64_t arena_bytes) {
  arena_size_.Add({}).Set(static_cast<double>(arena_bytes));
  absl::MutexLock lock(&mu_);
  for (const shm::ClassOccupancy& c : classes) {
    const prometheus::Labels labels{{"class", ClassLabel(c.slab_size)}};
    slabs_in_use_.Add(labels).Set(c.in_use);
    slabs_total_.Add(labels).Set(c.total);
    bytes_in_use_.Add(labels).Set(static_cast<double>(c.bytes_in_use));
    uint64_t& last = last_failures_[labels.at("class")];
    auto& counter = acquire_failures_.Add(labels);
    if (c.acquire_failures > last) counter.Increment(static_cast<double>(c.acquire_failures - last));
    last = c.acquire_failures;
  }
}

void AgentMetrics::SetWorkers(const std::map<std::string, int>& by_state) {
  for (const char* state : {"starting", "idle", "busy", "draining"}) {
    auto it = by_state.find(state);
    workers_.Add({{"state", state}}).Set(it == by_state.end() ? 0 : it->second);
  }
}

void AgentMetrics::SetSessions(size_t sessions) { sessions_.Add({}).Set(static_cast<double>(sessions)); }

std::string AgentMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace jobd::agent
