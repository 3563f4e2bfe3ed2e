// Shared fixture for coordinator tests: a fake clock, a fake ledger, and helpers to build
// requests whose slabs are held by their session and to prove that a refused event changed
// nothing.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_slab_ledger.h"

namespace jobd::coordinator {

inline constexpr SessionId kS = 10, kS2 = 11;
inline constexpr WorkerId kW1 = 20, kW2 = 21, kW3 = 22;

// Everything a refused event must leave as it was.
struct World {
  std::vector<std::pair<shm::Handle, shm::OwnerId>> slabs;
  size_t queue_depth = 0;
  size_t live_jobs = 0;
  std::vector<std::pair<WorkerId, WorkerState>> workers;
  std::vector<JobId> worker_jobs;
  bool operator==(const World&) const = default;
};

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({}); }
  void Make(CoordinatorOptions o) {
    c_ = std::make_unique<Coordinator>(o, clock_, ledger_);
    c_->OpenSession(kS);
    c_->OpenSession(kS2);
  }
  JobRequest Req(JobId id, std::string type = "echo", SessionId s = kS, absl::Duration timeout = absl::Seconds(10)) {
    JobRequest r;
    r.id = id;
    r.session = s;
    r.type = std::move(type);
    r.request = {ledger_.Allocate(s), 100};
    r.timeout = timeout;
    return r;
  }
  JobRequest Req(JobId id, Policy policy) {
    JobRequest r = Req(id);
    r.policy = policy;
    return r;
  }
  Effects Submit(JobRequest r) {
    auto fx = c_->Submit(std::move(r));
    EXPECT_TRUE(fx.ok()) << fx.status();
    return fx.ok() ? std::move(*fx) : Effects();
  }
  Effects AddWorker(WorkerId w, std::vector<std::string> types = {"echo", "sleep"}) {
    auto fx = c_->AddWorker(w, std::move(types));
    EXPECT_TRUE(fx.ok()) << fx.status();
    return fx.ok() ? std::move(*fx) : Effects();
  }
  // The worker answers with a fresh response slab of its own.
  Effects Finish(WorkerId w, JobId id, uint64_t size = 8) {
    auto fx = c_->JobFinished(w, id, SlabRef{ledger_.Allocate(w), size});
    EXPECT_TRUE(fx.ok()) << fx.status();
    return fx.ok() ? std::move(*fx) : Effects();
  }
  Effects Fail(WorkerId w, JobId id, absl::Status error = absl::InternalError("boom")) {
    auto fx = c_->JobFinished(w, id, std::move(error));
    EXPECT_TRUE(fx.ok()) << fx.status();
    return fx.ok() ? std::move(*fx) : Effects();
  }
  World Snapshot() const {
    World w;
    w.slabs = ledger_.LiveSlabList();
    w.queue_depth = c_->QueueDepth();
    w.live_jobs = c_->LiveJobs();
    for (const WorkerInfo& info : c_->Workers()) {
      w.workers.push_back({info.id, info.state});
      w.worker_jobs.push_back(info.job);
    }
    return w;
  }
  WorkerInfo WorkerNamed(WorkerId id) const {
    for (const WorkerInfo& w : c_->Workers()) {
      if (w.id == id) return w;
    }
    ADD_FAILURE() << "no worker " << id;
    return {};
  }
  static std::vector<JobId> DispatchedIds(const Effects& fx) {
    std::vector<JobId> ids;
    for (const auto& d : fx.dispatches) ids.push_back(d.id);
    return ids;
  }
  static std::vector<WorkerId> KilledWorkers(const Effects& fx) {
    std::vector<WorkerId> ids;
    for (const auto& k : fx.kills) ids.push_back(k.worker);
    return ids;
  }
  // The single completion in `fx` (a test failure if there is not exactly one).
  static Completion OnlyCompletion(const Effects& fx) {
    EXPECT_EQ(fx.completions.size(), 1u);
    return fx.completions.empty() ? Completion{} : fx.completions[0];
  }
  static std::string Message(const absl::Status& s) { return std::string(s.message()); }

  testing::FakeClock clock_;
  testing::FakeSlabLedger ledger_;
  std::unique_ptr<Coordinator> c_;
};

}  // namespace jobd::coordinator
