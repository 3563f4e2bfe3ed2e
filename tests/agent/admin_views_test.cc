// The admin views over real parts (a coordinator, a supervisor with a fake launcher, the
// segment ledger, the registry): no process is forked and no socket opened.
#include "agent/admin_views.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/job_id.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_process_launcher.h"
#include "tests/fakes/fake_slab_ledger.h"

namespace jobd::agent {
namespace {

using ::testing::HasSubstr;

constexpr coordinator::SessionId kSession = 2;
constexpr coordinator::WorkerId kWorker = 3;

class AdminViewsTest : public ::testing::Test {
 protected:
  AdminViewsTest() {
    config_.workers = 2;
    config_.memory_budget = 64 << 20;
    shape_.classes = *shm::ParseSizeClasses("4K:8,64K:2");
    shape_.ring_capacity = 4096;
    coordinator_.Reset(std::make_unique<coordinator::Coordinator>(coordinator::CoordinatorOptions{}, clock_, slabs_));
    SupervisorOptions o;
    o.workers = config_.workers;
    o.argv = {"/bin/worker"};
    supervisor_ = std::make_unique<Supervisor>(o, launcher_, clock_);
    started_ = clock_.Now();
    views_ = std::make_unique<AdminViews>(AdminViews::Sources{.config = &config_,
                                                              .clock = &clock_,
                                                              .coordinator = &coordinator_,
                                                              .ledger = &ledger_,
                                                              .session_shape = &shape_,
                                                              .supervisor = supervisor_.get(),
                                                              .peers = &peers_,
                                                              .metrics = &metrics_,
                                                              .draining = &draining_,
                                                              .started_at = started_});
  }

  // Slot 0's worker connects as kWorker and joins the coordinator's pool.
  void ConnectWorker() {
    supervisor_->StartAll();
    const pid_t pid = launcher_.launches[0].pid;
    ASSERT_TRUE(supervisor_->Connect(launcher_.EnvOf(pid, "JOBD_WORKER_TOKEN"), pid, kWorker).ok());
    coordinator_.With([](coordinator::Coordinator& c) { ASSERT_TRUE(c.AddWorker(kWorker, {"echo"}).ok()); });
  }

  // A session of `name` with a segment in the ledger and `jobs` jobs of type "echo" submitted:
  // the one worker (when connected) runs the first, the rest queue.
  void OpenSessionWithQueuedJobs(const std::string& name, int jobs) {
    auto conn = std::make_shared<SessionConn>(nullptr, nullptr);
    conn->id = kSession;
    conn->name = name;
    conn->cred = {.pid = 77, .uid = 1000, .gid = 1001};
    peers_.AddSession(conn);
    auto segment = shm::Segment::Create("admin-views-test", shape_);
    ASSERT_TRUE(segment.ok()) << segment.status();
    ledger_.Add(kSession, std::move(*segment));
    coordinator_.With([&](coordinator::Coordinator& c) {
      c.OpenSession(kSession);
      for (int i = 1; i <= jobs; ++i) {
        coordinator::JobRequest r;
        r.id = MakeJobId(kSession, i);
        r.session = kSession;
        r.type = "echo";
        r.request = {slabs_.Allocate(kSession), 10};
        absl::Status submitted = c.Submit(std::move(r)).status();
        ASSERT_TRUE(submitted.ok()) << submitted;
      }
    });
  }

