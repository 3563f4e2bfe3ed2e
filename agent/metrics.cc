#include "agent/metrics.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "coordinator/job.h"
#include "prometheus/text_serializer.h"

#ifndef JOBD_VERSION
#define JOBD_VERSION "unknown"
#endif
#ifndef JOBD_BUILD_TYPE
#define JOBD_BUILD_TYPE "unknown"
#endif

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

constexpr coordinator::Outcome kOutcomes[] = {
    coordinator::Outcome::kOk,         coordinator::Outcome::kRejected,     coordinator::Outcome::kDeadlineExceeded,
    coordinator::Outcome::kWorkerDied, coordinator::Outcome::kHandlerError, coordinator::Outcome::kCancelled};

// The codes a submit can be refused with (agent.cc's HandleSubmit and the coordinator's Submit),
// lower-cased as the reason label. Another code still gets its series, at its first use.
constexpr absl::StatusCode kRejectionCodes[] = {
    absl::StatusCode::kInvalidArgument,  absl::StatusCode::kFailedPrecondition, absl::StatusCode::kResourceExhausted,
    absl::StatusCode::kUnavailable,      absl::StatusCode::kPermissionDenied,   absl::StatusCode::kNotFound,
    absl::StatusCode::kAlreadyExists,    absl::StatusCode::kOutOfRange,         absl::StatusCode::kDeadlineExceeded,
    absl::StatusCode::kAborted,          absl::StatusCode::kCancelled};

constexpr const char* kRestartReasons[] = {"exit", "crash", "recycled", "killed_deadline", "killed_rss", "killed"};

std::string ReasonLabel(absl::StatusCode code) { return absl::AsciiStrToLower(absl::StatusCodeToString(code)); }

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
      arena_size_(prometheus::BuildGauge().Name("jobd_arena_size_bytes").Help("Shared memory all session segments may hold together (--memory-budget)").Register(*registry_)),
      slabs_in_use_(prometheus::BuildGauge()
                        .Name("jobd_arena_slabs_in_use")
                        .Help("Slabs held by someone, by size class")
                        .Register(*registry_)),
      // A capacity, not a count of events: a gauge, so no _total (promtool check metrics).
      slabs_(prometheus::BuildGauge()
                 .Name("jobd_arena_slabs")
                 .Help("Slabs the arena has, by size class (its capacity)")
                 .Register(*registry_)),
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
                    .Help("Worker processes that ended and were replaced, by supervisor slot and reason")
                    .Register(*registry_)),
      sessions_(prometheus::BuildGauge().Name("jobd_sessions").Help("Open client sessions").Register(*registry_)),
      dispatched_ahead_(prometheus::BuildGauge()
                            .Name("jobd_jobs_dispatched_ahead")
                            .Help("Jobs given to a busy worker, waiting behind its current job: not started, not "
                                  "counted in jobd_queue_depth")
                            .Register(*registry_)),
      rejections_(prometheus::BuildCounter()
                      .Name("jobd_rejections_total")
                      .Help("Jobs that could not start, by reason")
                      .Register(*registry_)),
      worker_rss_(prometheus::BuildGauge()
                      .Name("jobd_worker_rss_bytes")
                      .Help("Resident memory of the worker process in each supervisor slot")
                      .Register(*registry_)),
      build_info_(prometheus::BuildGauge()
                      .Name("jobd_build_info")
                      .Help("Always 1; the labels say which jobd this is")
                      .Register(*registry_)),
      process_cpu_(prometheus::BuildCounter()
                       .Name("process_cpu_seconds_total")
                       .Help("User and system CPU time spent in seconds")
                       .Register(*registry_)
                       .Add({})),
      process_resident_(prometheus::BuildGauge()
                            .Name("process_resident_memory_bytes")
                            .Help("Resident memory size in bytes")
                            .Register(*registry_)
                            .Add({})),
      process_virtual_(prometheus::BuildGauge()
                           .Name("process_virtual_memory_bytes")
                           .Help("Virtual memory size in bytes")
                           .Register(*registry_)
                           .Add({})),
      process_start_time_(prometheus::BuildGauge()
                              .Name("process_start_time_seconds")
                              .Help("Start time of the process since unix epoch in seconds")
                              .Register(*registry_)
                              .Add({})),
      process_open_fds_(prometheus::BuildGauge()
                            .Name("process_open_fds")
                            .Help("Number of open file descriptors")
                            .Register(*registry_)
                            .Add({})),
      process_max_fds_(prometheus::BuildGauge()
                           .Name("process_max_fds")
                           .Help("Maximum number of open file descriptors")
                           .Register(*registry_)
                           .Add({})) {
  for (const char* state : {"starting", "idle", "busy", "leased", "draining"}) workers_.Add({{"state", state}});
  for (absl::StatusCode code : kRejectionCodes) rejections_.Add({{"reason", ReasonLabel(code)}});
  // Rejected jobs of types never seen share one label (see Rejected).
  jobs_.Add({{"type", "_rejected"}, {"outcome", coordinator::OutcomeName(coordinator::Outcome::kRejected)}});
  build_info_.Add({{"version", JOBD_VERSION}, {"build_type", JOBD_BUILD_TYPE}}).Set(1);
  queue_depth_.Add({});
  queue_oldest_age_.Add({});
  arena_size_.Add({});
  sessions_.Add({});
}

