// Shared fixture for coordinator tests: a fake clock, a fake ledger, and helpers to build
// requests whose slabs are held by their session.
#pragma once

#include "coordinator/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_slab_ledger.h"

namespace jobd::coordinator {

inline constexpr SessionId kS = 10, kS2 = 11;
inline constexpr WorkerId kW1 = 20, kW2 = 21, kW3 = 22;

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
  static std::vector<JobId> DispatchedIds(const Effects& fx) {
    std::vector<JobId> ids;
    for (const auto& d : fx.dispatches) ids.push_back(d.id);
    return ids;
  }

  testing::FakeClock clock_;
  testing::FakeSlabLedger ledger_;
  std::unique_ptr<Coordinator> c_;
};

}  // namespace jobd::coordinator