  AgentConfig config_;
  shm::SegmentShape shape_;
  testing::FakeClock clock_;
  testing::FakeSlabLedger slabs_;
  testing::FakeProcessLauncher launcher_;
  SharedCoordinator coordinator_;
  SegmentLedger ledger_;
  std::unique_ptr<Supervisor> supervisor_;
  PeerRegistry peers_;
  AgentMetrics metrics_;
  std::atomic<bool> draining_{false};
  absl::Time started_;
  std::unique_ptr<AdminViews> views_;
};

TEST_F(AdminViewsTest, HealthServesOnceAWorkerIsReadyAndStopsWhenDraining) {
  v1::HealthReply h = views_->Health();
  EXPECT_FALSE(h.serving());
  EXPECT_EQ(h.workers_configured(), 2u);
  EXPECT_EQ(h.workers_ready(), 0u);
  EXPECT_FALSE(h.version().empty());
  ConnectWorker();
  h = views_->Health();
  EXPECT_TRUE(h.serving());
  EXPECT_EQ(h.workers_ready(), 1u);
  draining_.store(true);
  h = views_->Health();
  EXPECT_FALSE(h.serving());
  EXPECT_TRUE(h.draining());
}

TEST_F(AdminViewsTest, AWorkerThatSaidHelloIsNotReadyUntilItIsInThePool) {
  supervisor_->StartAll();
  const pid_t pid = launcher_.launches[0].pid;
  ASSERT_TRUE(supervisor_->Connect(launcher_.EnvOf(pid, "JOBD_WORKER_TOKEN"), pid, kWorker).ok());
  // Its segment is not attached yet, so no job can be dispatched to it.
  v1::HealthReply h = views_->Health();
  EXPECT_EQ(h.workers_ready(), 0u);
  EXPECT_FALSE(h.serving());
  coordinator_.With([](coordinator::Coordinator& c) { ASSERT_TRUE(c.AddWorker(kWorker, {"echo"}).ok()); });
  h = views_->Health();
  EXPECT_EQ(h.workers_ready(), 1u);
  EXPECT_TRUE(h.serving());
  // Draining (retired, recycled): no longer counted.
  coordinator_.With([](coordinator::Coordinator& c) { (void)c.RetireWorker(kWorker, coordinator::KillReason::kRecycle); });
  EXPECT_EQ(views_->Health().workers_ready(), 0u);
}

TEST_F(AdminViewsTest, SlabOccupancyListsEveryClassAtZeroBeforeTheFirstSession) {
  const std::vector<shm::ClassOccupancy> occupancy = views_->SlabOccupancy();
  ASSERT_EQ(occupancy.size(), 2u);
  EXPECT_EQ(occupancy[0].slab_size, 4096u);
  EXPECT_EQ(occupancy[1].slab_size, 65536u);
  for (const auto& c : occupancy) EXPECT_EQ(c.in_use, 0u);
}

TEST_F(AdminViewsTest, StatsShowTheQueueTheSessionsAndTheWorkers) {
  ConnectWorker();
  OpenSessionWithQueuedJobs("resizer", 4);
  clock_.Advance(absl::Seconds(90));
  const v1::StatsReply s = views_->Stats();
  EXPECT_EQ(s.queue_depth(), 3u);
  EXPECT_EQ(s.live_jobs(), 4u);
  EXPECT_EQ(s.sessions(), 1u);
  EXPECT_EQ(s.uptime_s(), 90u);
  EXPECT_DOUBLE_EQ(s.oldest_queued_age_s(), 90.0);
  ASSERT_EQ(s.types_size(), 1);
  EXPECT_EQ(s.types(0).type(), "echo");
  EXPECT_EQ(s.types(0).submitted(), 4u);
  EXPECT_EQ(s.types(0).queued(), 3u);
  ASSERT_EQ(s.workers_size(), 2);
  EXPECT_EQ(s.workers(0).state(), "busy");  // connected, running the first job
  EXPECT_EQ(s.workers(0).job_id(), MakeJobId(kSession, 1));
  EXPECT_EQ(s.workers(1).state(), "starting");  // launched, never connected
  ASSERT_EQ(s.session_list_size(), 1);
  EXPECT_EQ(s.session_list(0).id(), kSession);
  EXPECT_EQ(s.session_list(0).name(), "resizer");
  EXPECT_EQ(s.session_list(0).uid(), 1000u);
  EXPECT_EQ(s.session_list(0).live_jobs(), 4u);
  EXPECT_EQ(s.memory_budget(), 64u << 20);
  EXPECT_GT(s.arena_bytes(), 0u);
  ASSERT_EQ(s.slabs_size(), 2);
  EXPECT_EQ(s.slabs(0).total(), 8u);
}

TEST_F(AdminViewsTest, AClosedSessionWhoseJobsRunOnIsNamedSo) {
  OpenSessionWithQueuedJobs("gone", 1);
  peers_.RemoveSession(kSession);
  const v1::StatsReply s = views_->Stats();
  ASSERT_EQ(s.session_list_size(), 1);
  EXPECT_EQ(s.session_list(0).name(), "(closed; its jobs run on)");
}

TEST_F(AdminViewsTest, JobStatusKnowsQueuedJobsAndSaysWhenItDoesNot) {
  OpenSessionWithQueuedJobs("s", 1);
  absl::StatusOr<v1::JobStatusReply> st = views_->JobStatus(MakeJobId(kSession, 1));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->type(), "echo");
  EXPECT_EQ(st->state(), "queued");
  EXPECT_TRUE(st->outcome().empty());
  EXPECT_EQ(views_->JobStatus(MakeJobId(kSession, 99)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AdminViewsTest, MetricsTextCarriesTheQueueTheSlabClassesAndTheWorkers) {
  OpenSessionWithQueuedJobs("s", 2);
  const std::string text = views_->MetricsText();
  EXPECT_THAT(text, HasSubstr("jobd_queue_depth 2"));
  EXPECT_THAT(text, HasSubstr("jobd_workers{state=\"starting\"} 2"));  // from the supervisor
  EXPECT_THAT(text, HasSubstr("jobd_arena_slabs{"));
  EXPECT_THAT(text, HasSubstr("jobd_sessions 1"));
}

}  // namespace
}  // namespace jobd::agent