// TypeSeries::jobs is indexed by the outcome itself.
constexpr bool OutcomesInEnumOrder() {
  for (size_t i = 0; i < std::size(kOutcomes); ++i) {
    if (static_cast<size_t>(kOutcomes[i]) != i) return false;
  }
  return std::size(kOutcomes) == AgentMetrics::kOutcomeSeries;
}
static_assert(OutcomesInEnumOrder());

// A family's series live as long as the family (nothing here removes one), so the pointers stay
// good.
AgentMetrics::TypeSeries AgentMetrics::MakeSeries(const std::string& label) {
  TypeSeries s;
  for (size_t i = 0; i < std::size(kOutcomes); ++i) {
    s.jobs[i] = &jobs_.Add({{"type", label}, {"outcome", coordinator::OutcomeName(kOutcomes[i])}});
  }
  s.queue_wait = &queue_wait_.Add({{"type", label}}, LatencyBuckets());
  s.run_time = &run_time_.Add({{"type", label}}, LatencyBuckets());
  return s;
}

AgentMetrics::TypeSeries AgentMetrics::SeriesOf(const std::string& type) {
  absl::MutexLock lock(&mu_);
  if (auto it = types_.find(type); it != types_.end()) return it->second;
  if (types_.size() < kMaxTypes) return types_.emplace(type, MakeSeries(type)).first->second;
  if (!other_.has_value()) other_ = MakeSeries("_other");
  return *other_;
}

void AgentMetrics::JobEnded(const std::string& type, coordinator::Outcome outcome, absl::Duration queue_wait,
                            absl::Duration run_time, bool ran) {
  const TypeSeries s = SeriesOf(type);
  s.jobs[static_cast<size_t>(outcome)]->Increment();
  s.queue_wait->Observe(absl::ToDoubleSeconds(queue_wait));
  if (ran) s.run_time->Observe(absl::ToDoubleSeconds(run_time));
}

void AgentMetrics::Rejected(const std::string& type, absl::StatusCode code) {
  // Rejected types may be anything a client typed: they do not get their own label.
  bool known;
  {
    absl::MutexLock lock(&mu_);
    known = types_.contains(type);
  }
  jobs_.Add({{"type", known ? type : "_rejected"}, {"outcome", "rejected"}}).Increment();
  rejections_.Add({{"reason", ReasonLabel(code)}}).Increment();
}

void AgentMetrics::WorkerRestarted(uint32_t worker, const std::string& reason) {
  restarts_.Add({{"worker", std::to_string(worker)}, {"reason", reason}}).Increment();
}

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
    slabs_.Add(labels).Set(c.total);
    bytes_in_use_.Add(labels).Set(static_cast<double>(c.bytes_in_use));
    uint64_t& last = last_failures_[labels.at("class")];
    auto& counter = acquire_failures_.Add(labels);
    if (c.acquire_failures > last) counter.Increment(static_cast<double>(c.acquire_failures - last));
    last = c.acquire_failures;
  }
}

void AgentMetrics::SetWorkers(const std::map<std::string, int>& by_state) {
  for (const char* state : {"starting", "idle", "busy", "leased", "draining"}) {
    auto it = by_state.find(state);
    workers_.Add({{"state", state}}).Set(it == by_state.end() ? 0 : it->second);
  }
}

void AgentMetrics::SetSessions(size_t sessions) { sessions_.Add({}).Set(static_cast<double>(sessions)); }

void AgentMetrics::SetDispatchedAhead(size_t jobs) { dispatched_ahead_.Add({}).Set(static_cast<double>(jobs)); }

void AgentMetrics::SetWorkerSlots(const std::vector<WorkerSlotSample>& slots) {
  absl::MutexLock lock(&mu_);
  for (const WorkerSlotSample& slot : slots) {
    const std::string worker = std::to_string(slot.index);
    worker_rss_.Add({{"worker", worker}}).Set(static_cast<double>(slot.rss_bytes));
    if (worker_slots_.contains(slot.index)) continue;
    worker_slots_[slot.index] = true;
    for (const char* reason : kRestartReasons) restarts_.Add({{"worker", worker}, {"reason", reason}});
  }
}

void AgentMetrics::SetProcess(const ProcessSample& sample) {
  absl::MutexLock lock(&mu_);
  if (sample.cpu_seconds > last_cpu_seconds_) process_cpu_.Increment(sample.cpu_seconds - last_cpu_seconds_);
  last_cpu_seconds_ = std::max(last_cpu_seconds_, sample.cpu_seconds);
  process_resident_.Set(sample.resident_bytes);
  process_virtual_.Set(sample.virtual_bytes);
  process_start_time_.Set(sample.start_time_seconds);
  process_open_fds_.Set(sample.open_fds);
  process_max_fds_.Set(sample.max_fds);
}

std::string AgentMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace jobd::agent
